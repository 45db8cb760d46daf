import XCTest
@testable import LoupeIO
import LoupeTensor

final class BoxDrawingTests: XCTestCase {
    let red = SIMD3<Float>(1, 0, 0)

    /// The RGB value at (x, y) of an image [3, H, W].
    func rgb(_ image: Tensor, _ x: Int, _ y: Int) -> SIMD3<Float> {
        let h = image.shape[1], w = image.shape[2], s = image.scalars
        return SIMD3(s[y * w + x], s[h * w + y * w + x], s[2 * h * w + y * w + x])
    }

    /// The coordinates (x, y) of pixels of `color`.
    func pixels(of color: SIMD3<Float>, in image: Tensor) -> Set<[Int]> {
        var found = Set<[Int]>()
        for y in 0..<image.shape[1] { for x in 0..<image.shape[2] where rgb(image, x, y) == color { found.insert([x, y]) } }
        return found
    }

    /// The pixels of the one-pixel outline of columns x0...x1, rows y0...y1.
    func outline(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> Set<[Int]> {
        var set = Set<[Int]>()
        for x in x0...x1 { set.insert([x, y0]); set.insert([x, y1]) }
        for y in y0...y1 { set.insert([x0, y]); set.insert([x1, y]) }
        return set
    }

    func testOutlineOfAnIntegerBoxOnAGrayImage() throws {
        let gray = try Tensor.full([1, 10, 12], 0.5)
        let drawn = try Images.drawBoxes([BoxAnnotation(x0: 2, y0: 3, x1: 7, y1: 8, color: red)], on: gray)
        XCTAssertEqual(drawn.shape, [3, 10, 12])
        // Columns 2...6 and rows 3...7: the last column and row are x1 - 1 and y1 - 1.
        XCTAssertEqual(pixels(of: red, in: drawn), outline(2, 3, 6, 7))
        XCTAssertEqual(pixels(of: red, in: drawn).count, 16)
        XCTAssertEqual(pixels(of: SIMD3(0.5, 0.5, 0.5), in: drawn).count, 120 - 16)
        XCTAssertEqual(gray.scalars, [Float](repeating: 0.5, count: 120), "the input is not changed")
        // A rank-2 image is gray too.
        let plain = try Images.drawBoxes([BoxAnnotation(x0: 2, y0: 3, x1: 7, y1: 8, color: red)], on: try Tensor.zeros([10, 12]))
        XCTAssertEqual(pixels(of: red, in: plain), outline(2, 3, 6, 7))
    }

    func testLineWidthGrowsInward() throws {
        let image = try Tensor.zeros([3, 12, 12])
        let box = BoxAnnotation(x0: 1, y0: 1, x1: 11, y1: 9, color: red)
        let two = try Images.drawBoxes([box], on: image, lineWidth: 2)
        XCTAssertEqual(pixels(of: red, in: two), outline(1, 1, 10, 8).union(outline(2, 2, 9, 7)))
        // The default is one pixel below 64 pixels a side and two from 64.
        XCTAssertEqual(pixels(of: red, in: try Images.drawBoxes([box], on: image)), outline(1, 1, 10, 8))
        let large = try Images.drawBoxes([box], on: try Tensor.zeros([3, 64, 64]))
        XCTAssertEqual(pixels(of: red, in: large), outline(1, 1, 10, 8).union(outline(2, 2, 9, 7)))
        // A box too thin for the inner ring keeps its single line; an empty box is one pixel.
        let thin = try Images.drawBoxes([BoxAnnotation(x0: 3, y0: 3, x1: 6, y1: 4, color: red)], on: image, lineWidth: 2)
        XCTAssertEqual(pixels(of: red, in: thin), [[3, 3], [4, 3], [5, 3]])
        let dot = try Images.drawBoxes([BoxAnnotation(x0: 5, y0: 5, x1: 5, y1: 5, color: red)], on: image)
        XCTAssertEqual(pixels(of: red, in: dot), [[5, 5]])
    }

    func testFractionalCornersRound() throws {
        let drawn = try Images.drawBoxes([BoxAnnotation(x0: 1.4, y0: 1.6, x1: 4.5, y1: 5.5, color: red)], on: try Tensor.zeros([3, 8, 8]))
        // round(1.4) = 1, round(1.6) = 2, round(4.5) - 1 = 4, round(5.5) - 1 = 5.
        XCTAssertEqual(pixels(of: red, in: drawn), outline(1, 2, 4, 5))
    }

    func testBoxesPartlyOutsideAreClipped() throws {
        let image = try Tensor.zeros([3, 10, 10])
        let corner = try Images.drawBoxes([BoxAnnotation(x0: -5, y0: -5, x1: 3, y1: 3, color: red)], on: image, lineWidth: 1)
        // Only the right column (x = 2) and the bottom row (y = 2) fall inside.
        XCTAssertEqual(pixels(of: red, in: corner), [[2, 0], [2, 1], [2, 2], [0, 2], [1, 2]])
        // Its caption strip starts at the image's corner.
        let captioned = try Images.drawBoxes([BoxAnnotation(x0: -5, y0: -5, x1: 3, y1: 3, caption: "x", color: red)], on: image)
        XCTAssertEqual(rgb(captioned, 0, 0), red)
        XCTAssertEqual(rgb(captioned, 6, 8), red)
        XCTAssertEqual(rgb(captioned, 1, 1), SIMD3(1, 1, 1))  // "X" row 0 is "#...#", white on red
        XCTAssertEqual(rgb(captioned, 7, 0), SIMD3(0, 0, 0))
        let huge = try Images.drawBoxes([BoxAnnotation(x0: -1e30, y0: 4, x1: 1e30, y1: 6, color: red)], on: image)
        XCTAssertEqual(pixels(of: red, in: huge), Set((0..<10).flatMap { [[$0, 4], [$0, 5]] }))
        let outside = try Images.drawBoxes([BoxAnnotation(x0: 20, y0: 2, x1: 30, y1: 8, caption: "far", color: red)], on: image)
        XCTAssertEqual(outside.scalars, [Float](repeating: 0, count: 300))
    }

    func testCaptionStripAboveTheBox() throws {
        let white = SIMD3<Float>(1, 1, 1), black = SIMD3<Float>(0, 0, 0)
        let image = try Tensor.full([3, 40, 40], 0.25)
        let drawn = try Images.drawBoxes([BoxAnnotation(x0: 2, y0: 20, x1: 20, y1: 30, caption: "A", color: white)], on: image)
        // Strip: 9 rows above the box (11...19), 7 columns (2...8: the glyph and a pixel each side).
        // On white the text is black: "A"'s first row is ".###." at (3...7, 12).
        let glyph = BitmapFont.glyph("A")
        for y in 11...19 {
            for x in 2...8 {
                let row = y - 12, column = x - 3
                let isText = (0..<7).contains(row) && (0..<5).contains(column) && glyph[row] & (1 << (4 - column)) != 0
                XCTAssertEqual(rgb(drawn, x, y), isText ? black : white, "(\(x), \(y))")
            }
        }
        XCTAssertEqual(rgb(drawn, 4, 12), black)
        XCTAssertEqual(rgb(drawn, 3, 12), white)
        XCTAssertEqual(rgb(drawn, 9, 15), SIMD3(0.25, 0.25, 0.25))
        XCTAssertEqual(rgb(drawn, 2, 10), SIMD3(0.25, 0.25, 0.25))
    }

    func testCaptionStaysInsideTheImage() throws {
        let blue = SIMD3<Float>(0, 0, 1), white = SIMD3<Float>(1, 1, 1)
        let image = try Tensor.zeros([3, 40, 40])
        // At the top edge the strip goes inside the box's top (rows 2...10); on a dark colour the text is white.
        let top = try Images.drawBoxes([BoxAnnotation(x0: 0, y0: 2, x1: 20, y1: 30, caption: "I", color: blue)], on: image)
        XCTAssertEqual(rgb(top, 0, 2), blue)
        XCTAssertEqual(rgb(top, 6, 10), blue)
        XCTAssertEqual(rgb(top, 6, 11), SIMD3(0, 0, 0))
        XCTAssertEqual(rgb(top, 2, 3), white)  // "I" row 0 is ".###.": columns 2...4 at x = 1 + 1...3
        XCTAssertEqual(rgb(top, 1, 0), SIMD3(0, 0, 0))
        // At the right edge the strip is shifted left to end at the last column: 13 wide, 27...39.
        let right = try Images.drawBoxes([BoxAnnotation(x0: 35, y0: 20, x1: 40, y1: 30, caption: "AB", color: blue)], on: image)
        XCTAssertEqual(rgb(right, 27, 11), blue)
        XCTAssertEqual(rgb(right, 39, 19), blue)
        XCTAssertEqual(rgb(right, 26, 11), SIMD3(0, 0, 0))
    }

    func testCaptionsAndPalette() {
        XCTAssertEqual(BoxAnnotation.caption(name: "Bag", score: 0.934), "Bag 0.93")
        XCTAssertEqual(BoxAnnotation.caption(name: nil, score: 0.5), "0.50")
        XCTAssertEqual(BoxAnnotation.caption(name: "Coat", score: nil), "Coat")
        XCTAssertNil(BoxAnnotation.caption(name: nil, score: nil))
        XCTAssertEqual(Images.boxPalette.count, 20)
        XCTAssertEqual(Set(Images.boxPalette.map { [$0.x, $0.y, $0.z] }).count, 20)
        XCTAssertEqual(Images.boxColor(0), SIMD3(31, 119, 180) / 255)
        XCTAssertEqual(Images.boxColor(21), Images.boxColor(1))
        XCTAssertEqual(Images.boxColor(-1), Images.boxColor(19))
    }

    func testBadInputThrows() throws {
        let box = BoxAnnotation(x0: 0, y0: 0, x1: 2, y1: 2, color: red)
        assertThrowsLoupeError(["drawBoxes", "[2, 3, 4, 4]"]) { try Images.drawBoxes([box], on: try Tensor.zeros([2, 3, 4, 4])) }
        assertThrowsLoupeError(["drawBoxes", "1 or 3 channels", "[2, 4, 4]"]) { try Images.drawBoxes([box], on: try Tensor.zeros([2, 4, 4])) }
        let image = try Tensor.zeros([3, 4, 4])
        assertThrowsLoupeError(["box 1", "non-finite"]) {
            try Images.drawBoxes([box, BoxAnnotation(x0: .nan, y0: 0, x1: 2, y1: 2, color: red)], on: image)
        }
        assertThrowsLoupeError(["box 0", "x1 < x0"]) { try Images.drawBoxes([BoxAnnotation(x0: 3, y0: 0, x1: 2, y1: 2, color: red)], on: image) }
        assertThrowsLoupeError(["box 0", "colour"]) {
            try Images.drawBoxes([BoxAnnotation(x0: 0, y0: 0, x1: 2, y1: 2, color: SIMD3(.infinity, 0, 0))], on: image)
        }
        assertThrowsLoupeError(["line width", "0"]) { try Images.drawBoxes([box], on: image, lineWidth: 0) }
    }
}
