import XCTest
@testable import LoupeInversion
import LoupeTensor
import LoupeTestSupport

final class ImageMetricsTests: XCTestCase {
    /// MSE, PSNR and SSIM match scikit-image on colour and gray images of several sizes.
    func testMatchesScikitImage() throws {
        let cases = try Fixtures.load("inversion_metrics")
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let a = try c.tensor("a"), b = try c.tensor("b")
            assertClose(try ImageMetrics.mse(a, b), try c.tensor("mse"), rtol: 1e-5, atol: 1e-7, "\(c.name) mse")
            assertClose(try ImageMetrics.psnr(a, b), try c.tensor("psnr"), rtol: 1e-5, atol: 1e-5, "\(c.name) psnr")
            assertClose(try ImageMetrics.ssim(a, b), try c.tensor("ssim"), rtol: 0, atol: 1e-5, "\(c.name) ssim")
        }
    }

    func testSingleImagesAndIdentity() throws {
        var generator = RandomGenerator(seed: 3)
        let image = try Tensor.uniform([3, 12, 12], generator: &generator)
        XCTAssertEqual(try ImageMetrics.ssim(image, image).item(), 1, accuracy: 1e-6)
        XCTAssertEqual(try ImageMetrics.mse(image, image).item(), 0)
        XCTAssertEqual(try ImageMetrics.psnr(image, image).item(), .infinity)
        let gray = try image.sliced(axis: 0, start: 0, end: 1).reshaped([12, 12])
        XCTAssertEqual(try ImageMetrics.ssim(gray, gray).shape, [])
        // PSNR of a constant error 0.1: 10 log10(1 / 0.01) = 20 dB.
        XCTAssertEqual(try ImageMetrics.psnr(image, try image + 0.1).item(), 20, accuracy: 1e-3)
    }

    func testCosineSimilarity() throws {
        let a = try Tensor(shape: [2, 2, 2], scalars: [1, 0, 0, 0, 1, 2, 3, 4])
        let b = try Tensor(shape: [2, 2, 2], scalars: [0, 1, 0, 0, 2, 4, 6, 8])
        assertClose(try ImageMetrics.cosineSimilarity(a, b), Tensor([0, 1]), atol: 1e-6)
    }

    func testErrors() throws {
        let small = try Tensor.zeros([1, 1, 8, 8])
        XCTAssertThrowsError(try ImageMetrics.ssim(small, small)) { error in
            XCTAssertTrue("\(error)".contains("smaller than the 11 x 11"), "\(error)")
        }
        XCTAssertThrowsError(try ImageMetrics.mse(try Tensor.zeros([1, 3, 4, 4]), try Tensor.zeros([1, 3, 4, 5])))
        XCTAssertThrowsError(try ImageMetrics.psnr(try Tensor.zeros([4]), try Tensor.zeros([4])))
    }
}
