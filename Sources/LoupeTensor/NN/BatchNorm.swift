extension NN {
    /// Batch normalization of `x: [N, C, *]` per channel (torch `batch_norm`).
    ///
    /// In training the batch mean and biased variance normalize, and the returned running
    /// statistics are `(1 - momentum) * running + momentum * batch` with the *unbiased* batch
    /// variance (as torch); nil running statistics stay nil. In evaluation the running
    /// statistics (required) normalize and are returned unchanged. Inputs are never mutated.
    /// - Returns: the normalized output and the (updated) running mean and variance `[C]`.
    public static func batchNorm(_ x: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                                 bias: Tensor? = nil, training: Bool, momentum: Float = 0.1,
                                 eps: Float = 1e-5) throws -> (output: Tensor, runningMean: Tensor?, runningVar: Tensor?) {
        let op = "batchNorm"
        guard x.rank >= 2, x.count > 0 else {
            throw LoupeError("\(op): expected non-empty input [N, C, ...], got \(describe(shape: x.shape))")
        }
        let n = x.shape[0], c = x.shape[1], s = x.shape.dropFirst(2).reduce(1, *)
        for (name, p) in [("weight", weight), ("bias", bias), ("running mean", runningMean), ("running variance", runningVar)] {
            try checkVector(p, count: c, name: name, op: op, input: x.shape)
        }
        let m = n * s
        if training {
            guard m > 1 else {
                throw LoupeError("\(op): expected more than 1 value per channel when training, got input \(describe(shape: x.shape))")
            }
        } else {
            guard runningMean != nil, runningVar != nil else {
                throw LoupeError("\(op): evaluation needs running mean and variance for input \(describe(shape: x.shape))")
            }
        }
        let xc = x.contiguous(), wc = weight?.contiguous(), bc = bias?.contiguous()
        var mean = [Float](repeating: 0, count: c), rstd = [Float](repeating: 0, count: c)
        var batchVar = [Float](repeating: 0, count: c)
        withExtendedLifetime(xc) {
            let src = base(xc)
            if training {
                // Two passes (the second over deviations from the mean), each as one vectorized
                // partial sum per (image, channel) row on all cores, then the rows of a channel
                // added in order in Double: the result does not depend on the scheduling.
                let rows = UnsafeMutablePointer<Double>.allocate(capacity: n * c)
                defer { rows.deallocate() }
                let minimumRows = Swift.max(1, Parallel.minimumParallelCount / s)
                Parallel.forRanges(n * c, minimum: minimumRows) { start, end in
                    for item in start..<end { rows[item] = RowKernels.sum(src + item * s, s) }
                }
                for ch in 0..<c {
                    var sum: Double = 0
                    for i in 0..<n { sum += rows[i * c + ch] }
                    mean[ch] = Float(sum / Double(m))
                }
                mean.withUnsafeBufferPointer { means in
                    Parallel.forRanges(n * c, minimum: minimumRows) { start, end in
                        for item in start..<end {
                            let m8 = SIMD8<Float>(repeating: means[item % c])
                            rows[item] = RowKernels.sum(src + item * s, s) { v in let d = v - m8; return d * d }
                        }
                    }
                }
                for ch in 0..<c {
                    var sq: Double = 0
                    for i in 0..<n { sq += rows[i * c + ch] }
                    batchVar[ch] = Float(sq / Double(m))
                    rstd[ch] = 1 / (batchVar[ch] + eps).squareRoot()
                }
            } else {
                mean = runningMean!.scalars
                rstd = runningVar!.scalars.map { 1 / ($0 + eps).squareRoot() }
            }
        }
        let result = Tensor.uninitialized(x.shape)
        let weights = wc?.scalars, biases = bc?.scalars
        withExtendedLifetime(xc) {
            let src = base(xc), dst = base(result)
            Parallel.forRanges(n * c, minimum: Swift.max(1, Parallel.minimumParallelCount / s)) { start, end in
                for item in start..<end {
                    let ch = item % c
                    let scale = rstd[ch] * (weights?[ch] ?? 1)
                    let shift = (biases?[ch] ?? 0) - mean[ch] * scale
                    let p = src + item * s, q = dst + item * s
                    for j in 0..<s { q[j] = p[j] * scale + shift }
                }
            }
        }
        var newMean = runningMean, newVar = runningVar
        if training {
            if let runningMean {
                let old = runningMean.scalars
                newMean = Tensor((0..<c).map { (1 - momentum) * old[$0] + momentum * mean[$0] })
            }
            if let runningVar {
                let old = runningVar.scalars
                let correction = Float(m) / Float(m - 1)
                newVar = Tensor((0..<c).map { (1 - momentum) * old[$0] + momentum * batchVar[$0] * correction })
            }
        }
        let needX = x.requiresGrad, needW = weight?.requiresGrad ?? false, needB = bias?.requiresGrad ?? false
        let xd = xc.detached()
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        let hasW = weight != nil, hasB = bias != nil
        let output = Tensor.record(result, op: op, inputs: inputs) { grad in
            let g = grad.contiguous()
            var sumG = [Float](repeating: 0, count: c), sumGX = [Float](repeating: 0, count: c)
            let gx = needX ? Tensor.uninitialized(xd.shape) : nil
            withExtendedLifetime((g, xd)) {
                let pg = base(g), src = base(xd)
                // Per (image, channel) row: sum of g and of g (x - mean), on all cores; then per
                // channel in order, as the forward's statistics.
                let rowG = UnsafeMutablePointer<Double>.allocate(capacity: 2 * n * c)
                defer { rowG.deallocate() }
                let rowGX = rowG + n * c
                mean.withUnsafeBufferPointer { means in
                    Parallel.forRanges(n * c, minimum: Swift.max(1, Parallel.minimumParallelCount / s)) { start, end in
                        for item in start..<end {
                            rowG[item] = RowKernels.sum(pg + item * s, s)
                            rowGX[item] = RowKernels.productSum(pg + item * s, src + item * s, s, shift: means[item % c])
                        }
                    }
                }
                for ch in 0..<c {
                    var a: Double = 0, b: Double = 0
                    for i in 0..<n {
                        a += rowG[i * c + ch]
                        b += rowGX[i * c + ch]
                    }
                    sumG[ch] = Float(a); sumGX[ch] = Float(b * Double(rstd[ch]))
                }
                if let gx {
                    let dx = base(gx)
                    Parallel.forRanges(n * c, minimum: Swift.max(1, Parallel.minimumParallelCount / s)) { start, end in
                        for item in start..<end {
                            let ch = item % c
                            let w = weights?[ch] ?? 1, r = rstd[ch], mu = mean[ch]
                            let p = src + item * s, gp = pg + item * s, q = dx + item * s
                            if training {
                                let mg = sumG[ch] / Float(m), mgx = sumGX[ch] / Float(m)
                                for j in 0..<s { q[j] = w * r * (gp[j] - mg - (p[j] - mu) * r * mgx) }
                            } else {
                                for j in 0..<s { q[j] = w * r * gp[j] }
                            }
                        }
                    }
                }
            }
            var grads: [Tensor?] = [gx]
            if hasW { grads.append(needW ? Tensor(sumGX) : nil) }
            if hasB { grads.append(needB ? Tensor(sumG) : nil) }
            return grads
        }
        return (output, newMean, newVar)
    }
}
