extension NN {
    /// Cosine similarity per batch item of two tensors `[B, ...]` (flattened), as torch's
    /// `cosine_similarity(a.flatten(1), b.flatten(1))` with each norm clamped to at least 1e-8.
    /// Differentiable.
    public static func cosineSimilarity(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.shape == b.shape, a.rank >= 1, a.shape[0] > 0 else {
            throw LoupeError("cosine_similarity: expected two activations of the same shape [B, ...], got \(describe(shape: a.shape)) and \(describe(shape: b.shape))")
        }
        let batch = a.shape[0]
        let fa = try a.reshaped([batch, -1]), fb = try b.reshaped([batch, -1])
        let dot = try (fa * fb).sum(axes: [1])
        let na = try fa.norm(axes: [1]).clamped(min: 1e-8), nb = try fb.norm(axes: [1]).clamped(min: 1e-8)
        return try dot / (na * nb)
    }
}
