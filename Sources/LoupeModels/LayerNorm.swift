import LoupeTensor

/// Layer normalization over the last axis (torch `nn.LayerNorm(dim, eps)`): `weight`, `bias`.
public final class LayerNorm: Module {
    public let weight: Parameter
    public let bias: Parameter
    public let eps: Float

    /// Weight ones, bias zeros.
    public init(_ dim: Int, eps: Float = 1e-5) throws {
        weight = Parameter(try Tensor.ones([dim]))
        bias = Parameter(try Tensor.zeros([dim]))
        self.eps = eps
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.layerNorm(input, shape: weight.shape, weight: weight.value, bias: bias.value, eps: eps)
    }
}
