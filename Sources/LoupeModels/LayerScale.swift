import LoupeTensor

/// timm `LayerScale`: `x * gamma` per channel.
public final class LayerScale: Module {
    public let gamma: Parameter

    public init(dim: Int, initialValue: Float) throws {
        gamma = Parameter(try Tensor.full([dim], initialValue))
        super.init()
        registerParameter("gamma", gamma)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try input * gamma.value
    }
}
