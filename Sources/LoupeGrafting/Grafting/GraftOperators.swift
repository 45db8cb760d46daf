import LoupeModels
import LoupeTensor

/// The operators grafting swaps into a DiT block, by the grafting code's names, and where each goes:
/// sequence mixers replace the block's attention (`blocks.N.attn`), channel mixers its MLP
/// (`blocks.N.mlp`). Each is built for the block's width and freshly initialised as its reference
/// initialises it.
public enum GraftOperator: String, CaseIterable, Sendable {
    case hyenaX = "hyena_x"
    case hyenaY = "hyena_y"
    case hyenaSE = "hyena_se"
    case slidingWindowAttention = "swa"
    case mamba2 = "mamba2"
    /// Multi-head attention as DiT's (self-grafting: the control the paper compares against).
    case attention = "mha"
    case mlpRatio3 = "mlp_ratio_3"
    case mlpRatio6 = "mlp_ratio_6"
    case mlpHyenaX = "mlp_hyena_x"

    /// The block submodule the operator replaces: "attn" or "mlp".
    public var site: String {
        switch self {
        case .hyenaX, .hyenaY, .hyenaSE, .slidingWindowAttention, .mamba2, .attention: return "attn"
        case .mlpRatio3, .mlpRatio6, .mlpHyenaX: return "mlp"
        }
    }

    /// The names `graft` accepts, for messages and help.
    public static var namesText: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// A new operator for a block of width `dim` with `heads` attention heads over `tokens` tokens.
    /// `replaced` is the module it takes the place of; with `copyWeights`, sliding-window
    /// attention and self-grafted attention start from its weights (same shapes).
    public func make(dim: Int, heads: Int, tokens: Int, replaced: Module?, copyWeights: Bool,
                     generator: inout RandomGenerator) throws -> Module {
        switch self {
        case .hyenaX:
            let op = try HyenaX(dim: dim)
            try op.initialize(generator: &generator)
            return op
        case .hyenaY:
            let op = try HyenaY(dim: dim)
            try op.initialize(generator: &generator)
            return op
        case .hyenaSE:
            let op = try HyenaSE(dim: dim)
            try op.initialize(generator: &generator)
            return op
        case .slidingWindowAttention:
            if copyWeights, let attention = replaced as? Attention { return try SlidingWindowAttention(copying: attention) }
            let op = try SlidingWindowAttention(dim: dim, heads: heads)
            try op.initialize(generator: &generator)
            return op
        case .mamba2:
            let op = try Mamba2(Mamba2.Config(dModel: dim))
            try op.initialize(generator: &generator)
            return op
        case .attention:
            let op = try Attention(dim: dim, heads: heads)
            if copyWeights, let original = replaced {
                try copyState(from: original, to: op, op: "graft")
            } else {
                try op.qkv.resetParameters(generator: &generator)
                try op.proj.resetParameters(generator: &generator)
            }
            return op
        case .mlpRatio3:
            return try GraftingArchitectures.ratioMLP(dim: dim, ratio: 3, generator: &generator)
        case .mlpRatio6:
            return try GraftingArchitectures.ratioMLP(dim: dim, ratio: 6, generator: &generator)
        case .mlpHyenaX:
            let op = try MLPHyenaX(dim: dim, tokens: tokens)
            try op.initialize(generator: &generator)
            return op
        }
    }
}
