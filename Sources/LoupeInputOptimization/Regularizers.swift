import LoupeTensor

/// Penalties on the optimised image itself (not on activations).
public enum Regularizers {
    /// Total variation with squared differences: `mean((x[.., i+1, j] - x[.., i, j])^2) +
    /// mean((x[.., i, j+1] - x[.., i, j])^2)` over `[B, C, H, W]`. Differentiable.
    public static func totalVariation(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[2] > 1, x.shape[3] > 1 else {
            throw LoupeError("tv: expected images [B, C, H, W] with H, W > 1, got \(describe(shape: x.shape))")
        }
        let h = x.shape[2], w = x.shape[3]
        let dy = try x.sliced(axis: 2, start: 1) - x.sliced(axis: 2, start: 0, end: h - 1)
        let dx = try x.sliced(axis: 3, start: 1) - x.sliced(axis: 3, start: 0, end: w - 1)
        return try dy.pow(2).mean() + dx.pow(2).mean()
    }
}
