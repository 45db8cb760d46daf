import LoupeTensor
import XCTest
@testable import LoupeInputOptimization
import LoupeTestSupport

final class ImageParameterizationTests: XCTestCase {
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
        for kind in [ImageParameterization.Kind.pixel, .fourier] {
            let parameterized = try ImageParameterization(kind, shape: [2, 3, 6, 5], initial: image, decorrelate: true,
                                                          generator: &generator)
            XCTAssertTrue(parameterized.decorrelate)
            assertClose(try parameterized.render(), image, rtol: 0, atol: 1e-4)
        }
    }

    func testRejectsBadShapes() throws {
        var generator = RandomGenerator(seed: 1)
        XCTAssertThrowsError(try ImageParameterization(.pixel, shape: [3, 8, 8], generator: &generator)) { error in
            XCTAssertTrue("\(error)".contains("image shape must be [B, C, H, W]"), "\(error)")
        }
        XCTAssertThrowsError(try ImageParameterization(.fourier, shape: [1, 1, 4, 4], initial: try Tensor.zeros([1, 2, 4, 4]),
                                                       generator: &generator, op: "visualize")) { error in
            XCTAssertTrue("\(error)".contains("visualize: initial image [1, 2, 4, 4] does not match the images [1, 1, 4, 4]"), "\(error)")
        }
    }

    /// A fresh parameterisation starts near gray (lucent's std 0.01) and renders in (0, 1).
    func testRandomStartIsNearGray() throws {
        var generator = RandomGenerator(seed: 3)
        for kind in ImageParameterization.Kind.allCases {
            let image = try ImageParameterization(kind, shape: [2, 3, 8, 9], decorrelate: true, generator: &generator).render()
            XCTAssertEqual(image.shape, [2, 3, 8, 9])
            XCTAssertTrue(image.scalars.allSatisfy { abs($0 - 0.5) < 0.05 }, "\(kind)")
        }
    }
}
