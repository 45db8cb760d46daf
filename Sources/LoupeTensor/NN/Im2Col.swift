/// Geometry shared by convolution, its gradients and transposed convolution: an image of
/// `channels x height x width` read by a `kh x kw` kernel at `outHeight x outWidth` positions.
struct ConvGeometry {
    var height: Int, width: Int
    var kh: Int, kw: Int
    var strideH: Int, strideW: Int
    var padTop: Int, padLeft: Int
    var dilationH: Int, dilationW: Int
    var outHeight: Int, outWidth: Int

    var kernelArea: Int { kh * kw }
    var outArea: Int { outHeight * outWidth }
    var imageArea: Int { height * width }

    /// A 1x1, stride-1, unpadded kernel: the image itself is its column matrix.
    var isPointwise: Bool {
        kh == 1 && kw == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0
            && outHeight == height && outWidth == width
    }

    /// Writes rows `columnRows` of the column matrix of one image (`image` points at the first
    /// of its channels, `[channels, height, width]`), restricted to output rows `outRows`, into
    /// `col` (`[columnRows.count, outRows.count * outWidth]`), zero where the kernel reads
    /// padding. Column row `r` is channel `r / (kh kw)` at kernel offset `r % (kh kw)`.
    /// `lineStride` is the distance between column rows in `col` (wider than one image's
    /// band when several images' column matrices sit side by side).
    func im2col(_ image: UnsafePointer<Float>, columnRows: Range<Int>, outRows: Range<Int>,
                into col: UnsafeMutablePointer<Float>, lineStride: Int? = nil) {
        let rowLength = lineStride ?? outRows.count * outWidth
        if isRowContiguous {
            im2colRowContiguous(image, columnRows: columnRows, outRows: outRows, into: col, lineStride: rowLength)
            return
        }
        for row in columnRows {
            let c = row / kernelArea, ki = (row % kernelArea) / kw, kj = row % kw
            let plane = image + c * imageArea
            let x0 = kj * dilationW - padLeft
            let (lo, hi) = NN.validRange(count: outWidth, stride: strideW, offset: x0, size: width)
            var line = col + (row - columnRows.lowerBound) * rowLength
            for oy in outRows {
                let y = oy * strideH - padTop + ki * dilationH
                if y < 0 || y >= height {
                    ConvRows.zero(line, outWidth)
                } else {
                    if lo > 0 { ConvRows.zero(line, lo) }
                    let src = plane + y * width + x0
                    switch strideW {
                    case 1: ConvRows.copy(src + lo, to: line + lo, hi - lo)
                    case 2: ConvRows.copyEven(src, width: width - x0, to: line, lo, hi)
                    default: for ox in lo..<hi { line[ox] = src[ox * strideW] }
                    }
                    if hi < outWidth { ConvRows.zero(line + hi, outWidth - hi) }
                }
                line += outWidth
            }
        }
    }

    /// Stride 1 along both axes and as wide as the image ("same" padding along the width): a
    /// column row's output rows read consecutive image rows at one horizontal offset, so the
    /// whole band is one contiguous run of the image, shifted.
    var isRowContiguous: Bool { strideH == 1 && strideW == 1 && outWidth == width }

    /// `im2col` for `isRowContiguous` geometries: per column row, one bulk copy of the valid
    /// image rows (small images have rows too short for per-row copies to pay), then zeros where
    /// the kernel reads the left and right padding (the bulk copy put the neighbouring row's end
    /// there) and on the rows above and below the image. Each kernel offset's runs are worked
    /// out once per call (`ShiftedRun`), not once per column row.
    func im2colRowContiguous(_ image: UnsafePointer<Float>, columnRows: Range<Int>, outRows: Range<Int>,
                             into col: UnsafeMutablePointer<Float>, lineStride rowLength: Int) {
        let bandLength = outRows.count * outWidth
        withShiftedRuns(outRows: outRows) { runs in
            var c = columnRows.lowerBound / kernelArea, t = columnRows.lowerBound % kernelArea
            var line = col
            for _ in columnRows {
                let run = runs[t], plane = image + c * imageArea
                ConvRows.zero(line, run.first * outWidth)
                ConvRows.zero(line + run.last * outWidth, bandLength - run.last * outWidth)
                if run.copyCount > 0 { ConvRows.copy(plane + run.copyFrom, to: line + run.copyTo, run.copyCount) }
                if run.lo > 0 || run.hi < outWidth {
                    for oy in run.first..<run.last {
                        let out = line + oy * outWidth
                        ConvRows.zero(out, run.lo)
                        ConvRows.zero(out + run.hi, outWidth - run.hi)
                    }
                }
                line += rowLength
                t += 1
                if t == kernelArea { t = 0; c += 1 }
            }
        }
    }

    /// Calls `body` with the `ShiftedRun` of every kernel offset for output rows `outRows`.
    @inline(__always)
    func withShiftedRuns(outRows: Range<Int>, _ body: (UnsafeMutableBufferPointer<ShiftedRun>) -> Void) {
        withUnsafeTemporaryAllocation(of: ShiftedRun.self, capacity: kernelArea) { runs in
            for t in 0..<kernelArea { runs.initializeElement(at: t, to: shiftedRun(offset: t, outRows: outRows)) }
            body(runs)
        }
    }

    /// Where the column row of kernel offset `t` (any channel) reads its image for output rows
    /// `outRows` of a row-contiguous geometry.
    func shiftedRun(offset t: Int, outRows: Range<Int>) -> ShiftedRun {
        let ki = t / kw, kj = t % kw
        let x0 = kj * dilationW - padLeft
        let (validLo, validHi) = NN.validRange(count: outWidth, stride: 1, offset: x0, size: width)
        let lo = Swift.min(validLo, outWidth), hi = Swift.min(Swift.max(validHi, lo), outWidth)
        // Output rows oy read image row oy - padTop + ki * dilationH.
        let shift = ki * dilationH - padTop
        let first = Swift.min(Swift.max(outRows.lowerBound, -shift), outRows.upperBound)
        let last = Swift.max(Swift.min(outRows.upperBound, height - shift), first)
        var copyTo = (first - outRows.lowerBound) * outWidth
        var copyFrom = (first + shift) * width + x0
        var copyCount = (last - first) * width
        // Clip the run to the plane: what falls outside it is padding, zeroed by im2col.
        if copyFrom < 0 { copyTo += -copyFrom; copyCount += copyFrom; copyFrom = 0 }
        if copyFrom + copyCount > imageArea { copyCount = imageArea - copyFrom }
        // col2im's run starts at the first valid position of the band's first row and ends at
        // the last valid one of its last row.
        let adds = first < last && lo < hi
        return ShiftedRun(first: first - outRows.lowerBound, last: last - outRows.lowerBound, lo: lo, hi: hi,
                          copyTo: copyTo, copyFrom: copyFrom, copyCount: Swift.max(copyCount, 0),
                          addFrom: (first - outRows.lowerBound) * outWidth + lo,
                          addTo: (first + shift) * width + x0 + lo,
                          addCount: adds ? (last - first - 1) * width + hi - lo : 0)
    }

    /// Adds the column matrix `col` (`[channels * kh * kw, outRows.count * outWidth]`) of output
    /// rows `outRows` back into the image channels at `image` (the adjoint of `im2col`). `col` is
    /// scratch: for `isRowContiguous` geometries its padding positions are zeroed and each column
    /// row is added back as one shifted run.
    func col2im(_ col: UnsafeMutablePointer<Float>, channels: Int, outRows: Range<Int>,
                into image: UnsafeMutablePointer<Float>) {
        let rowLength = outRows.count * outWidth
        if isRowContiguous {
            withShiftedRuns(outRows: outRows) { runs in
                var c = 0, t = 0
                var line = col
                for _ in 0..<(channels * kernelArea) {
                    let run = runs[t], plane = image + c * imageArea
                    if run.addCount > 0 {
                        if run.lo > 0 || run.hi < outWidth {
                            for oy in run.first..<run.last {
                                let out = line + oy * outWidth
                                ConvRows.zero(out, run.lo)
                                ConvRows.zero(out + run.hi, outWidth - run.hi)
                            }
                        }
                        // The run starts at the first valid position of the band's first row
                        // and ends at the last valid one of its last row: the padding positions
                        // before and after it would land on pixels of the neighbouring bands,
                        // which other workers are adding to at the same time (adding their
                        // zero could undo those additions).
                        ConvRows.add(UnsafePointer(line + run.addFrom), to: plane + run.addTo, run.addCount)
                    }
                    line += rowLength
                    t += 1
                    if t == kernelArea { t = 0; c += 1 }
                }
            }
            return
        }
        for row in 0..<(channels * kernelArea) {
            let c = row / kernelArea, ki = (row % kernelArea) / kw, kj = row % kw
            let plane = image + c * imageArea
            let x0 = kj * dilationW - padLeft
            let (lo, hi) = NN.validRange(count: outWidth, stride: strideW, offset: x0, size: width)
            if hi <= lo { continue }
            var line = col + row * rowLength
            for oy in outRows {
                let y = oy * strideH - padTop + ki * dilationH
                if y >= 0 && y < height {
                    let dst = plane + y * width + x0
                    if strideW == 1 {
                        ConvRows.add(line + lo, to: dst + lo, hi - lo)
                    } else {
                        for ox in lo..<hi { dst[ox * strideW] += line[ox] }
                    }
                }
                line += outWidth
            }
        }
    }
}

/// One kernel offset's column row in a band of output rows of a row-contiguous geometry (the
/// same for every channel), in elements: `first..<last` are the band's rows (from 0) that read
/// the image, `lo..<hi` the valid output columns; im2col copies `copyCount` elements from
/// `copyFrom` in the plane to `copyTo` in the column row; col2im adds `addCount` elements from
/// `addFrom` in the column row to `addTo` in the plane.
struct ShiftedRun {
    var first: Int, last: Int
    var lo: Int, hi: Int
    var copyTo: Int, copyFrom: Int, copyCount: Int
    var addFrom: Int, addTo: Int, addCount: Int
}

/// Vectorised row kernels of im2col and col2im (eight lanes, unaligned loads).
enum ConvRows {
    /// Runs are short on small maps (a padding column is one element): the last partial
    /// vector is one overlapping store, or pieces of 4, 2 and 1 below 8 elements, rather than a
    /// scalar loop (which the compiler turns into a call to memset or memmove).
    @inline(__always)
    static func zero(_ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if n >= 8 {
            var j = 0
            while j + 8 <= n {
                RowKernels.store8(SIMD8(repeating: 0), p + j)
                j += 8
            }
            if j < n { RowKernels.store8(SIMD8(repeating: 0), p + n - 8) }
            return
        }
        var j = 0
        if n & 4 != 0 { UnsafeMutableRawPointer(p).storeBytes(of: SIMD4<Float>(repeating: 0), as: SIMD4<Float>.self); j = 4 }
        if n & 2 != 0 { UnsafeMutableRawPointer(p + j).storeBytes(of: SIMD2<Float>(repeating: 0), as: SIMD2<Float>.self); j += 2 }
        if n & 1 != 0 { p[j] = 0 }
    }

    /// `dst[j] = src[j]` for `j < n` (the runs must not overlap), tails as in `zero`.
    @inline(__always)
    static func copy(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, _ n: Int) {
        if n >= 8 {
            var j = 0
            while j + 8 <= n {
                RowKernels.store8(RowKernels.load8(src + j), dst + j)
                j += 8
            }
            if j < n { RowKernels.store8(RowKernels.load8(src + n - 8), dst + n - 8) }
            return
        }
        var j = 0
        if n & 4 != 0 {
            UnsafeMutableRawPointer(dst).storeBytes(of: UnsafeRawPointer(src).loadUnaligned(as: SIMD4<Float>.self),
                                                    as: SIMD4<Float>.self)
            j = 4
        }
        if n & 2 != 0 {
            UnsafeMutableRawPointer(dst + j).storeBytes(of: UnsafeRawPointer(src + j).loadUnaligned(as: SIMD2<Float>.self),
                                                        as: SIMD2<Float>.self)
            j += 2
        }
        if n & 1 != 0 { dst[j] = src[j] }
    }

    /// `dst[j] += src[j]` for `j < n`.
    @inline(__always)
    static func add(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, _ n: Int) {
        var j = 0
        while j + 8 <= n {
            RowKernels.store8(RowKernels.load8(dst + j) + RowKernels.load8(src + j), dst + j)
            j += 8
        }
        while j < n {
            dst[j] += src[j]
            j += 1
        }
    }

    /// `dst[ox] = src[2 ox]` for `ox` in `lo..<hi`, where `src` has `available` readable
    /// elements from its start (16-lane loads never read past them).
    @inline(__always)
    static func copyEven(_ src: UnsafePointer<Float>, width available: Int, to dst: UnsafeMutablePointer<Float>,
                         _ lo: Int, _ hi: Int) {
        var ox = lo
        while ox + 8 <= hi && 2 * ox + 16 <= available {
            let v = UnsafeRawPointer(src + 2 * ox).loadUnaligned(as: SIMD16<Float>.self)
            RowKernels.store8(v.evenHalf, dst + ox)
            ox += 8
        }
        while ox < hi {
            dst[ox] = src[2 * ox]
            ox += 1
        }
    }
}

extension NN {
    /// Adds `bias[c]` to every element of channel `c` of `[batch, channels, area]`.
    static func addChannelBias(_ bias: UnsafePointer<Float>, batch: Int, channels: Int, area: Int,
                               to dst: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(batch * channels, minimum: Swift.max(1, Parallel.minimumParallelCount / Swift.max(area, 1))) { start, end in
            for plane in start..<end {
                let p = dst + plane * area, b = bias[plane % channels]
                for i in 0..<area { p[i] += b }
            }
        }
    }

    /// Sums `[batch, channels, area]` over batch and area into `[channels]` (per channel: each
    /// image's Float sum, added in image order; channels are split over the cores).
    static func channelSums(_ src: UnsafePointer<Float>, batch: Int, channels: Int, area: Int) -> Tensor {
        let result = zeroTensor([channels])
        let p = base(result)
        Parallel.forRanges(channels, minimum: Swift.max(1, Parallel.minimumParallelCount / Swift.max(batch * area, 1))) { start, end in
            for c in start..<end {
                for n in 0..<batch {
                    let s = src + (n * channels + c) * area
                    var acc: Float = 0
                    for i in 0..<area { acc += s[i] }
                    p[c] += acc
                }
            }
        }
        return result
    }
}
