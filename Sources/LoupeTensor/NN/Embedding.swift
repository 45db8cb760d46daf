extension NN {
    /// Looks up rows of `weight: [V, D]` for `indices` (any shape, float values holding integer
    /// ids in `0..<V`), giving `[..., D]`. The gradient flows to `weight` (scatter-add).
    public static func embedding(_ indices: Tensor, weight: Tensor) throws -> Tensor {
        let op = "embedding"
        guard weight.rank == 2 else {
            throw LoupeError("\(op): weight must be [V, D], got \(describe(shape: weight.shape)) for indices \(describe(shape: indices.shape))")
        }
        let v = weight.shape[0], d = weight.shape[1]
        let ids = try indices.scalars.map { value -> Int in
            guard value.rounded() == value, value >= 0, value < Float(v) else {
                throw LoupeError("\(op): index \(value) is not an integer in 0..<\(v) for weight \(describe(shape: weight.shape)) and indices \(describe(shape: indices.shape))")
            }
            return Int(value)
        }
        let wc = weight.contiguous()
        let result = Tensor.uninitialized(indices.shape + [d])
        withExtendedLifetime(wc) {
            let src = base(wc), dst = base(result)
            for (i, id) in ids.enumerated() { (dst + i * d).update(from: src + id * d, count: d) }
        }
        return Tensor.record(result, op: op, inputs: [weight]) { grad in
            let g = grad.contiguous()
            let gw = zeroTensor([v, d])
            withExtendedLifetime(g) {
                let pg = base(g), dw = base(gw)
                for (i, id) in ids.enumerated() {
                    let row = dw + id * d, gr = pg + i * d
                    for j in 0..<d { row[j] += gr[j] }
                }
            }
            return [gw]
        }
    }
}
