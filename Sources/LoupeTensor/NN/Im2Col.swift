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

    /// Copies image channels `[channelStart, channelStart + channels)` of every batch item of
    /// `image` (`[batch, totalChannels, height, width]`) into `col`
    /// (`[channels * kh * kw, batch * outArea]`), zero where the kernel reads padding.
    func im2col(_ image: UnsafePointer<Float>, batch: Int, totalChannels: Int, channelStart: Int,
                channels: Int, into col: UnsafeMutablePointer<Float>) {
        let rows = channels * kernelArea
        let rowLength = batch * outArea
        let g = self
        let per = max(1, (rows + Parallel.workers * 4 - 1) / (Parallel.workers * 4))
        let chunks = (rows + per - 1) / per
        Parallel.forEach(chunks) { chunk in
            for row in (chunk * per)..<min(rows, (chunk + 1) * per) {
                let c = row / g.kernelArea, ki = (row % g.kernelArea) / g.kw, kj = row % g.kw
                let dst = col + row * rowLength
                for n in 0..<batch {
                    let src = image + (n * totalChannels + channelStart + c) * g.imageArea
                    let out = dst + n * g.outArea
                    for oy in 0..<g.outHeight {
                        let y = oy * g.strideH - g.padTop + ki * g.dilationH
                        let line = out + oy * g.outWidth
                        if y < 0 || y >= g.height {
                            line.update(repeating: 0, count: g.outWidth)
                            continue
                        }
                        let x0 = kj * g.dilationW - g.padLeft
                        let (lo, hi) = NN.validRange(count: g.outWidth, stride: g.strideW, offset: x0, size: g.width)
                        let srcRow = src + y * g.width + x0
                        if lo > 0 { line.update(repeating: 0, count: lo) }
                        if g.strideW == 1 {
                            if hi > lo { (line + lo).update(from: srcRow + lo, count: hi - lo) }
                        } else {
                            for ox in lo..<hi { line[ox] = srcRow[ox * g.strideW] }
                        }
                        if hi < g.outWidth { (line + hi).update(repeating: 0, count: g.outWidth - hi) }
                    }
                }
            }
        }
    }

    /// Adds `col` (`[channels * kh * kw, batch * outArea]`) back into image channels
    /// `[channelStart, channelStart + channels)` of `image` (the adjoint of `im2col`).
    func col2im(_ col: UnsafePointer<Float>, batch: Int, totalChannels: Int, channelStart: Int,
                channels: Int, into image: UnsafeMutablePointer<Float>) {
        let rowLength = batch * outArea
        let g = self
        Parallel.forEach(batch * channels) { item in
            let n = item / channels, c = item % channels
            let dst = image + (n * totalChannels + channelStart + c) * g.imageArea
            for k in 0..<g.kernelArea {
                let ki = k / g.kw, kj = k % g.kw
                let src = col + (c * g.kernelArea + k) * rowLength + n * g.outArea
                for oy in 0..<g.outHeight {
                    let y = oy * g.strideH - g.padTop + ki * g.dilationH
                    if y < 0 || y >= g.height { continue }
                    let x0 = kj * g.dilationW - g.padLeft
                    let dstRow = dst + y * g.width + x0
                    let line = src + oy * g.outWidth
                    let (lo, hi) = NN.validRange(count: g.outWidth, stride: g.strideW, offset: x0, size: g.width)
                    if g.strideW == 1 {
                        for ox in lo..<hi { dstRow[ox] += line[ox] }
                    } else {
                        for ox in lo..<hi { dstRow[ox * g.strideW] += line[ox] }
                    }
                }
            }
        }
    }
}

extension NN {
    /// Copies channels `[start, start + count)` of `[batch, total, area]` into `[count, batch * area]`.
    static func gatherChannels(_ src: UnsafePointer<Float>, batch: Int, total: Int, start: Int, count: Int,
                               area: Int, into dst: UnsafeMutablePointer<Float>) {
        for c in 0..<count {
            for n in 0..<batch {
                (dst + c * batch * area + n * area).update(from: src + (n * total + start + c) * area, count: area)
            }
        }
    }

    /// The inverse of `gatherChannels`: writes `[count, batch * area]` into channels of `[batch, total, area]`.
    static func scatterChannels(_ src: UnsafePointer<Float>, batch: Int, total: Int, start: Int, count: Int,
                                area: Int, into dst: UnsafeMutablePointer<Float>) {
        for c in 0..<count {
            for n in 0..<batch {
                (dst + (n * total + start + c) * area).update(from: src + c * batch * area + n * area, count: area)
            }
        }
    }

    /// Adds `bias[c]` to every element of channel `c` of `[batch, channels, area]`.
    static func addChannelBias(_ bias: UnsafePointer<Float>, batch: Int, channels: Int, area: Int,
                               to dst: UnsafeMutablePointer<Float>) {
        for n in 0..<batch {
            for c in 0..<channels {
                let p = dst + (n * channels + c) * area, b = bias[c]
                for i in 0..<area { p[i] += b }
            }
        }
    }

    /// Sums `[batch, channels, area]` over batch and area into `[channels]`.
    static func channelSums(_ src: UnsafePointer<Float>, batch: Int, channels: Int, area: Int) -> Tensor {
        let result = zeroTensor([channels])
        let p = base(result)
        for n in 0..<batch {
            for c in 0..<channels {
                let s = src + (n * channels + c) * area
                var acc: Float = 0
                for i in 0..<area { acc += s[i] }
                p[c] += acc
            }
        }
        return result
    }
}
