import LoupeTensor

/// How a model's input images are normalised: `(image - mean[c]) / std[c]` per channel.
public struct Normalization: Codable, Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// No normalisation for `channels` channels (mean 0, std 1).
    public static func identity(channels: Int) -> Normalization {
        Normalization(mean: [Float](repeating: 0, count: channels), std: [Float](repeating: 1, count: channels))
    }

    /// torchvision's ImageNet normalisation (lucent's `normalize()`).
    public static let imageNet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    /// Normalises `[B, C, H, W]` images with tensor ops (differentiable).
    public func apply(_ images: Tensor) throws -> Tensor {
        let (m, s) = try constants(images, op: "normalize")
        return try (images - m) / s
    }

    /// Maps normalised `[B, C, H, W]` inputs back to images (differentiable).
    public func invert(_ inputs: Tensor) throws -> Tensor {
        let (m, s) = try constants(inputs, op: "denormalize")
        return try inputs * s + m
    }

    private func constants(_ x: Tensor, op: String) throws -> (Tensor, Tensor) {
        guard x.rank == 4, x.shape[1] == mean.count, std.count == mean.count else {
            throw LoupeError("\(op): images \(describe(shape: x.shape)) do not match the normalisation's \(mean.count) channels")
        }
        guard std.allSatisfy({ $0 != 0 && $0.isFinite }) else {
            throw LoupeError("\(op): std \(std) must be finite and non-zero")
        }
        return (try Tensor(shape: [1, mean.count, 1, 1], scalars: mean), try Tensor(shape: [1, std.count, 1, 1], scalars: std))
    }
}
