/// The image a whole model takes: its channel count and, when fixed, its side length.
public struct ExpectedImage: Sendable, Equatable {
    public var channels: Int
    /// The side length of a square image, or nil when any size works (a ResNet).
    public var size: Int?

    public init(channels: Int, size: Int?) {
        self.channels = channels
        self.size = size
    }
}

/// A model whose input is an image [B, C, H, W]: the language adds the batch axis to a single
/// image [C, H, W] and checks the shape against `expectedImage` before running it.
public protocol ImageModel: Module {
    var expectedImage: ExpectedImage { get }
}

extension VisionTransformer: ImageModel {
    public var expectedImage: ExpectedImage { ExpectedImage(channels: config.channels, size: config.imageSize) }
}

extension ResNet: ImageModel {
    public var expectedImage: ExpectedImage { ExpectedImage(channels: config.channels, size: nil) }
}

extension DETR: ImageModel {
    public var expectedImage: ExpectedImage { ExpectedImage(channels: config.channels, size: nil) }
}
