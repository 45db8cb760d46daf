import XCTest
@testable import LoupeInversion
import LoupeTensor
import LoupeTestSupport

final class RecolorTests: XCTestCase {
    /// A 2 x 2 image: red, dark green (value 0.5), gray, and half-saturated blue.
    func sample() throws -> Tensor {
        try Tensor(shape: [3, 2, 2], scalars: [
            1, 0, 0.5, 0.5,     // R
            0, 0.5, 0.5, 0.5,   // G
            0, 0, 0.5, 1,       // B
        ])
    }

    func testSetRotateAndGray() throws {
        let image = try sample()
        // Setting the hue to blue: red -> (0, 0, 1); dark green -> (0, 0, 0.5); gray stays;
        // half-saturated blue stays.
        assertClose(try Recolor.recolor(image, try .named("blue")), try Tensor(shape: [3, 2, 2], scalars: [
            0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5, 1, 0.5, 0.5, 1]), atol: 1e-6, "set blue")
        // Rotating by 120: red -> green, green -> blue, blue (240) -> red (360).
        assertClose(try Recolor.recolor(image, .rotateHue(120)), try Tensor(shape: [3, 2, 2], scalars: [
            0, 0, 0.5, 1, 1, 0, 0.5, 0.5, 0, 0.5, 0.5, 0.5]), atol: 1e-6, "rotate 120")
        // Gray: ITU-R 601 luma in every channel.
        let luma: [Float] = [0.299, 0.587 * 0.5, 0.5, 0.299 * 0.5 + 0.587 * 0.5 + 0.114]
        assertClose(try Recolor.recolor(image, .gray), try Tensor(shape: [3, 2, 2], scalars: luma + luma + luma),
                    atol: 1e-6, "gray")
    }

    func testMaskBlendsAndBatches() throws {
        let image = try sample()
        let mask = try Tensor(shape: [2, 2], scalars: [1, 0, 0, 0.5])
        let result = try Recolor.recolor(image, .setHue(0), mask: mask)
        // Red unchanged (already hue 0); green outside the mask unchanged; blue half-blended
        // with its red version (1, 0.5, 0.5): (0.75, 0.5, 0.75).
        assertClose(result, try Tensor(shape: [3, 2, 2], scalars: [
            1, 0, 0.5, 0.75, 0, 0.5, 0.5, 0.5, 0, 0, 0.5, 0.75]), atol: 1e-6)
        let batch = try Tensor.stack([image, image], axis: 0)
        let batched = try Recolor.recolor(batch, .setHue(0), mask: mask)
        XCTAssertEqual(batched.shape, [2, 3, 2, 2])
        assertClose(try batched.sliced(axis: 0, start: 1, end: 2).reshaped([3, 2, 2]), result, atol: 1e-6)
        XCTAssertThrowsError(try Recolor.recolor(image, .gray, mask: try Tensor.ones([3, 3])))
        XCTAssertThrowsError(try Recolor.recolor(try Tensor.ones([1, 2, 2]), .gray))
        XCTAssertThrowsError(try ColorChange.named("purple"))
    }

    func testHueError() throws {
        let image = try sample()
        let rotated = try Recolor.recolor(image, .rotateHue(120))
        // Three coloured pixels, each 120 degrees away; the gray one is ignored.
        XCTAssertEqual(try Recolor.hueError(image, rotated).item(), 120, accuracy: 1e-3)
        // Rotating by 240 is also 120 degrees away on the circle.
        XCTAssertEqual(try Recolor.hueError(image, try Recolor.recolor(image, .rotateHue(240))).item(), 120, accuracy: 1e-3)
        XCTAssertEqual(try Recolor.hueError(image, image).item(), 0)
        // Only the red pixel inside the mask, compared with a 30 degree rotation.
        let mask = try Tensor(shape: [1, 2, 2], scalars: [1, 0, 0, 0])
        XCTAssertEqual(try Recolor.hueError(image, try Recolor.recolor(image, .rotateHue(-30)), mask: mask).item(), 30, accuracy: 1e-3)
        // A gray reconstruction keeps no coloured pixel: NaN error, fraction 0.
        let gray = try Recolor.recolor(image, .gray)
        XCTAssertTrue(try Recolor.hueError(image, gray).item().isNaN)
        XCTAssertEqual(try Recolor.coloredFraction(image, gray).item(), 0)
        XCTAssertEqual(try Recolor.coloredFraction(image, rotated).item(), 1)
    }

    func testHistogramDistance() throws {
        let red = try Tensor.concat([try Tensor.ones([1, 4, 4]), try Tensor.zeros([2, 4, 4])], axis: 0)
        let green = try Recolor.recolor(red, .setHue(120))
        XCTAssertEqual(try Recolor.histogramDistance(red, red).item(), 0, accuracy: 1e-6)
        XCTAssertEqual(try Recolor.histogramDistance(red, green).item(), 1, accuracy: 1e-6)
        // Half the pixels green: overlap sqrt(1 * 0.5), distance sqrt(1 - sqrt(0.5)).
        let half = try Recolor.recolor(red, .setHue(120), mask: try Tensor.concat([try Tensor.ones([2, 4]), try Tensor.zeros([2, 4])], axis: 0))
        XCTAssertEqual(try Recolor.histogramDistance(red, half).item(), Float((1 - 0.5.squareRoot()).squareRoot()), accuracy: 1e-5)
        // Inside a mask covering only the unchanged half, the distributions agree.
        let lower = try Tensor.concat([try Tensor.zeros([2, 4]), try Tensor.ones([2, 4])], axis: 0)
        XCTAssertEqual(try Recolor.histogramDistance(red, half, mask: lower).item(), 0, accuracy: 1e-6)
        // Float noise far below one 8-bit level does not change the histogram, even on black
        // pixels, whose hue and saturation it would otherwise decide.
        let darkRed = try Tensor.concat([try Tensor.full([1, 2, 4], 0.5), try Tensor.zeros([1, 2, 4])], axis: 1)
        let dark = try Tensor.concat([darkRed, try Tensor.zeros([2, 4, 4])], axis: 0)
        let noisy = try Tensor(shape: dark.shape, scalars: dark.scalars.enumerated().map { i, x in x + (i % 3 == 0 ? 1e-7 : 0) })
        XCTAssertEqual(try Recolor.histogramDistance(dark, noisy).item(), 0, accuracy: 1e-6)
        // Out-of-range and NaN values do not crash: NaN pixels are skipped, others clamped.
        let odd = try Tensor(shape: [3, 1, 2], scalars: [.nan, 7, 0, -3, 0, 1e30])
        XCTAssertFalse(try Recolor.histogramDistance(odd, odd).item().isNaN)
        XCTAssertNoThrow(try Recolor.hueError(odd, odd))
        XCTAssertNoThrow(try Recolor.recolor(odd, .rotateHue(90)))
    }
}
