import XCTest
import LoupeInputOptimization
@testable import LoupeInversion
import LoupeTensor
import LoupeTestSupport

final class OptimizationInversionTests: XCTestCase {
    /// The patch embedding (+ position embedding) is linear and injective here, so inverting its
    /// output recovers the images.
    func testRecoversImagesFromPatchEmbedding() throws {
        let model = try tinyViT()
        var generator = RandomGenerator(seed: 9)
        let images = try Tensor.uniform([2, 1, 16, 16], low: 0.2, high: 0.8, generator: &generator)
        var options = InversionOptions()
        options.steps = 300
        options.learningRate = 0.1
        options.normalization = fashionNormalization
        let result = try invert(model, images: images, layer: "tokens", options: options)
        XCTAssertEqual(result.images.shape, [2, 1, 16, 16])
        XCTAssertEqual(result.losses.count, 300)
        let error = try ImageMetrics.mse(result.images, images).max().item()
        print("pixel inversion from tokens: image MSE \(error), loss \(result.losses[0]) -> \(result.losses.last!)")
        XCTAssertLessThan(error, 1e-3)
        XCTAssertLessThan(result.losses.last!, result.losses[0] / 100)
    }

    func testFourierJitterAndRegularizersDecreaseLoss() throws {
        let model = try tinyViT()
        var generator = RandomGenerator(seed: 11)
        let images = try Tensor.uniform([1, 1, 16, 16], low: 0.2, high: 0.8, generator: &generator)
        var options = InversionOptions()
        options.steps = 60
        options.learningRate = 0.05
        options.parameterization = .fourier
        options.loss = .cosine
        options.tv = 0.01
        options.l2 = 0.001
        options.jitter = 1
        options.seed = 4
        let result = try invert(model, images: images, layer: "blocks.0", options: options)
        let first = result.losses.prefix(5).reduce(0, +) / 5, last = result.losses.suffix(5).reduce(0, +) / 5
        print("fourier inversion from blocks.0 (cosine, tv, l2, jitter): loss \(first) -> \(last)")
        XCTAssertLessThan(last, first)
        XCTAssertTrue(result.images.scalars.allSatisfy { $0 > 0 && $0 < 1 })
        // Same seed, same run.
        let again = try invert(model, images: images, layer: "blocks.0", options: options)
        XCTAssertEqual(again.losses, result.losses)
    }

    func testErrors() throws {
        let model = try tinyViT()
        let images = try Tensor.full([1, 1, 16, 16], 0.5)
        XCTAssertThrowsError(try invert(model, images: images, layer: "blocks.9")) { error in
            XCTAssertTrue("\(error)".contains("blocks.9"), "\(error)")
        }
        XCTAssertThrowsError(try invert(model, images: images, layer: "blocks.*"))
        var options = InversionOptions()
        options.decorrelateColor = true
        XCTAssertThrowsError(try invert(model, images: images, layer: "blocks.0", options: options)) { error in
            XCTAssertTrue("\(error)".contains("3-channel images, got 1 channels"), "\(error)")
        }
        XCTAssertThrowsError(try invert(model, target: try Tensor.zeros([1, 5]), layer: "tokens", imageShape: [1, 16, 16])) { error in
            XCTAssertTrue("\(error)".contains("does not match the activation"), "\(error)")
        }
    }
}
