import LoupeModels
import LoupeTensor

/// MLP-Hyena-X, the grafting paper's channel-mixer replacement (keshik6/grafting
/// `src/operators/mlp/mlp_hyena_x.py`, `configs/channel_mixers/mlp_hyena_x.yaml`: d_model 1152,
/// l_max 256, expansion ratio 2, short filter order 4) on `[N, T, C]`:
/// `in_proj` (C -> 3 r C), a causal depthwise convolution `short_filter`, the split into q, k, v
/// (r C each), `y = q * (k * v)` and `out_proj` (r C -> C).
///
/// As in the reference, `short_filter` is a `Conv1d` with `l_max` channels applied to the
/// `[N, T, 3 r C]` projection as torch lays it out, so its channels are the *tokens* and it
/// convolves along the features: each token has its own 4-tap filter mixing neighbouring
/// features. The sequence length must therefore equal `l_max` (256 for DiT-XL/2 at 256 px).
/// Sites: the children and `gated` (the input of `out_proj`).
public final class MLPHyenaX: Module {
    public let inProj: Linear
    public let shortFilter: CausalConv1dFilter
    public let outProj: Linear
    public let expansionRatio: Int

    /// An operator of width `dim` for sequences of exactly `tokens` (`l_max`) tokens (zero
    /// weights; see `initialize`).
    public init(dim: Int, tokens: Int, expansionRatio: Int = 2, shortFilterOrder: Int = 4) throws {
        guard dim > 0, tokens > 0, expansionRatio > 0, shortFilterOrder > 0 else {
            throw LoupeError("MLPHyenaX: needs positive sizes, got width \(dim), l_max \(tokens), expansion ratio \(expansionRatio), filter order \(shortFilterOrder)")
        }
        inProj = try Linear(dim, 3 * expansionRatio * dim)
        outProj = try Linear(expansionRatio * dim, dim)
        shortFilter = try CausalConv1dFilter(channels: tokens, kernel: shortFilterOrder, layout: .featuresLast)
        self.expansionRatio = expansionRatio
        super.init()
        registerModule("in_proj", inProj)
        registerModule("out_proj", outProj)
        registerModule("short_filter", shortFilter)
    }

    public var dim: Int { outProj.weight.shape[0] }
    /// The sequence length the filter is built for (`l_max`).
    public var tokens: Int { shortFilter.channels }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try checkTokens(input, dim: dim, op: typeName)
        guard input.shape[1] == tokens else {
            throw LoupeError("MLPHyenaX: input \(describe(shape: input.shape)) has \(input.shape[1]) tokens; its short_filter has one channel per token and needs exactly l_max = \(tokens)")
        }
        let hidden = expansionRatio * dim
        let filtered = try context.apply(shortFilter, try context.apply(inProj, input))
        let qkv = try filtered.split(sizes: [hidden, hidden, hidden], axis: 2)
        let gated = try context.site("gated", try qkv[0] * (try qkv[1] * qkv[2]))
        return try context.apply(outProj, gated)
    }

    /// The reference's initialisation: torch's defaults for the linear layers and the filter.
    public func initialize(generator: inout RandomGenerator) throws {
        try inProj.resetParameters(generator: &generator)
        try outProj.resetParameters(generator: &generator)
        try shortFilter.resetParameters(generator: &generator)
    }
}
