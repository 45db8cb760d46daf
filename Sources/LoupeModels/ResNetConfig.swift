import LoupeTensor

/// The shape of a ResNet (torchvision `resnet18/34/50/101/152`), optionally narrower and with a
/// small-image stem.
public struct ResNetConfig: Codable, Equatable, Sendable {
    /// The first layers before `layer1`.
    public enum Stem: String, Codable, Sendable {
        /// torchvision's: 7x7 stride-2 convolution, batch norm, ReLU, 3x3 stride-2 max pool.
        case imagenet
        /// For small inputs such as 28x28: 3x3 stride-1 convolution, batch norm, ReLU, no pool.
        case small
    }

    public var depth: Int
    public var classes: Int
    public var channels: Int
    /// Channels of `layer1` (torchvision: 64); later stages double it.
    public var width: Int
    public var stem: Stem

    public init(depth: Int, classes: Int, channels: Int = 3, width: Int = 64, stem: Stem = .imagenet) {
        self.depth = depth
        self.classes = classes
        self.channels = channels
        self.width = width
        self.stem = stem
    }

    /// Blocks per stage, as torchvision.
    public var stageBlocks: [Int] {
        switch depth {
        case 10: return [1, 1, 1, 1]
        case 18: return [2, 2, 2, 2]
        case 34, 50: return [3, 4, 6, 3]
        case 101: return [3, 4, 23, 3]
        case 152: return [3, 8, 36, 3]
        default: return []
        }
    }

    /// Whether stages use Bottleneck blocks (depth 50 and deeper) rather than BasicBlocks.
    public var usesBottleneck: Bool { depth >= 50 }

    /// Output channels of a block relative to its planes.
    public var expansion: Int { usesBottleneck ? 4 : 1 }

    /// Channels of `layer4`'s output (torchvision: 512 for resnet18/34, 2048 from resnet50).
    public var featureChannels: Int { (width << 3) * expansion }

    /// Throws when the numbers cannot make a ResNet. Messages use the argument names of the
    /// language's `resnet(...)`.
    public func validate() throws {
        guard !stageBlocks.isEmpty else {
            throw LoupeError("resnet: depth must be 10, 18, 34, 50, 101 or 152, got \(depth)")
        }
        guard classes >= 0, channels > 0, width > 0 else {
            throw LoupeError("resnet: classes, channels and width must be positive, got classes \(classes), channels \(channels), width \(width)")
        }
    }
}

extension ResNetConfig {
    /// Reads the language's `resnet(...)` argument names (`small: true` for the small stem), and
    /// the `stem` name (`"imagenet"` or `"small"`) that checkpoints saved before used.
    public init(from decoder: Decoder) throws {
        let c = try ConfigurationKeys.Reader(decoder)
        let stem: Stem
        if let small: Bool = try c.optional("small") {
            stem = small ? .small : .imagenet
        } else {
            stem = try c.optional("stem") ?? .imagenet
        }
        self.init(depth: try c.required("depth"), classes: try c.required("classes"),
                  channels: try c.optional("channels") ?? 3, width: try c.optional("width") ?? 64, stem: stem)
    }

    /// Writes the language's `resnet(...)` argument names: depth, classes, channels, width, small.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: ConfigurationKeys.self)
        try c.encode(depth, forKey: "depth")
        try c.encode(classes, forKey: "classes")
        try c.encode(channels, forKey: "channels")
        try c.encode(width, forKey: "width")
        try c.encode(stem == .small, forKey: "small")
    }
}
