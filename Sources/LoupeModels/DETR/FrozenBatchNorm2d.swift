import LoupeTensor

/// DETR's `FrozenBatchNorm2d`: batch normalisation with fixed statistics and affine terms, all
/// four held as buffers (`weight`, `bias`, `running_mean`, `running_var`; no
/// `num_batches_tracked`), computing `x * w * rsqrt(rv + 1e-5) + (b - rm * w * rsqrt(rv + 1e-5))`.
/// Gradients flow to the input, never to the buffers.
public final class FrozenBatchNorm2d: Module {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Parameter
    public let runningVar: Parameter
    public static let eps: Float = 1e-5

    /// Identity normalisation of `channels` channels.
    public init(_ channels: Int) throws {
        weight = Parameter(try Tensor.ones([channels]))
        bias = Parameter(try Tensor.zeros([channels]))
        runningMean = Parameter(try Tensor.zeros([channels]))
        runningVar = Parameter(try Tensor.ones([channels]))
        super.init()
        registerBuffer("weight", weight)
        registerBuffer("bias", bias)
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.batchNorm(input, runningMean: runningMean.value.detached(), runningVar: runningVar.value.detached(),
                         weight: weight.value.detached(), bias: bias.value.detached(), training: false,
                         eps: Self.eps).output
    }
}
