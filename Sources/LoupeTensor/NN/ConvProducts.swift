import Synchronization

/// The three matrix products of a grouped convolution, computed block by block: a block is a
/// band of output rows of one image and one group, whose column matrix (`im2col`) is about
/// `tuning.columnBudget` bytes so it stays in cache between being written and read by sgemm. Blocks
/// are spread over `Parallel` workers, each with its own column buffer and single-threaded
/// sgemm; nothing is allocated per block.
///
/// Layouts (all contiguous): images `[batch, groups * channels, height, width]`, weights
/// `[groups * outputs, channels * kh * kw]`, outputs `[batch, groups * outputs, outArea]`.
/// The weight gradient (a sum over the batch) puts images with small output maps side by side,
/// several to a block (`imageBlockCount`); the forward product and the input gradient keep one
/// image per block, so an image gives bit-identical results alone and inside a batch. Every
/// result is independent of how blocks are scheduled, so runs are reproducible.
struct ConvProducts {
    var geometry: ConvGeometry
    var batch: Int
    var groups: Int
    /// Image channels per group.
    var channels: Int
    /// Weight rows (output channels) per group.
    var outputs: Int
    var tuning = ConvTuning.standard

    /// Column rows per group (`channels * kh * kw`), the inner dimension of the products.
    var kernelRows: Int { channels * geometry.kernelArea }

    private var work: Int { batch * groups * outputs * kernelRows * geometry.outArea }

    /// Number of row bands per image for column matrices of `columnRows` rows, each band at
    /// least `minimumRows` tall, rounded so that one image's blocks divide evenly among the
    /// workers. It depends on one image's shape only, not on the batch size, so an image gives
    /// bit-identical results alone and inside a batch (sgemm's rounding depends on its size).
    func bandCount(columnRows: Int, minimumRows: Int = 1) -> Int {
        let ho = geometry.outHeight
        let maxBands = max(1, ho / max(1, minimumRows))
        if work / max(1, batch) < tuning.parallelMinimum { return 1 }
        let rowBytes = max(1, columnRows * geometry.outWidth * MemoryLayout<Float>.stride)
        let rows = max(1, tuning.columnBudget / rowBytes)
        var bands = min(maxBands, (ho + rows - 1) / rows)
        let workers = Parallel.workers
        while (groups * bands) % workers != 0 && bands < maxBands { bands += 1 }
        return bands
    }

    /// Output rows of band `b` of `bands` (near-equal split).
    @inline(__always)
    func rows(band b: Int, of bands: Int) -> Range<Int> {
        (b * geometry.outHeight / bands)..<((b + 1) * geometry.outHeight / bands)
    }

    /// `out[i, g] = weight[g] @ columns(image[i, g])` plus `bias` per output channel: the
    /// forward convolution (and the input gradient of a transposed convolution).
    func forward(_ image: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                 into out: UnsafeMutablePointer<Float>) {
        let g = geometry, kk = kernelRows, l = g.outArea, m = outputs, direct = g.isPointwise
        let bands = bandCount(columnRows: kk)
        let scratch = direct ? 0 : kk * (g.outHeight / bands + 1) * g.outWidth
        Self.run(items: batch * groups * bands, scratch: scratch, parallel: work >= tuning.parallelMinimum) { item, col in
            let band = item % bands, ig = item / bands, group = ig % groups
            let rows = self.rows(band: band, of: bands)
            let p0 = rows.lowerBound * g.outWidth, cols = rows.count * g.outWidth
            let src = image + ig * channels * g.imageArea
            let columns: UnsafePointer<Float>, ldb: Int
            if direct {
                columns = src + p0
                ldb = l
            } else {
                g.im2col(src, columnRows: 0..<kk, outRows: rows, into: col)
                columns = UnsafePointer(col)
                ldb = cols
            }
            let dst = out + ig * m * l + p0
            NN.sgemm(m: m, n: cols, k: kk, a: weight + group * m * kk, lda: kk, b: columns, ldb: ldb, c: dst, ldc: l)
            if let bias {
                for r in 0..<m {
                    let b = bias[group * m + r], line = dst + r * l
                    for j in 0..<cols { line[j] += b }
                }
            }
        }
    }

    /// `gw[g] += sum over images of grad[i, g] @ columns(image[i, g])^T`: the weight gradient
    /// of a convolution (`grad` is the output gradient `[batch, groups * outputs, outArea]`).
    /// Workers split the column rows, so each owns a slice of `gw` and no sums race.
    func weightGradient(_ grad: UnsafePointer<Float>, image: UnsafePointer<Float>,
                        into gw: UnsafeMutablePointer<Float>) {
        let g = geometry, kk = kernelRows, l = g.outArea, m = outputs, direct = g.isPointwise
        let parallel = work >= tuning.parallelMinimum && BLASThreads.canScope
        let workers = parallel ? max(1, min(Parallel.workers, kk / 16)) : 1
        let sliceRows = (kk + workers - 1) / workers
        let bands = bandCount(columnRows: sliceRows)
        let blocks = imageBlockCount(columnRows: sliceRows)
        let blockWidth = blocks > 0 ? (batch + blocks - 1) / blocks * l : 0
        let scratch = blocks > 0 ? (sliceRows + m) * blockWidth
            : direct ? 0 : sliceRows * (g.outHeight / bands + 1) * g.outWidth
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratch * workers))
        defer { buffer.deallocate() }
        let slice = { (w: Int) in
            let k0 = w * kk / workers, k1 = (w + 1) * kk / workers
            let col = buffer + w * scratch
            if blocks > 0 {
                // Several images side by side: the gradient rows gathered next to their columns.
                let gathered = col + sliceRows * blockWidth
                for group in 0..<self.groups {
                    for block in 0..<blocks {
                        let images = self.images(block: block, of: blocks), n = images.count * l
                        self.gather(grad, images: images, group: group, into: gathered)
                        for (j, i) in images.enumerated() {
                            g.im2col(image + (i * self.groups + group) * self.channels * g.imageArea,
                                     columnRows: k0..<k1, outRows: 0..<g.outHeight, into: col + j * l, lineStride: n)
                        }
                        NN.sgemm(transB: true, m: m, n: k1 - k0, k: n, a: gathered, lda: n, b: col, ldb: n,
                                 beta: 1, c: gw + group * m * kk + k0, ldc: kk)
                    }
                }
                return
            }
            for ig in 0..<(self.batch * self.groups) {
                let group = ig % self.groups
                let src = image + ig * self.channels * g.imageArea
                for band in 0..<bands {
                    let rows = self.rows(band: band, of: bands)
                    let p0 = rows.lowerBound * g.outWidth, cols = rows.count * g.outWidth
                    let columns: UnsafePointer<Float>, ldb: Int
                    if direct {
                        columns = src + k0 * l + p0
                        ldb = l
                    } else {
                        g.im2col(src, columnRows: k0..<k1, outRows: rows, into: col)
                        columns = UnsafePointer(col)
                        ldb = cols
                    }
                    NN.sgemm(transB: true, m: m, n: k1 - k0, k: cols, a: grad + ig * m * l + p0, lda: l,
                             b: columns, ldb: ldb, beta: 1, c: gw + group * m * kk + k0, ldc: kk)
                }
            }
        }
        if workers == 1 {
            slice(0)
        } else {
            BLASThreads.singleThreaded { Parallel.forEach(workers) { slice($0) } }
        }
    }

    /// `image[i, g] += col2im(weight[g]^T @ grad[i, g])`: the input gradient of a convolution
    /// (and the forward transposed convolution). `image` must be zero-filled (or hold values
    /// to add to). Bands whose input rows overlap run in two phases, even bands then odd.
    func dataGradient(_ grad: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                      into image: UnsafeMutablePointer<Float>) {
        let g = geometry, kk = kernelRows, l = g.outArea, m = outputs, direct = g.isPointwise
        let overlap = g.dilationH * (g.kh - 1) >= g.strideH
        // Bands b and b + 2 read disjoint input rows when a band is at least this tall.
        let minimumRows = overlap ? max(1, (g.dilationH * (g.kh - 1) + g.strideH) / g.strideH - 1) : 1
        let bands = bandCount(columnRows: kk, minimumRows: minimumRows)
        let phases = overlap && bands > 1 && !direct ? 2 : 1
        let scratch = direct ? 0 : kk * (g.outHeight / bands + 1) * g.outWidth
        let parallel = work >= tuning.parallelMinimum
        for phase in 0..<phases {
            let perImage = (bands - phase + phases - 1) / phases
            Self.run(items: batch * groups * perImage, scratch: scratch, parallel: parallel) { item, col in
                let band = (item % perImage) * phases + phase, ig = item / perImage, group = ig % groups
                let rows = self.rows(band: band, of: bands)
                let p0 = rows.lowerBound * g.outWidth, cols = rows.count * g.outWidth
                let a = weight + group * m * kk, b = grad + ig * m * l + p0
                let dst = image + ig * self.channels * g.imageArea
                if direct {
                    NN.sgemm(transA: true, m: kk, n: cols, k: m, a: a, lda: kk, b: b, ldb: l, beta: 1,
                             c: dst + p0, ldc: l)
                } else {
                    NN.sgemm(transA: true, m: kk, n: cols, k: m, a: a, lda: kk, b: b, ldb: l, c: col, ldc: cols)
                    g.col2im(col, channels: self.channels, outRows: rows, into: dst)
                }
            }
        }
    }

    /// Number of blocks the batch is cut into when several images share one weight-gradient
    /// product, or 0 when each image is cut into bands of its own. A small output map gives sgemm
    /// a short inner dimension per image (16 on a 4x4 map), so images are put side by side, up
    /// to `tuning.blockColumns` columns and `tuning.columnBudget` bytes of column matrix
    /// (`columnRows` rows) per block. It depends on the shapes only.
    func imageBlockCount(columnRows: Int) -> Int {
        let l = geometry.outArea
        guard batch > 1, l < tuning.blockColumns else { return 0 }
        let perImage = max(1, columnRows * l * MemoryLayout<Float>.stride)
        let images = min(batch, tuning.columnBudget / perImage, (tuning.blockColumns + l - 1) / l)
        return images > 1 ? (batch + images - 1) / images : 0
    }

    /// Images of block `b` of `blocks` (near-equal split of the batch).
    @inline(__always)
    func images(block b: Int, of blocks: Int) -> Range<Int> {
        (b * batch / blocks)..<((b + 1) * batch / blocks)
    }

    /// Copies group `group`'s rows of the output gradient of `images` side by side into
    /// `gathered` (`[outputs, images.count * outArea]`).
    func gather(_ grad: UnsafePointer<Float>, images: Range<Int>, group: Int,
                into gathered: UnsafeMutablePointer<Float>) {
        let l = geometry.outArea, n = images.count * l
        for (j, i) in images.enumerated() {
            let source = grad + (i * groups + group) * outputs * l
            for r in 0..<outputs {
                (gathered + r * n + j * l).update(from: source + r * l, count: l)
            }
        }
    }

    /// Runs `body(item, buffer)` for every item, on all workers when `parallel` (each worker
    /// with its own `scratch`-float buffer and single-threaded BLAS), else in order on the
    /// calling thread (with multi-threaded BLAS).
    static func run(items: Int, scratch: Int, parallel: Bool,
                    _ body: (Int, UnsafeMutablePointer<Float>) -> Void) {
        let workers = parallel && BLASThreads.canScope ? min(Parallel.workers, items) : 1
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(1, scratch * workers))
        defer { buffer.deallocate() }
        if workers <= 1 {
            for item in 0..<items { body(item, buffer) }
            return
        }
        let next = Atomic<Int>(0)
        BLASThreads.singleThreaded {
            Parallel.forEach(workers) { w in
                let col = buffer + w * scratch
                while true {
                    let item = next.wrappingAdd(1, ordering: .relaxed).oldValue
                    if item >= items { break }
                    body(item, col)
                }
            }
        }
    }
}

/// Block size and threading threshold of `ConvProducts` (tests shrink both to exercise many
/// blocks on small inputs).
struct ConvTuning: Sendable {
    /// Bytes of column matrix per block. On a 2-core Zen (512 KB L2 per core, 32 MB L3), 2 MB
    /// beat 512 KB on a quiet machine (bands wide enough that sgemm's packing of the weights
    /// is amortised) and matched it under load; the buffers still stay in L3.
    var columnBudget = 2 << 20
    /// Below this many multiply-adds a product runs as one block per image on the calling
    /// thread (handing work to threads would cost more than it saves).
    var parallelMinimum = 1 << 20
    /// Output maps with fewer positions than this put several images side by side in one
    /// weight-gradient product, up to about this many columns (and `columnBudget` bytes).
    var blockColumns = 512

    static let standard = ConvTuning()
}
