import LoupeTensor

/// GELU with the exact erf form (torch `nn.GELU()`), or the tanh approximation.
public final class GELU: Module {
    public let approximate: Bool

    public init(approximate: Bool = false) { self.approximate = approximate }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        input.gelu(approximate: approximate)
    }
}

/// Returns its input unchanged (torch `nn.Identity`): a replacement that skips a module.
public final class Identity: Module {
    public override init() { super.init() }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        input
    }
}
