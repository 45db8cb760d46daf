import LoupeTensor

/// A table of learned vectors (torch `nn.Embedding`): `weight [count, dim]`; the forward looks up
/// rows by index.
public final class Embedding: Module {
    public let weight: Parameter

    public init(count: Int, dim: Int) throws {
        weight = Parameter(try Tensor.zeros([count, dim]))
        super.init()
        registerParameter("weight", weight)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.embedding(input, weight: weight.value)
    }
}
