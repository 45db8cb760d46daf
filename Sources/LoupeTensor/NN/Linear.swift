extension NN {
    /// `x @ weight^T + bias` over the last axis of `x` (any leading dimensions), with one sgemm.
    /// - Parameters:
    ///   - x: `[..., in]`.
    ///   - weight: `[out, in]`.
    ///   - bias: optional `[out]`.
    /// - Returns: `[..., out]`.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        guard x.rank >= 1, weight.rank == 2, x.shape[x.rank - 1] == weight.shape[1] else {
            throw LoupeError("linear: input \(describe(shape: x.shape)) does not match weight \(describe(shape: weight.shape)) (expected [..., in] and [out, in])")
        }
        let inFeatures = weight.shape[1], outFeatures = weight.shape[0]
        if let bias, bias.shape != [outFeatures] {
            throw LoupeError("linear: bias \(describe(shape: bias.shape)) does not match weight \(describe(shape: weight.shape))")
        }
        let rows = x.count / max(inFeatures, 1)
        let outShape = Array(x.shape.dropLast()) + [outFeatures]
        let xc = x.contiguous(), wc = weight.contiguous(), bc = bias?.contiguous()
        let result = Tensor.uninitialized(outShape)
        withExtendedLifetime((xc, wc, bc)) {
            let dst = base(result)
            if let bc {
                let pb = base(bc)
                for r in 0..<rows { (dst + r * outFeatures).update(from: pb, count: outFeatures) }
            }
            if inFeatures == 0 {
                if bc == nil { dst.initialize(repeating: 0, count: result.count) }
                return
            }
            sgemm(transB: true, m: rows, n: outFeatures, k: inFeatures, a: base(xc), lda: inFeatures,
                  b: base(wc), ldb: inFeatures, beta: bc == nil ? 0 : 1, c: dst, ldc: outFeatures)
        }
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let xd = xc.detached(), wd = wc.detached()
        let xShape = x.shape
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        return Tensor.record(result, op: "linear", inputs: inputs) { grad in
            let g = grad.contiguous()
            var grads: [Tensor?] = []
            withExtendedLifetime(g) {
                let pg = base(g)
                if needX {
                    let gx = Tensor.uninitialized(xShape)
                    sgemm(m: rows, n: inFeatures, k: outFeatures, a: pg, lda: outFeatures,
                          b: base(wd), ldb: inFeatures, c: base(gx), ldc: inFeatures)
                    grads.append(gx)
                } else { grads.append(nil) }
                if needW {
                    let gw = Tensor.uninitialized([outFeatures, inFeatures])
                    sgemm(transA: true, m: outFeatures, n: inFeatures, k: rows, a: pg, lda: outFeatures,
                          b: base(xd), ldb: inFeatures, c: base(gw), ldc: inFeatures)
                    grads.append(gw)
                } else { grads.append(nil) }
                if inputs.count == 3 {
                    if needB {
                        let gb = zeroTensor([outFeatures])
                        let pb = base(gb)
                        for r in 0..<rows {
                            let row = pg + r * outFeatures
                            for o in 0..<outFeatures { pb[o] += row[o] }
                        }
                        grads.append(gb)
                    } else { grads.append(nil) }
                }
            }
            return grads
        }
    }
}
