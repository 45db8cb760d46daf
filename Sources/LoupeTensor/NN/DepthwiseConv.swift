extension NN {
    /// Output positions `lo..<hi` whose input index `o * stride + offset` lies in `0..<size`.
    @inline(__always)
    static func validRange(count: Int, stride: Int, offset: Int, size: Int) -> (Int, Int) {
        var lo = 0
        if offset < 0 { lo = (-offset + stride - 1) / stride }
        let last = size - 1 - offset
        let hi = last < 0 ? 0 : min(count, last / stride + 1)
        return (lo, max(lo, hi))
    }

    /// Depthwise convolution (`groups == C`, weight `[C * multiplier, 1, kh, kw]`) by direct
    /// loops over each plane, which beats im2col with one tiny gemm per channel.
    static func depthwiseConvolution(_ x: Tensor, weight: Tensor, bias: Tensor?, geometry g: ConvGeometry,
                                     op: String) -> Tensor {
        let n = x.shape[0], c = x.shape[1], o = weight.shape[0]
        let mult = o / c, kh = g.kh, kw = g.kw, ho = g.outHeight, wo = g.outWidth, h = g.height, w = g.width
        let xc = x.contiguous(), wc = weight.contiguous(), bc = bias?.contiguous()
        let result = Tensor.uninitialized([n, o, ho, wo])
        let rows = (0..<kh).map { validRange(count: ho, stride: g.strideH, offset: $0 * g.dilationH - g.padTop, size: h) }
        let cols = (0..<kw).map { validRange(count: wo, stride: g.strideW, offset: $0 * g.dilationW - g.padLeft, size: w) }
        withExtendedLifetime((xc, wc, bc)) {
            let src = base(xc), pw = base(wc), dst = base(result)
            let pb = bc.map { base($0) }
            Parallel.forEach(n * o) { plane in
                let b = plane / o, oc = plane % o, ic = oc / mult
                let inPlane = src + (b * c + ic) * h * w, out = dst + plane * ho * wo
                out.update(repeating: pb?[oc] ?? 0, count: ho * wo)
                for ki in 0..<kh {
                    let (ylo, yhi) = rows[ki]
                    for kj in 0..<kw {
                        let (xlo, xhi) = cols[kj]
                        let wv = pw[(oc * kh + ki) * kw + kj]
                        let xoff = kj * g.dilationW - g.padLeft
                        for oy in ylo..<yhi {
                            let inRow = inPlane + (oy * g.strideH + ki * g.dilationH - g.padTop) * w + xoff
                            let outRow = out + oy * wo
                            if g.strideW == 1 {
                                DepthwiseRows.addScaled(inRow + xlo, wv, to: outRow + xlo, xhi - xlo)
                            } else {
                                for ox in xlo..<xhi { outRow[ox] += wv * inRow[ox * g.strideW] }
                            }
                        }
                    }
                }
            }
        }
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let xd = xc.detached(), wd = wc.detached()
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        let hasBias = bias != nil
        let inShape = x.shape, wShape = weight.shape
        return Tensor.record(result, op: op, inputs: inputs) { grad in
            let gc = grad.contiguous()
            let gx = needX ? zeroTensor(inShape) : nil
            let gw = needW ? zeroTensor(wShape) : nil
            var gb: Tensor? = nil
            withExtendedLifetime((gc, xd, wd)) {
                let pg = base(gc), src = base(xd), pw = base(wd)
                if let gx {
                    let dx = base(gx)
                    Parallel.forEach(n * c) { plane in
                        let b = plane / c, ic = plane % c
                        let inPlane = dx + plane * h * w
                        for oc in (ic * mult)..<((ic + 1) * mult) {
                            let gPlane = pg + (b * o + oc) * ho * wo
                            for ki in 0..<kh {
                                let (ylo, yhi) = rows[ki]
                                for kj in 0..<kw {
                                    let (xlo, xhi) = cols[kj]
                                    let wv = pw[(oc * kh + ki) * kw + kj]
                                    let xoff = kj * g.dilationW - g.padLeft
                                    for oy in ylo..<yhi {
                                        let inRow = inPlane + (oy * g.strideH + ki * g.dilationH - g.padTop) * w + xoff
                                        let gRow = gPlane + oy * wo
                                        if g.strideW == 1 {
                                            DepthwiseRows.addScaled(gRow + xlo, wv, to: inRow + xlo, xhi - xlo)
                                        } else {
                                            for ox in xlo..<xhi { inRow[ox * g.strideW] += wv * gRow[ox] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                if let gw {
                    let dw = base(gw)
                    Parallel.forEach(o) { oc in
                        let ic = oc / mult
                        for b in 0..<n {
                            let inPlane = src + (b * c + ic) * h * w, gPlane = pg + (b * o + oc) * ho * wo
                            for ki in 0..<kh {
                                let (ylo, yhi) = rows[ki]
                                for kj in 0..<kw {
                                    let (xlo, xhi) = cols[kj]
                                    let xoff = kj * g.dilationW - g.padLeft
                                    var acc: Float = 0
                                    for oy in ylo..<yhi {
                                        let inRow = inPlane + (oy * g.strideH + ki * g.dilationH - g.padTop) * w + xoff
                                        let gRow = gPlane + oy * wo
                                        for ox in xlo..<xhi { acc += gRow[ox] * inRow[ox * g.strideW] }
                                    }
                                    dw[(oc * kh + ki) * kw + kj] += acc
                                }
                            }
                        }
                    }
                }
                if needB { gb = channelSums(pg, batch: n, channels: o, area: ho * wo) }
            }
            return hasBias ? [gx, gw, gb] : [gx, gw]
        }
    }
}

/// Row kernel of the depthwise convolution at stride 1. Its rows are short (a 32-pixel map
/// row per filter tap), so the loop has no run-time alias checks or scalar preamble: eight
/// lanes at a time, then the rest.
enum DepthwiseRows {
    /// `dst[j] += a * src[j]` for `j < n` (`src` and `dst` do not overlap).
    @inline(__always)
    static func addScaled(_ src: UnsafePointer<Float>, _ a: Float, to dst: UnsafeMutablePointer<Float>, _ n: Int) {
        let a8 = SIMD8<Float>(repeating: a)
        var j = 0
        while j + 8 <= n {
            RowKernels.store8(RowKernels.load8(dst + j) + a8 * RowKernels.load8(src + j), dst + j)
            j += 8
        }
        while j < n {
            dst[j] += a * src[j]
            j += 1
        }
    }
}
