import Foundation
import LoupeTensor

/// A Vision Transformer with timm's `VisionTransformer` parameter names and numerics
/// (`cls_token`, `pos_embed`, `patch_embed.proj`, `blocks.i.{norm1,attn.qkv,attn.proj,ls1,norm2,
/// mlp.fc1,mlp.fc2,ls2}`, `norm` or `fc_norm`, `head`). Input `[B, channels, imageSize,
/// imageSize]`, output logits `[B, classes]`.
///
/// Sites besides every module's output and input: `tokens` (patch tokens with class token and
/// position embeddings, the blocks' input), `pool` (pooled features before `fc_norm`/`head`),
/// `blocks.i.attn.{q,k,v,probs,heads}`, `blocks.i.resid_attn`, `blocks.i.resid_mlp`.
public final class VisionTransformer: Module, Architecture {
    public static let architectureName = "vit"

    public let config: ViTConfig
    public let classToken: Parameter?
    public let positionEmbedding: Parameter
    public let patchEmbed: PatchEmbed
    public let blocks: Sequential
    public let norm: LayerNorm?
    public let fcNorm: LayerNorm?
    public let head: Linear?

    /// A model with zero weights (layer norms at identity, LayerScale at `layerScale`); load a
    /// checkpoint with `loadWeights` or initialise it.
    public init(_ config: ViTConfig) throws {
        try config.validate()
        self.config = config
        classToken = config.classToken ? Parameter(try Tensor.zeros([1, 1, config.dim])) : nil
        let embedLength = config.patchCount + (config.positionEmbedsClassToken ? config.prefixTokens : 0)
        positionEmbedding = Parameter(try Tensor.zeros([1, embedLength, config.dim]))
        patchEmbed = try PatchEmbed(imageSize: config.imageSize, patchSize: config.patchSize,
                                    channels: config.channels, dim: config.dim)
        blocks = Sequential(try (0..<config.depth).map { _ in try ViTBlock(config: config) })
        let average = config.resolvedPool == .average
        norm = average ? nil : try LayerNorm(config.dim, eps: config.eps)
        fcNorm = average ? try LayerNorm(config.dim, eps: config.eps) : nil
        head = config.classes > 0 ? try Linear(config.dim, config.classes) : nil
        super.init()
        if let classToken { registerParameter("cls_token", classToken) }
        registerParameter("pos_embed", positionEmbedding)
        registerModule("patch_embed", patchEmbed)
        registerModule("blocks", blocks)
        if let norm { registerModule("norm", norm) }
        if let fcNorm { registerModule("fc_norm", fcNorm) }
        if let head { registerModule("head", head) }
    }

    public override var typeName: String { "VisionTransformer" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let patches = try context.apply(patchEmbed, input)
        let batch = patches.shape[0], dim = config.dim
        var tokens = patches
        if config.positionEmbedsClassToken {
            if let classToken { tokens = try Tensor.concat([try classToken.value.expanded(to: [batch, 1, dim]), tokens], axis: 1) }
            tokens = try tokens + positionEmbedding.value
        } else {
            tokens = try tokens + positionEmbedding.value
            if let classToken { tokens = try Tensor.concat([try classToken.value.expanded(to: [batch, 1, dim]), tokens], axis: 1) }
        }
        var x = try context.apply(blocks, try context.site("tokens", tokens))
        if let norm { x = try context.apply(norm, x) }
        var pooled: Tensor
        switch config.resolvedPool {
        case .token: pooled = try x.sliced(axis: 1, start: 0, end: 1).reshaped([batch, dim])
        case .average: pooled = try x.sliced(axis: 1, start: config.prefixTokens).mean(axes: [1])
        }
        pooled = try context.site("pool", pooled)
        if let fcNorm { pooled = try context.apply(fcNorm, pooled) }
        if let head { pooled = try context.apply(head, pooled) }
        return pooled
    }

    // MARK: Architecture

    public func configurationJSON() throws -> String {
        try encodeConfiguration(config)
    }

    public static func build(configurationJSON: String) throws -> Module {
        try VisionTransformer(try decodeConfiguration(ViTConfig.self, configurationJSON, architecture: architectureName))
    }
}
