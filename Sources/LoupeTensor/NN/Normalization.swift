import Foundation

extension NN {
    /// Layer normalization over the trailing `shape` axes (torch `layer_norm`), with optional
    /// elementwise `weight` and `bias` of that shape. Biased variance, `eps` inside the root.
    public static func layerNorm(_ x: Tensor, shape normalizedShape: [Int], weight: Tensor? = nil,
                                 bias: Tensor? = nil, eps: Float = 1e-5) throws -> Tensor {
        let op = "layerNorm"
        guard !normalizedShape.isEmpty, x.rank >= normalizedShape.count,
              Array(x.shape.suffix(normalizedShape.count)) == normalizedShape else {
            throw LoupeError("\(op): normalized shape \(describe(shape: normalizedShape)) does not match the trailing axes of input \(describe(shape: x.shape))")
        }
        for (name, p) in [("weight", weight), ("bias", bias)] {
            if let p, p.shape != normalizedShape {
                throw LoupeError("\(op): \(name) \(describe(shape: p.shape)) does not match normalized shape \(describe(shape: normalizedShape)) of input \(describe(shape: x.shape))")
            }
        }
        let d = normalizedShape.reduce(1, *)
        guard d > 0 else { throw LoupeError("\(op): normalized shape \(describe(shape: normalizedShape)) is empty") }
        return segmentNorm(x, segments: x.count / d, groups: 1, spatial: 1, weight: weight, bias: bias, eps: eps, op: op)
    }

    /// Group normalization of `x: [N, C, *]` over `groups` channel groups and all spatial
    /// positions (torch `group_norm`), with optional per-channel `weight` and `bias` `[C]`.
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Float = 1e-5) throws -> Tensor {
        let op = "groupNorm"
        guard x.rank >= 2, groups >= 1, x.shape[1] % groups == 0, x.count > 0 else {
            throw LoupeError("\(op): input \(describe(shape: x.shape)) cannot be split into \(groups) groups (expected [N, C, ...] with C divisible by groups)")
        }
        let c = x.shape[1]
        try checkVector(weight, count: c, name: "weight", op: op, input: x.shape)
        try checkVector(bias, count: c, name: "bias", op: op, input: x.shape)
        let spatial = x.shape.dropFirst(2).reduce(1, *)
        return segmentNorm(x, segments: x.shape[0] * groups, groups: groups, spatial: spatial,
                           weight: weight, bias: bias, eps: eps, op: op)
    }

    /// out[j] = (x[j] - mean) * rstd * w + b for j in 0..<count, with `w` and `b` read at
    /// `j * paramStride` (0: one parameter for the run, 1: one per element).
    @inline(__always)
    private static func normalizeRun(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                     mean m: Float, rstd r: Float, weight: UnsafePointer<Float>?,
                                     bias: UnsafePointer<Float>?, paramStride: Int, count: Int) {
        switch (weight, bias, paramStride) {
        case let (w?, b?, 1):
            for j in 0..<count { out[j] = (x[j] - m) * r * w[j] + b[j] }
        case let (w?, nil, 1):
            for j in 0..<count { out[j] = (x[j] - m) * r * w[j] }
        case let (nil, b?, 1):
            for j in 0..<count { out[j] = (x[j] - m) * r + b[j] }
        default:
            let scale = r * (weight?[0] ?? 1), shift = bias?[0] ?? 0
            for j in 0..<count { out[j] = (x[j] - m) * scale + shift }
        }
    }

    /// Normalizes contiguous segments of `x`; the affine parameter of element `j` of segment `s`
    /// is `((s % groups) * length + j) / spatial`.
    private static func segmentNorm(_ x: Tensor, segments: Int, groups: Int, spatial: Int, weight: Tensor?,
                                    bias: Tensor?, eps: Float, op: String) -> Tensor {
        let length = x.count / max(segments, 1)
        let xc = x.contiguous(), wc = weight?.contiguous(), bc = bias?.contiguous()
        let result = Tensor.uninitialized(x.shape)
        var means = [Float](repeating: 0, count: max(segments, 1)), rstds = [Float](repeating: 0, count: max(segments, 1))
        withExtendedLifetime((xc, wc, bc)) {
            means.withUnsafeMutableBufferPointer { mp in
                rstds.withUnsafeMutableBufferPointer { rp in
                    let src = base(xc), dst = base(result)
                    let pw = wc.map { UnsafePointer(base($0)) }, pb = bc.map { UnsafePointer(base($0)) }
                    let mean = mp.baseAddress!, rstd = rp.baseAddress!
                    let perChannel = length / spatial
                    Parallel.forRanges(segments, minimum: max(1, (1 << 14) / max(length, 1))) { start, end in
                        for s in start..<end {
                            let seg = src + s * length, out = dst + s * length
                            let (m, r) = RowKernels.moments(seg, length, eps: eps)
                            mean[s] = m; rstd[s] = r
                            // Runs of `spatial` elements share one affine parameter (with no spatial
                            // axes, the whole segment is one run with a parameter per element).
                            let paramBase = (s % groups) * perChannel
                            for c in 0..<(spatial == 1 ? 1 : perChannel) {
                                let pi = paramBase + c
                                normalizeRun(seg + c * spatial, out + c * spatial, mean: m, rstd: r,
                                             weight: pw.map { $0 + pi }, bias: pb.map { $0 + pi },
                                             paramStride: spatial == 1 ? 1 : 0, count: spatial == 1 ? length : spatial)
                            }
                        }
                    }
                }
            }
        }
        let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
        let xd = xc.detached(), wd = wc?.detached()
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let hasW = weight != nil, hasB = bias != nil
        let paramShape = weight?.shape ?? bias?.shape ?? []
        return Tensor.record(result, op: op, inputs: inputs) { grad in
            let g = grad.contiguous()
            let gx = needX ? Tensor.uninitialized(xd.shape) : nil
            let gw = needW ? zeroTensor(paramShape) : nil
            let gb = needB ? zeroTensor(paramShape) : nil
            withExtendedLifetime((g, xd, wd)) {
                let pg = base(g), src = base(xd)
                let pw = wd.map { UnsafePointer(base($0)) }
                if let gx {
                    let dx = base(gx)
                    Parallel.forRanges(segments, minimum: max(1, (1 << 14) / max(length, 1))) { start, end in
                        for s in start..<end {
                            let m = means[s], r = rstds[s]
                            let seg = src + s * length, gs = pg + s * length, out = dx + s * length
                            let paramBase = (s % groups) * length
                            if spatial == 1 {
                                // One parameter per element (layer norm): vectorized sums.
                                let w = pw.map { $0 + paramBase }
                                let (sumG, sumGX) = RowKernels.normGradientSums(gs, w, seg, length, mean: m, rstd: r)
                                let meanG = Float(sumG / Double(length)), meanGX = Float(sumGX / Double(length))
                                if let w {
                                    for j in 0..<length { out[j] = r * (gs[j] * w[j] - meanG - (seg[j] - m) * r * meanGX) }
                                } else {
                                    for j in 0..<length { out[j] = r * (gs[j] - meanG - (seg[j] - m) * r * meanGX) }
                                }
                                continue
                            }
                            var sumG: Double = 0, sumGX: Double = 0
                            for j in 0..<length {
                                let gh = pw.map { gs[j] * $0[(paramBase + j) / spatial] } ?? gs[j]
                                sumG += Double(gh); sumGX += Double(gh * (seg[j] - m) * r)
                            }
                            let meanG = Float(sumG / Double(length)), meanGX = Float(sumGX / Double(length))
                            for j in 0..<length {
                                let gh = pw.map { gs[j] * $0[(paramBase + j) / spatial] } ?? gs[j]
                                out[j] = r * (gh - meanG - (seg[j] - m) * r * meanGX)
                            }
                        }
                    }
                }
                if gw != nil || gb != nil {
                    let dw = gw.map { base($0) }, db = gb.map { base($0) }
                    if spatial == 1 && groups == 1 {
                        // Layer norm: each worker owns a range of parameters and sums it over every
                        // segment, in segment order (as the serial loop below does).
                        Parallel.forRanges(length, minimum: max(16, (1 << 15) / max(segments, 1))) { j0, j1 in
                            for s in 0..<segments {
                                let m = means[s], r = rstds[s]
                                let seg = src + s * length, gs = pg + s * length
                                if let dw { for j in j0..<j1 { dw[j] += gs[j] * (seg[j] - m) * r } }
                                if let db { for j in j0..<j1 { db[j] += gs[j] } }
                            }
                        }
                    } else {
                        for s in 0..<segments {
                            let m = means[s], r = rstds[s]
                            let seg = src + s * length, gs = pg + s * length
                            let paramBase = (s % groups) * length
                            for j in 0..<length {
                                let pi = (paramBase + j) / spatial
                                dw?[pi] += gs[j] * (seg[j] - m) * r
                                db?[pi] += gs[j]
                            }
                        }
                    }
                }
            }
            var grads: [Tensor?] = [gx]
            if hasW { grads.append(gw) }
            if hasB { grads.append(gb) }
            return grads
        }
    }
}
