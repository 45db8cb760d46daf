import XCTest
@testable import LoupeInversion
import LoupeTensor
import LoupeTestSupport

final class OptimizationInversionTests: XCTestCase {
    func testTotalVariationGradients() throws {
        var generator = RandomGenerator(seed: 5)
        let x = try Tensor.uniform([2, 2, 4, 5], generator: &generator)
        try assertGradientsMatchFiniteDifferences([x], step: 1e-2, rtol: 1e-2, atol: 1e-4) { inputs in
            try Regularizers.totalVariation(inputs[0])
        }
        // Hand value: a 1 x 1 x 2 x 2 image [[0, 1], [0, 1]]: dy = 0, dx = 1 everywhere.
        let step = try Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 0, 1])
        XCTAssertEqual(try Regularizers.totalVariation(step).item(), 1, accuracy: 1e-6)
    }

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

    /// A Fourier parameterisation started from an image renders that image.
    func testFourierInitialImageRoundTrips() throws {
        var generator = RandomGenerator(seed: 2)
        let image = try Tensor.uniform([1, 3, 8, 7], low: 0.1, high: 0.9, generator: &generator)
        let fourier = try ImageParameterization(.fourier, shape: [1, 3, 8, 7], initial: image, generator: &generator)
        assertClose(try fourier.render(), image, rtol: 0, atol: 1e-4)
    }

    /// lucent's normalised colour matrix (numpy: `c / max(norm(c, axis=0))`) and a rendered pixel:
    /// with t = (0.5, -1, 2) in the decorrelated space, RGB = sigmoid(t @ matrix.T).
    func testColorDecorrelationMatchesLucent() throws {
        let expected: [[Float]] = [[0.56282854, 0.19482528, 0.0432945], [0.5844758, 0, -0.10823626],
                                   [0.5844758, -0.19482528, 0.06494176]]
        for r in 0..<3 { for c in 0..<3 { XCTAssertEqual(ColorDecorrelation.matrix[r][c], expected[r][c], accuracy: 1e-6) } }
        let t = try Tensor(shape: [1, 3, 1, 1], scalars: [0.5, -1, 2])
        assertClose(try ColorDecorrelation.apply(t).sigmoid(), try Tensor(shape: [1, 3, 1, 1], scalars: [0.5431866, 0.5189323, 0.64952385]),
                    rtol: 0, atol: 1e-6)
        assertClose(try ColorDecorrelation.apply(try ColorDecorrelation.apply(t), inverse: true), t, rtol: 0, atol: 1e-5)
    }

    /// Both parameterisations, decorrelated, started from an image render that image.
    func testDecorrelatedInitialImageRoundTrips() throws {
        var generator = RandomGenerator(seed: 5)
        let image = try Tensor.uniform([2, 3, 6, 5], low: 0.1, high: 0.9, generator: &generator)
        for kind in [InversionOptions.Parameterization.pixel, .fourier] {
            let parameterized = try ImageParameterization(kind, shape: [2, 3, 6, 5], initial: image, decorrelate: true,
                                                          generator: &generator)
            XCTAssertTrue(parameterized.decorrelate)
            assertClose(try parameterized.render(), image, rtol: 0, atol: 1e-4)
        }
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
