import LoupeModels
import LoupeTensor

/// Sliding-window attention as the grafting paper's SWA operator (`configs/sequence_mixers/
/// swa.yaml`: flash-attn's `MHA` with `window_size=(4, 4)`, 16 heads, biases on both
/// projections, non-causal, no rotary embedding): a fused `Wqkv` linear (C -> 3C, features laid
/// out as (three, heads, headDim) as timm's `qkv`), softmax attention in which token `i` of the
/// flattened sequence attends to tokens `i - left ... i + right` (clipped at the ends), scale
/// `1 / sqrt(headDim)`, and `out_proj`. The attention is computed on the band only
/// (`NN.slidingWindowAttention`), O(T * window). Parameter shapes equal timm `Attention`'s
/// (`qkv` -> `Wqkv`, `proj` -> `out_proj`); see `init(copying:window:)`. Sites: `Wqkv`,
/// `out_proj` and `heads` (the merged per-head outputs, the input of `out_proj`).
public final class SlidingWindowAttention: Module {
    public let wqkv: Linear
    public let outProj: Linear
    public let heads: Int
    public let left: Int
    public let right: Int

    /// A zero-initialised operator of width `dim` (see `initialize`).
    public init(dim: Int, heads: Int, left: Int = 4, right: Int = 4, qkvBias: Bool = true, outBias: Bool = true) throws {
        guard dim > 0, heads > 0, dim % heads == 0, left >= 0, right >= 0 else {
            throw LoupeError("SlidingWindowAttention: width \(dim) must be a positive multiple of \(heads) heads and the window (\(left), \(right)) non-negative")
        }
        wqkv = try Linear(dim, 3 * dim, bias: qkvBias)
        outProj = try Linear(dim, dim, bias: outBias)
        self.heads = heads
        self.left = left
        self.right = right
        super.init()
        registerModule("Wqkv", wqkv)
        registerModule("out_proj", outProj)
    }

    /// An operator holding copies of a timm `Attention`'s weights (`qkv` -> `Wqkv`, `proj` ->
    /// `out_proj`), e.g. to start from the attention it replaces.
    public convenience init(copying attention: Attention, left: Int = 4, right: Int = 4) throws {
        try self.init(dim: attention.proj.weight.shape[0], heads: attention.heads, left: left, right: right,
                      qkvBias: attention.qkv.bias != nil, outBias: attention.proj.bias != nil)
        for (target, source) in [(wqkv, attention.qkv), (outProj, attention.proj)] {
            target.weight.value = source.weight.value.detached().contiguousCopy()
            if let bias = target.bias, let value = source.bias?.value { bias.value = value.detached().contiguousCopy() }
        }
    }

    public var dim: Int { outProj.weight.shape[0] }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try checkTokens(input, dim: dim, op: typeName)
        let fused = try context.apply(wqkv, input)
        let merged = try context.site("heads", try NN.slidingWindowAttention(qkv: fused, heads: heads, left: left, right: right))
        return try context.apply(outProj, merged)
    }

    /// flash-attn `MHA`'s initialisation: torch's defaults for both linear layers.
    public func initialize(generator: inout RandomGenerator) throws {
        try wqkv.resetParameters(generator: &generator)
        try outProj.resetParameters(generator: &generator)
    }
}
