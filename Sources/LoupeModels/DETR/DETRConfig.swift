import LoupeTensor

/// The shape of a DETR (facebookresearch/detr `detr_resnet50` and smaller relatives): a ResNet
/// backbone with frozen batch norm, a post-norm transformer encoder and decoder, and the class
/// and box heads. The defaults are DETR-R50's. Loupe's DETR has no dropout (DETR trains with 0.1
/// in its transformer); its outputs in evaluation are DETR's.
public struct DETRConfig: Codable, Equatable, Sendable {
    /// Object classes, without DETR's extra "no object" class (COCO: 91 ids, so 92 logits).
    public var classes: Int
    /// Object queries (DETR: 100).
    public var queries: Int
    /// Transformer width (`hidden_dim`).
    public var dim: Int
    public var heads: Int
    public var encoderLayers: Int
    public var decoderLayers: Int
    /// Hidden width of the transformer layers' feed-forward networks (`dim_feedforward`).
    public var ffn: Int
    /// The backbone's depth as torchvision names it: "resnet18", "resnet34", "resnet50", "resnet101".
    public var backbone: String
    /// Channels of the backbone's `layer1` (torchvision: 64); later stages double it.
    public var width: Int
    /// Image channels.
    public var channels: Int
    /// Whether the backbone normalises with `FrozenBatchNorm2d` (DETR) rather than a trainable
    /// `BatchNorm2d` (for a backbone trained from scratch); both hold the same four tensors, and
    /// in evaluation they compute the same function.
    public var frozenBatchNorm: Bool
    /// The evaluation transform's shortest image side (DETR: 800) and its longest-side limit (1333).
    public var evalSize: Int
    public var evalMaxSize: Int

    public init(classes: Int = 91, queries: Int = 100, dim: Int = 256, heads: Int = 8, encoderLayers: Int = 6,
                decoderLayers: Int = 6, ffn: Int = 2048, backbone: String = "resnet50",
                width: Int = 64, channels: Int = 3, frozenBatchNorm: Bool = true, evalSize: Int = 800,
                evalMaxSize: Int = 1333) {
        self.classes = classes
        self.queries = queries
        self.dim = dim
        self.heads = heads
        self.encoderLayers = encoderLayers
        self.decoderLayers = decoderLayers
        self.ffn = ffn
        self.backbone = backbone
        self.width = width
        self.channels = channels
        self.frozenBatchNorm = frozenBatchNorm
        self.evalSize = evalSize
        self.evalMaxSize = evalMaxSize
    }

    /// The backbone as a ResNet configuration (no classifier).
    public var backboneConfig: ResNetConfig {
        ResNetConfig(depth: Int(backbone.dropFirst("resnet".count)) ?? 0, classes: 0, channels: channels, width: width)
    }

    /// Throws when the numbers cannot make a DETR. Messages use the language's argument names.
    public func validate() throws {
        guard backbone.hasPrefix("resnet"), [18, 34, 50, 101].contains(backboneConfig.depth) else {
            throw LoupeError("detr: backbone must be \"resnet18\", \"resnet34\", \"resnet50\" or \"resnet101\", got \"\(backbone)\"")
        }
        for (name, value) in [("classes", classes), ("queries", queries), ("dim", dim), ("heads", heads), ("ffn", ffn),
                              ("width", width), ("channels", channels), ("eval_size", evalSize), ("eval_max_size", evalMaxSize)] where value <= 0 {
            throw LoupeError("detr: \(name) must be positive, got \(value)")
        }
        guard encoderLayers >= 0, decoderLayers > 0 else {
            throw LoupeError("detr: encoder_layers must be at least 0 and decoder_layers at least 1, got \(encoderLayers) and \(decoderLayers)")
        }
        guard dim % heads == 0 else { throw LoupeError("detr: dim \(dim) is not divisible by heads \(heads)") }
        guard dim % 2 == 0 else { throw LoupeError("detr: dim must be even for the sine position embedding, got \(dim)") }
        guard evalMaxSize >= evalSize else {
            throw LoupeError("detr: eval_max_size \(evalMaxSize) is smaller than eval_size \(evalSize)")
        }
    }
}

extension DETRConfig {
    /// Reads the language's `detr(...)` argument names; arguments left out take DETR-R50's values.
    public init(from decoder: Decoder) throws {
        let c = try ConfigurationKeys.Reader(decoder)
        let d = DETRConfig()
        self.init(classes: try c.optional("classes") ?? d.classes, queries: try c.optional("queries") ?? d.queries,
                  dim: try c.optional("dim") ?? d.dim, heads: try c.optional("heads") ?? d.heads,
                  encoderLayers: try c.optional("encoder_layers") ?? d.encoderLayers,
                  decoderLayers: try c.optional("decoder_layers") ?? d.decoderLayers,
                  ffn: try c.optional("ffn") ?? d.ffn,
                  backbone: try c.optional("backbone") ?? d.backbone, width: try c.optional("width") ?? d.width,
                  channels: try c.optional("channels") ?? d.channels,
                  frozenBatchNorm: try c.optional("frozen_batch_norm") ?? d.frozenBatchNorm,
                  evalSize: try c.optional("eval_size") ?? d.evalSize,
                  evalMaxSize: try c.optional("eval_max_size") ?? d.evalMaxSize)
    }

    /// Writes the language's `detr(...)` argument names.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: ConfigurationKeys.self)
        try c.encode(classes, forKey: "classes")
        try c.encode(queries, forKey: "queries")
        try c.encode(dim, forKey: "dim")
        try c.encode(heads, forKey: "heads")
        try c.encode(encoderLayers, forKey: "encoder_layers")
        try c.encode(decoderLayers, forKey: "decoder_layers")
        try c.encode(ffn, forKey: "ffn")
        try c.encode(backbone, forKey: "backbone")
        try c.encode(width, forKey: "width")
        try c.encode(channels, forKey: "channels")
        try c.encode(frozenBatchNorm, forKey: "frozen_batch_norm")
        try c.encode(evalSize, forKey: "eval_size")
        try c.encode(evalMaxSize, forKey: "eval_max_size")
    }
}
