import LoupeModels
import LoupeTensor

/// RMS normalisation over groups of `groupSize` channels of the last axis with a learnable
/// per-channel `weight` (no bias): `x / sqrt(mean(x^2 over the group) + eps) * weight`, the
/// normalising half of mamba_ssm's `RMSNormGated` (Mamba-2's `norm`; `Mamba2` applies the gate
/// `y * silu(z)` before it, as `norm_before_gate=False` does).
public final class GroupRMSNorm: Module {
    public let weight: Parameter
    public let groupSize: Int
    public let eps: Float

    /// A norm of `dim` channels in groups of `groupSize`, weight at 1.
    public init(dim: Int, groupSize: Int, eps: Float = 1e-5) throws {
        guard dim > 0, groupSize > 0, dim % groupSize == 0 else {
            throw LoupeError("GroupRMSNorm: \(dim) channels cannot be split into groups of \(groupSize)")
        }
        weight = Parameter(try Tensor.ones([dim]))
        self.groupSize = groupSize
        self.eps = eps
        super.init()
        registerParameter("weight", weight)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let dim = weight.shape[0]
        guard input.rank >= 1, input.shape[input.rank - 1] == dim else {
            throw LoupeError("GroupRMSNorm: input \(describe(shape: input.shape)) does not end in \(dim) channels")
        }
        let grouped = try input.reshaped(Array(input.shape.dropLast()) + [dim / groupSize, groupSize])
        let meanSquare = try (grouped * grouped).mean(axes: [grouped.rank - 1], keepDims: true)
        let normalized = try (grouped * (try meanSquare + eps).rsqrt()).reshaped(input.shape)
        return try normalized * weight.value
    }
}
