import LoupeTensor

/// timm `Block`: pre-norm attention and MLP sub-layers with optional LayerScale. Sites:
/// `resid_attn` (residual stream after attention) and `resid_mlp` (after the MLP = output).
public final class ViTBlock: Module {
    /// The model configuration the block was built from (its width, heads, MLP ratio, ...).
    public let config: ViTConfig
    public let norm1: LayerNorm
    public let attn: Attention
    public let ls1: LayerScale?
    public let norm2: LayerNorm
    public let mlp: MLP
    public let ls2: LayerScale?

    public init(config: ViTConfig) throws {
        self.config = config
        norm1 = try LayerNorm(config.dim, eps: config.eps)
        attn = try Attention(dim: config.dim, heads: config.heads)
        ls1 = try config.layerScale.map { try LayerScale(dim: config.dim, initialValue: $0) }
        norm2 = try LayerNorm(config.dim, eps: config.eps)
        mlp = try MLP(dim: config.dim, hidden: config.hiddenDim)
        ls2 = try config.layerScale.map { try LayerScale(dim: config.dim, initialValue: $0) }
        super.init()
        registerModule("norm1", norm1)
        registerModule("attn", attn)
        if let ls1 { registerModule("ls1", ls1) }
        registerModule("norm2", norm2)
        registerModule("mlp", mlp)
        if let ls2 { registerModule("ls2", ls2) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var a = try context.apply(attn, try context.apply(norm1, input))
        if let ls1 { a = try context.apply(ls1, a) }
        let afterAttention = try context.site("resid_attn", try input + a)
        var m = try context.apply(mlp, try context.apply(norm2, afterAttention))
        if let ls2 { m = try context.apply(ls2, m) }
        return try context.site("resid_mlp", try afterAttention + m)
    }
}
