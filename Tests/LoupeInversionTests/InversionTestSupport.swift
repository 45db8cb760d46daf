import XCTest
import LoupeInputOptimization
@testable import LoupeInversion
import LoupeTensor
import LoupeIO
import LoupeModels

/// A randomly initialised tiny ViT.
func tinyViT(imageSize: Int = 16, patch: Int = 4, dim: Int = 32, depth: Int = 2, heads: Int = 2, channels: Int = 1,
             classToken: Bool = true, positionEmbedsClassToken: Bool = true, seed: UInt64 = 1) throws -> VisionTransformer {
    let config = ViTConfig(imageSize: imageSize, patchSize: patch, dim: dim, depth: depth, heads: heads, classes: 10,
                           channels: channels, classToken: classToken, layerScale: positionEmbedsClassToken ? nil : 0.1,
                           positionEmbedsClassToken: positionEmbedsClassToken)
    let model = try VisionTransformer(config)
    var generator = RandomGenerator(seed: seed)
    try model.initialize(generator: &generator)
    return model
}

/// Fashion-MNIST training images `[count, 1, 28, 28]`, or nil (test skipped) when not installed.
func fashionImages(_ count: Int, split: FashionMNIST.Split = .train) throws -> (images: Tensor, labels: Tensor)? {
    guard let data = try? FashionMNIST().load(split) else { return nil }
    return (try data.images.sliced(axis: 0, start: 0, end: count).contiguous(),
            try data.labels.sliced(axis: 0, start: 0, end: count).contiguous())
}

let fashionNormalization = Normalization(mean: [0.2860], std: [0.3530])
