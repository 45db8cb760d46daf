import Foundation

extension NN {
    /// Scaled dot-product attention on `[..., L, D]` operands with batched sgemm, returning the
    /// output `[..., Lq, Dv]` and the attention probabilities `[..., Lq, Lk]` (for capture).
    ///
    /// - Parameters:
    ///   - query: `[..., Lq, D]`; key: `[..., Lk, D]`; value: `[..., Lk, Dv]` (batch axes broadcast).
    ///   - mask: optional *additive* float mask broadcastable to `[..., Lq, Lk]` (0 keeps,
    ///     `-inf` drops; torch's float `attn_mask`). Convert a 0/1 keep mask (torch bool, True =
    ///     keep) with `NN.additiveMask(keep:)`.
    ///   - window: sliding window: query `i` attends only to keys `j` with `|i - j| <= window`.
    ///   - causal: query `i` attends only to keys `j <= i` (torch `is_causal`, the mask aligned
    ///     to the top-left corner); not combined with `mask`, as in torch.
    ///   - scale: score scale, default `1 / sqrt(D)`.
    /// A query whose keys are all masked gets zero probabilities (torch gives NaN).
    public static func attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil,
                                 window: Int? = nil, causal: Bool = false, scale: Float? = nil) throws -> (output: Tensor, probabilities: Tensor) {
        let op = "attention"
        let shapes = "query \(describe(shape: query.shape)), key \(describe(shape: key.shape)), value \(describe(shape: value.shape))"
        guard query.rank >= 2, key.rank >= 2, value.rank >= 2,
              query.shape[query.rank - 1] == key.shape[key.rank - 1],
              key.shape[key.rank - 2] == value.shape[value.rank - 2] else {
            throw LoupeError("\(op): \(shapes) do not fit [..., Lq, D], [..., Lk, D], [..., Lk, Dv]")
        }
        let batch = try Tensor.broadcastShape(Array(query.shape.dropLast(2)), Array(key.shape.dropLast(2)), op: op)
        _ = try Tensor.broadcastShape(batch, Array(value.shape.dropLast(2)), op: op)
        let lq = query.shape[query.rank - 2], lk = key.shape[key.rank - 2], d = query.shape[query.rank - 1]
        if let mask {
            let scoreShape = batch + [lq, lk]
            guard (try? Tensor.broadcastShape(scoreShape, mask.shape, op: op)) == scoreShape else {
                throw LoupeError("\(op): mask \(describe(shape: mask.shape)) does not broadcast to scores \(describe(shape: scoreShape)) for \(shapes)")
            }
        }
        if causal && mask != nil {
            throw LoupeError("\(op): a mask cannot be combined with causal attention for \(shapes)")
        }
        if let window, window < 0 {
            throw LoupeError("\(op): window \(window) must be non-negative for \(shapes)")
        }
        let s = scale ?? 1 / Float(max(d, 1)).squareRoot()
        var scores = try (query * s).matmul(key.transposed())
        if let mask { scores = try scores + mask }
        if let window {
            var band = [Float](repeating: 0, count: lq * lk)
            for i in 0..<lq { for j in 0..<lk where abs(i - j) > window { band[i * lk + j] = -.infinity } }
            scores = try scores + Tensor(shape: [lq, lk], scalars: band)
        }
        if causal {
            var band = [Float](repeating: 0, count: lq * lk)
            for i in 0..<lq { for j in (i + 1)..<max(i + 1, lk) { band[i * lk + j] = -.infinity } }
            scores = try scores + Tensor(shape: [lq, lk], scalars: band)
        }
        let probabilities = try softmax(scores, axis: -1)
        return (try probabilities.matmul(value), probabilities)
    }

    /// `attention(...)` returning only the output, as torch `scaled_dot_product_attention`.
    public static func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil,
                                                 window: Int? = nil, causal: Bool = false, scale: Float? = nil) throws -> Tensor {
        try attention(query: query, key: key, value: value, mask: mask, window: window, causal: causal, scale: scale).output
    }

    /// Turns a keep mask (nonzero = attend, like torch's bool mask True) into an additive mask
    /// (0 or `-inf`).
    public static func additiveMask(keep: Tensor) -> Tensor {
        keep.detached().map { $0 != 0 ? 0 : -.infinity }
    }
}
