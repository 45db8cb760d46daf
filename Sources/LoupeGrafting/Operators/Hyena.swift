import LoupeModels
import LoupeTensor

// The Hyena sequence mixers of the grafting paper (keshik6/grafting src/operators/hyena), on
// `[N, T, C]` token sequences: a dense projection `in_proj` (C -> 3C), short causal depthwise
// convolutions along the tokens, the gates `q * (k * v)` and `out_proj` (C -> C). Parameter names
// are the reference's, so its state dicts load by name. Sites: the children (`in_proj`,
// `short_filter`, `inner_filter`, `out_proj`) and `gated` (the input of `out_proj`).

/// Hyena-X: `in_proj`, a causal featurizer convolution `short_filter` (k = 4) on all 3C channels,
/// split into q, k, v, `y = q * (k * v)`, `out_proj`.
public final class HyenaX: Module {
    public let inProj: Linear
    public let shortFilter: CausalConv1dFilter
    public let outProj: Linear

    /// An operator of width `dim` with `shortFilterOrder` taps (zero weights; see `initialize`).
    public init(dim: Int, shortFilterOrder: Int = 4) throws {
        try checkHyena(dim: dim, filters: [shortFilterOrder], op: "HyenaX")
        outProj = try Linear(dim, dim)
        inProj = try Linear(dim, 3 * dim)
        shortFilter = try CausalConv1dFilter(channels: 3 * dim, kernel: shortFilterOrder)
        super.init()
        registerModule("in_proj", inProj)
        registerModule("short_filter", shortFilter)
        registerModule("out_proj", outProj)
    }

    public var dim: Int { outProj.weight.shape[0] }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try checkTokens(input, dim: dim, op: typeName)
        let featurized = try context.apply(shortFilter, try context.apply(inProj, input))
        let qkv = try featurized.split(sizes: [dim, dim, dim], axis: 2)
        let gated = try context.site("gated", try qkv[0] * (try qkv[1] * qkv[2]))
        return try context.apply(outProj, gated)
    }

    /// The reference's initialisation: torch's defaults for the linear layers and the filter.
    public func initialize(generator: inout RandomGenerator) throws {
        try outProj.resetParameters(generator: &generator)
        try inProj.resetParameters(generator: &generator)
        try shortFilter.resetParameters(generator: &generator)
    }
}

/// Hyena-Y: no featurizer convolution; `in_proj`, split into q, k, v, a causal convolution
/// `inner_filter` (k = 4, C channels) of `k * v`, `y = q * inner_filter(k * v)`, `out_proj`.
public final class HyenaY: Module {
    public let inProj: Linear
    public let innerFilter: CausalConv1dFilter
    public let outProj: Linear

    /// An operator of width `dim` with `innerFilterLength` taps (zero weights; see `initialize`).
    public init(dim: Int, innerFilterLength: Int = 4) throws {
        try checkHyena(dim: dim, filters: [innerFilterLength], op: "HyenaY")
        outProj = try Linear(dim, dim)
        inProj = try Linear(dim, 3 * dim)
        innerFilter = try CausalConv1dFilter(channels: dim, kernel: innerFilterLength)
        super.init()
        registerModule("in_proj", inProj)
        registerModule("inner_filter", innerFilter)
        registerModule("out_proj", outProj)
    }

    public var dim: Int { outProj.weight.shape[0] }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try checkTokens(input, dim: dim, op: typeName)
        let qkv = try context.apply(inProj, input).split(sizes: [dim, dim, dim], axis: 2)
        let mixed = try context.apply(innerFilter, try qkv[1] * qkv[2])
        let gated = try context.site("gated", try qkv[0] * mixed)
        return try context.apply(outProj, gated)
    }

    /// The reference's initialisation: torch's defaults for the linear layers, the inner filter
    /// at identity (last tap 1, bias 0).
    public func initialize(generator: inout RandomGenerator) throws {
        try outProj.resetParameters(generator: &generator)
        try inProj.resetParameters(generator: &generator)
        try innerFilter.setIdentity()
    }
}

/// Hyena-SE: Hyena-X's featurizer `short_filter` on all 3C channels and Hyena-Y's `inner_filter`
/// on `k * v` (both `shortFilterOrder` taps, as the reference builds them), `y = q *
/// inner_filter(k * v)`, `out_proj`.
public final class HyenaSE: Module {
    public let inProj: Linear
    public let shortFilter: CausalConv1dFilter
    public let innerFilter: CausalConv1dFilter
    public let outProj: Linear

    /// An operator of width `dim` whose filters have `shortFilterOrder` taps (zero weights; see
    /// `initialize`).
    public init(dim: Int, shortFilterOrder: Int = 4) throws {
        try checkHyena(dim: dim, filters: [shortFilterOrder], op: "HyenaSE")
        outProj = try Linear(dim, dim)
        inProj = try Linear(dim, 3 * dim)
        shortFilter = try CausalConv1dFilter(channels: 3 * dim, kernel: shortFilterOrder)
        innerFilter = try CausalConv1dFilter(channels: dim, kernel: shortFilterOrder)
        super.init()
        registerModule("in_proj", inProj)
        registerModule("short_filter", shortFilter)
        registerModule("inner_filter", innerFilter)
        registerModule("out_proj", outProj)
    }

    public var dim: Int { outProj.weight.shape[0] }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try checkTokens(input, dim: dim, op: typeName)
        let featurized = try context.apply(shortFilter, try context.apply(inProj, input))
        let qkv = try featurized.split(sizes: [dim, dim, dim], axis: 2)
        let mixed = try context.apply(innerFilter, try qkv[1] * qkv[2])
        let gated = try context.site("gated", try qkv[0] * mixed)
        return try context.apply(outProj, gated)
    }

    /// The reference's initialisation: torch's defaults for the linear layers and the featurizer,
    /// the inner filter at identity.
    public func initialize(generator: inout RandomGenerator) throws {
        try outProj.resetParameters(generator: &generator)
        try inProj.resetParameters(generator: &generator)
        try shortFilter.resetParameters(generator: &generator)
        try innerFilter.setIdentity()
    }
}

/// Throws unless the width and filter lengths are positive.
func checkHyena(dim: Int, filters: [Int], op: String) throws {
    guard dim > 0, filters.allSatisfy({ $0 > 0 }) else {
        throw LoupeError("\(op): needs a positive width and filter length, got width \(dim) and filter length \(filters.map(String.init).joined(separator: ", "))")
    }
}

/// Throws unless `input` is a `[N, T, dim]` token sequence.
func checkTokens(_ input: Tensor, dim: Int, op: String) throws {
    guard input.rank == 3, input.shape[2] == dim else {
        throw LoupeError("\(op): input \(describe(shape: input.shape)) is not a token sequence [N, T, \(dim)]")
    }
}
