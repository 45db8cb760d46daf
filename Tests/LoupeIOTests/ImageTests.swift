import XCTest
@testable import LoupeIO
import LoupeTensor
import LoupeTestSupport

final class ImageTests: XCTestCase {
    func testResizeMatchesPyTorch() throws {
        var checked = 0
        for fixture in try Fixtures.load("images") where fixture.op == "bilinear" || fixture.op == "area" {
            let mode: Images.ResizeMode = fixture.op == "area" ? .area : .bilinear
            let output = try Images.resize(try fixture.tensor("input"), height: fixture.int("height")!, width: fixture.int("width")!,
                                           mode: mode, antialias: fixture.bool("antialias") ?? false)
            assertClose(output, try fixture.tensor("output"), rtol: 1e-5, atol: 1e-6, fixture.name)
            checked += 1
        }
        XCTAssertEqual(checked, 19)
    }

    func testResizeOfBatchAndErrors() throws {
        let batch = randomTensor([2, 3, 8, 8], seed: 1)
        let resized = try Images.resize(batch, height: 4, width: 4, mode: .area)
        XCTAssertEqual(resized.shape, [2, 3, 4, 4])
        // Area downscale by 2 is the 2x2 mean.
        let b = batch.scalars
        XCTAssertEqual(resized.scalars[0], (b[0] + b[1] + b[8] + b[9]) / 4, accuracy: 1e-6)
        assertThrowsLoupeError(["resize", "[5]"]) { try Images.resize(Tensor([1, 2, 3, 4, 5]), height: 2, width: 2) }
        assertThrowsLoupeError(["resize", "0 x 3", "[1, 2, 2]"]) { try Images.resize(try Tensor.zeros([1, 2, 2]), height: 0, width: 3) }
        assertThrowsLoupeError(["resize", "empty", "[1, 0, 2]"]) { try Images.resize(try Tensor.zeros([1, 0, 2]), height: 2, width: 2) }
    }

    func testColourAndCropMatchTorchvision() throws {
        for fixture in try Fixtures.load("images") {
            let input = try fixture.tensor("input")
            switch fixture.op {
            case "rgb_to_hsv":
                assertClose(try Images.rgbToHSV(input, hueUnit: .unit), try fixture.tensor("output"), rtol: 1e-5, atol: 1e-6, fixture.name)
                let degrees = try Images.rgbToHSV(input)
                XCTAssertEqual(degrees.scalars[1], 0)  // pure red has hue 0
                XCTAssertEqual(degrees.scalars[2], 120, accuracy: 1e-4)  // green-ish
                XCTAssertEqual(degrees.scalars[3], 360 * (4 - 0.125) / 6, accuracy: 1e-3)  // blue-ish: 232.5
                assertClose(try Images.hsvToRGB(degrees), input, rtol: 1e-5, atol: 1e-5, "hsv round trip")
            case "hsv_to_rgb":
                assertClose(try Images.hsvToRGB(input, hueUnit: .unit), try fixture.tensor("output"), rtol: 1e-5, atol: 1e-6, fixture.name)
            case "center_crop":
                let output = try Images.centerCrop(input, height: fixture.int("height")!, width: fixture.int("width")!)
                XCTAssertEqual(output.scalars, try fixture.tensor("output").scalars, fixture.name)
            default:
                continue
            }
        }
    }

    func testGrayscaleNormalizePadGrid() throws {
        let rgb = try Tensor(shape: [3, 1, 2], scalars: [1, 0, 0, 1, 0, 0.5])
        XCTAssertEqual(try Images.grayscale(rgb).scalars[0], 0.299, accuracy: 1e-7)
        XCTAssertEqual(try Images.grayscale(rgb).scalars[1], 0.587 + 0.057, accuracy: 1e-6)
        assertThrowsLoupeError(["grayscale", "[2, 1, 2]"]) { try Images.grayscale(try Tensor.zeros([2, 1, 2])) }

        let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
        let image = randomTensor([3, 4, 5], seed: 2)
        let normalized = try Images.normalize(image, mean: mean, std: std)
        XCTAssertEqual(normalized.scalars[20], (image.scalars[20] - 0.456) / 0.224, accuracy: 1e-6)
        assertClose(try Images.denormalize(normalized, mean: mean, std: std), image, rtol: 1e-5, atol: 1e-6)
        assertThrowsLoupeError(["normalize", "2 means", "3 channels", "[3, 4, 5]"]) { try Images.normalize(image, mean: [0, 0], std: [1, 1]) }
        assertThrowsLoupeError(["normalize", "zero"]) { try Images.normalize(image, mean: mean, std: [1, 0, 1]) }

        let padded = try Images.pad(try Tensor.ones([1, 2, 2]), top: 1, bottom: 0, left: 2, right: 1, value: -1)
        XCTAssertEqual(padded.shape, [1, 3, 5])
        XCTAssertEqual(padded.scalars, [-1, -1, -1, -1, -1, -1, -1, 1, 1, -1, -1, -1, 1, 1, -1])
        assertThrowsLoupeError(["pad", "non-negative"]) { try Images.pad(padded, top: -1, bottom: 0, left: 0, right: 0) }

        let tiles = [try Tensor.ones([3, 2, 2]), try Tensor.zeros([1, 2, 2]), try Tensor.full([2, 2], 0.5)]
        let grid = try Images.grid(tiles, columns: 2, padding: 1, padValue: 0.25)
        XCTAssertEqual(grid.shape, [3, 7, 7])  // 2 rows, 2 columns of 2x2 with padding 1
        let g = grid.scalars
        XCTAssertEqual(g[0], 0.25)
        XCTAssertEqual(g[1 * 7 + 1], 1)       // first tile
        XCTAssertEqual(g[1 * 7 + 4], 0)       // second tile (gray repeated)
        XCTAssertEqual(g[4 * 7 + 1], 0.5)     // third tile, second row
        XCTAssertEqual(g[4 * 7 + 4], 0.25)    // empty cell
        XCTAssertEqual(try Images.grid([randomTensor([5, 1, 3, 3], seed: 3)], columns: 8, padding: 0).shape, [1, 3, 15])
        assertThrowsLoupeError(["grid", "[3, 3, 3]"]) { try Images.grid([try Tensor.zeros([3, 2, 2]), try Tensor.zeros([3, 3, 3])]) }
        assertThrowsLoupeError(["grid", "no images"]) { try Images.grid([]) }

        assertThrowsLoupeError(["centerCrop", "5 x 5", "[3, 4, 4]"]) { try Images.centerCrop(try Tensor.zeros([3, 4, 4]), height: 5, width: 5) }
        assertThrowsLoupeError(["crop", "[3, 4, 4]"]) { try Images.crop(try Tensor.zeros([3, 4, 4]), top: 3, left: 0, height: 2, width: 2) }
    }
}
