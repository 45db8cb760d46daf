import LoupeTensor

/// `y = x W^T + b` (torch `nn.Linear`): parameters `weight [out, in]`, `bias [out]`.
public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?

    /// A zero-initialised layer (weights come from a checkpoint or an initialiser).
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true) throws {
        weight = Parameter(try Tensor.zeros([outFeatures, inFeatures]))
        self.bias = bias ? Parameter(try Tensor.zeros([outFeatures])) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.linear(input, weight: weight.value, bias: bias?.value)
    }
}

