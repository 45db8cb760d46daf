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

    /// Throws when the numbers cannot make a ViT. Messages use the argument names of the
    /// language's `vit(...)`.
    public func validate() throws {
        let text = "vit(image_size: \(imageSize), patch: \(patchSize), dim: \(dim), depth: \(depth), heads: \(heads), classes: \(classes), channels: \(channels))"
        guard imageSize > 0, patchSize > 0, imageSize % patchSize == 0 else {
            throw LoupeError("vit: image_size must be a positive multiple of patch in \(text)")
        }
        guard dim > 0, heads > 0, dim % heads == 0 else {
            throw LoupeError("vit: dim must be a positive multiple of heads in \(text)")
        }
        guard depth >= 0, classes >= 0, channels > 0, mlpRatio > 0, hiddenDim > 0 else {
            throw LoupeError("vit: depth, classes, channels and mlp_ratio must be positive in \(text)")
        }
        guard resolvedPool == .average || classToken else {
            throw LoupeError("vit: token pooling needs a class token in \(text)")
        }
    }
}

extension ViTConfig {
    /// Reads the language's `vit(...)` argument names (`image_size`, `patch`, `mlp_ratio`), and
    /// the camelCase Swift names that checkpoints saved before used (`imageSize`, `patchSize`),
    /// with or without snake_case key conversion. Arguments the constructor defaults may be absent.
    public init(from decoder: Decoder) throws {
        let c = try ConfigurationKeys.Reader(decoder)
        self.init(imageSize: try c.required("image_size", "imageSize"), patchSize: try c.required("patch", "patchSize"),
                  dim: try c.required("dim"), depth: try c.required("depth"), heads: try c.required("heads"),
                  classes: try c.required("classes"), channels: try c.optional("channels") ?? 3,
                  mlpRatio: try c.optional("mlp_ratio", "mlpRatio") ?? 4,
                  classToken: try c.optional("class_token", "classToken") ?? true,
                  layerScale: try c.optional("layer_scale", "layerScale"),
                  positionEmbedsClassToken: try c.optional("position_embeds_class_token", "positionEmbedsClassToken") ?? true,
                  pool: try c.optional("pool"), eps: try c.optional("eps") ?? 1e-6)
    }

    /// Writes the language's `vit(...)` argument names (`patch`, not `patch_size`).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: ConfigurationKeys.self)
        try c.encode(imageSize, forKey: "image_size")
        try c.encode(patchSize, forKey: "patch")
        try c.encode(dim, forKey: "dim")
        try c.encode(depth, forKey: "depth")
        try c.encode(heads, forKey: "heads")
        try c.encode(classes, forKey: "classes")
        try c.encode(channels, forKey: "channels")
        try c.encode(mlpRatio, forKey: "mlp_ratio")
        try c.encode(classToken, forKey: "class_token")
        try c.encodeIfPresent(layerScale, forKey: "layer_scale")
        try c.encode(positionEmbedsClassToken, forKey: "position_embeds_class_token")
        try c.encodeIfPresent(pool, forKey: "pool")
        try c.encode(eps, forKey: "eps")
    }
}

/// Coding keys given by name, for configurations stored under the language's snake_case
/// argument names that also read the camelCase names of older checkpoints.
struct ConfigurationKeys: CodingKey, ExpressibleByStringLiteral {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    init(stringLiteral value: String) { stringValue = value }

    /// Reads values under the first of several names present. A snake_case name is also looked
    /// up in camelCase, as a decoder converting keys from snake_case presents it.
    struct Reader {
        let container: KeyedDecodingContainer<ConfigurationKeys>

        init(_ decoder: Decoder) throws { container = try decoder.container(keyedBy: ConfigurationKeys.self) }

        func optional<T: Decodable>(_ names: String...) throws -> T? {
            for name in names {
                for key in Set([name, ConfigurationKeys.camelCase(name)]).sorted() {
                    if let value = try container.decodeIfPresent(T.self, forKey: ConfigurationKeys(stringValue: key)) {
                        return value
                    }
                }
            }
            return nil
        }

        func required<T: Decodable>(_ names: String...) throws -> T {
            for name in names {
                if let value: T = try optional(name) { return value }
            }
            let key = ConfigurationKeys(stringValue: names[0])
            throw DecodingError.keyNotFound(key, .init(codingPath: container.codingPath, debugDescription: "no value for \"\(names[0])\""))
        }
    }

    /// `image_size` -> `imageSize`.
    static func camelCase(_ name: String) -> String {
        let parts = name.split(separator: "_")
        guard let first = parts.first else { return name }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }
}
