import LoupeTensor

/// The shape of a Vision Transformer (timm `VisionTransformer`; DeiT III is `layerScale` set and
/// `positionEmbedsClassToken: false`).
public struct ViTConfig: Codable, Equatable, Sendable {
    /// How the token sequence becomes one feature vector.
    public enum Pool: String, Codable, Sendable {
        /// The class token's features (timm `global_pool="token"`).
        case token
        /// The mean of the patch tokens, followed by `fc_norm` (timm `global_pool="avg"`).
        case average
    }

    public var imageSize: Int
    public var patchSize: Int
    public var dim: Int
    public var depth: Int
    public var heads: Int
    /// Classifier outputs; 0 means no head (the forward returns pooled features).
    public var classes: Int
    public var channels: Int
    public var mlpRatio: Float
    public var classToken: Bool
    /// LayerScale initial value (timm `init_values`); nil means no `ls1` / `ls2`.
    public var layerScale: Float?
    /// Whether `pos_embed` covers the class token (timm default); false is timm's
    /// `no_embed_class=True` (DeiT III): position embeddings are added to patches only.
    public var positionEmbedsClassToken: Bool
    /// Pooling; nil picks `.token` with a class token and `.average` without.
    public var pool: Pool?
    /// LayerNorm epsilon (timm ViTs use 1e-6).
    public var eps: Float

    public init(imageSize: Int, patchSize: Int, dim: Int, depth: Int, heads: Int, classes: Int,
                channels: Int = 3, mlpRatio: Float = 4, classToken: Bool = true, layerScale: Float? = nil,
                positionEmbedsClassToken: Bool = true, pool: Pool? = nil, eps: Float = 1e-6) {
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.dim = dim
        self.depth = depth
        self.heads = heads
        self.classes = classes
        self.channels = channels
        self.mlpRatio = mlpRatio
        self.classToken = classToken
        self.layerScale = layerScale
        self.positionEmbedsClassToken = positionEmbedsClassToken
        self.pool = pool
        self.eps = eps
    }

    /// The pooling actually used.
    public var resolvedPool: Pool { pool ?? (classToken ? .token : .average) }
    /// Patches per side.
    public var gridSize: Int { imageSize / patchSize }
    /// Patch tokens.
    public var patchCount: Int { gridSize * gridSize }
    /// Prefix tokens (the class token) before the patches.
    public var prefixTokens: Int { classToken ? 1 : 0 }
    /// MLP hidden width (timm: `int(dim * mlp_ratio)`).
    public var hiddenDim: Int { Int(Float(dim) * mlpRatio) }

    /// Throws when the numbers cannot make a ViT.
    public func validate() throws {
        let text = "ViTConfig(imageSize: \(imageSize), patchSize: \(patchSize), dim: \(dim), depth: \(depth), heads: \(heads), classes: \(classes), channels: \(channels))"
        guard imageSize > 0, patchSize > 0, imageSize % patchSize == 0 else {
            throw LoupeError("ViT: imageSize must be a positive multiple of patchSize in \(text)")
        }
        guard dim > 0, heads > 0, dim % heads == 0 else {
            throw LoupeError("ViT: dim must be a positive multiple of heads in \(text)")
        }
        guard depth >= 0, classes >= 0, channels > 0, mlpRatio > 0, hiddenDim > 0 else {
            throw LoupeError("ViT: depth, classes, channels and mlpRatio must be positive in \(text)")
        }
        guard resolvedPool == .average || classToken else {
            throw LoupeError("ViT: token pooling needs a class token in \(text)")
        }
    }
}
