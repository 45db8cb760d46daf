import LoupeTensor

/// timm `Mlp`: `fc1`, GELU (`act`: exact, or the tanh approximation as DiT's), `fc2`.
public final class MLP: Module {
    public let fc1: Linear
    public let act: GELU
    public let fc2: Linear

    public init(dim: Int, hidden: Int, approximateGELU: Bool = false) throws {
        fc1 = try Linear(dim, hidden)
        act = GELU(approximate: approximateGELU)
        fc2 = try Linear(hidden, dim)
        super.init()
        registerModule("fc1", fc1)
        registerModule("act", act)
        registerModule("fc2", fc2)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try context.apply(fc2, try context.apply(act, try context.apply(fc1, input)))
    }
}
