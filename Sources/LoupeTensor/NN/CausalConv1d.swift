extension NN {
    /// Causal depthwise 1-D convolution along the token axis of channels-last `x: [N, L, C]`
    /// (the `causal_conv1d` of Hyena and Mamba): `y[n, t, c] = bias[c] + sum_j weight[c, j] *
    /// x[n, t - (k - 1) + j, c]`, with zeros before the first token. Equals torch's
    /// `F.conv1d(x.transpose(1, 2), weight, bias, padding=k-1, groups=C)[..., :L].transpose(1, 2)`
    /// without the transposes; loops run along the contiguous channel axis.
    /// - Parameters:
    ///   - x: `[N, L, C]`.
    ///   - weight: `[C, 1, k]` (torch's `Conv1d` weight) or `[C, k]`.
    ///   - bias: optional `[C]`.
    /// - Returns: `[N, L, C]`.
    public static func causalDepthwiseConv1d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        let op = "causalDepthwiseConv1d"
        let shapes = "input \(describe(shape: x.shape)) and weight \(describe(shape: weight.shape))"
        guard x.rank == 3 else { throw LoupeError("\(op): expected input [N, L, C], got \(shapes)") }
        let n = x.shape[0], l = x.shape[1], c = x.shape[2]
        let k: Int
        switch weight.shape.count {
        case 3 where weight.shape[0] == c && weight.shape[1] == 1: k = weight.shape[2]
        case 2 where weight.shape[0] == c: k = weight.shape[1]
        default: throw LoupeError("\(op): weight must be [C, 1, k] or [C, k] with C = \(c) channels, got \(shapes)")
        }
        guard k >= 1 else { throw LoupeError("\(op): the kernel is empty for \(shapes)") }
        try checkVector(bias, count: c, name: "bias", op: op, input: x.shape)
        let rows = n * l
        let xc = x.contiguous(), bc = bias?.contiguous()
        // Taps transposed to [k, C] so each tap's channel weights are contiguous.
        let taps = transposedTaps(weight.contiguous(), channels: c, k: k)
        let result = Tensor.uninitialized([n, l, c])
        withExtendedLifetime((xc, bc, taps)) {
            let src = UnsafePointer(base(xc)), dst = base(result), pw = UnsafePointer(base(taps))
            let pb = bc.map { UnsafePointer(base($0)) }
            Parallel.forRanges(rows, minimum: max(1, Parallel.minimumParallelCount / max(c * k, 1))) { start, end in
                for row in start..<end {
                    let t = row % l
                    let out = dst + row * c
                    if let pb { out.update(from: pb, count: c) } else { out.update(repeating: 0, count: c) }
                    for j in max(0, k - 1 - t)..<k {
                        let w = pw + j * c, input = src + (row - (k - 1) + j) * c
                        for ch in 0..<c { out[ch] += w[ch] * input[ch] }
                    }
                }
            }
        }
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let xd = xc.detached()
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        let hasBias = bias != nil, weightShape = weight.shape
        return Tensor.record(result, op: op, inputs: inputs) { grad in
            let g = grad.contiguous()
            let gx = needX ? Tensor.uninitialized([n, l, c]) : nil
            let gTaps = needW ? zeroTensor([k, c]) : nil
            let gb = needB ? zeroTensor([c]) : nil
            withExtendedLifetime((g, xd, taps)) {
                let pg = UnsafePointer(base(g)), src = UnsafePointer(base(xd)), pw = UnsafePointer(base(taps))
                if let gx {
                    // dx[s] = sum_j w[j] * g[s + (k - 1) - j], within the same sequence.
                    let dx = base(gx)
                    Parallel.forRanges(rows, minimum: max(1, Parallel.minimumParallelCount / max(c * k, 1))) { start, end in
                        for row in start..<end {
                            let s = row % l
                            let out = dx + row * c
                            out.update(repeating: 0, count: c)
                            for j in 0..<k {
                                let t = s + (k - 1) - j
                                guard t < l else { continue }
                                let w = pw + j * c, gr = pg + (row + (k - 1) - j) * c
                                for ch in 0..<c { out[ch] += w[ch] * gr[ch] }
                            }
                        }
                    }
                }
                if gTaps != nil || gb != nil {
                    // Channel ranges on separate workers, each summing over every row.
                    let dw = gTaps.map { base($0) }, db = gb.map { base($0) }
                    Parallel.forRanges(c, minimum: rows * c >= Parallel.minimumParallelCount ? 1 : .max) { lo, hi in
                        let width = hi - lo
                        for row in 0..<rows {
                            let t = row % l
                            let gr = pg + row * c + lo
                            if let db { let b = db + lo; for ch in 0..<width { b[ch] += gr[ch] } }
                            if let dw {
                                for j in max(0, k - 1 - t)..<k {
                                    let w = dw + j * c + lo, input = src + (row - (k - 1) + j) * c + lo
                                    for ch in 0..<width { w[ch] += gr[ch] * input[ch] }
                                }
                            }
                        }
                    }
                }
            }
            let gw = try gTaps.map { taps in
                try untransposedTaps(taps, channels: c, k: k).reshaped(weightShape)
            }
            return hasBias ? [gx, gw, gb] : [gx, gw]
        }
    }

    /// `[C, k]` (or `[C, 1, k]`) contiguous taps as a contiguous `[k, C]` tensor.
    private static func transposedTaps(_ weight: Tensor, channels c: Int, k: Int) -> Tensor {
        let taps = Tensor.uninitialized([k, c])
        withExtendedLifetime(weight) {
            let src = base(weight), dst = base(taps)
            for ch in 0..<c { for j in 0..<k { dst[j * c + ch] = src[ch * k + j] } }
        }
        return taps
    }

    /// `[k, C]` contiguous taps back as a contiguous `[C, k]` tensor.
    private static func untransposedTaps(_ taps: Tensor, channels c: Int, k: Int) -> Tensor {
        let weight = Tensor.uninitialized([c, k])
        withExtendedLifetime(taps) {
            let src = base(taps), dst = base(weight)
            for ch in 0..<c { for j in 0..<k { dst[ch * k + j] = src[j * c + ch] } }
        }
        return weight
    }
}
