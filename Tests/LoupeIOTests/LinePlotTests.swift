import XCTest
import LoupeIO
import LoupeTensor

/// Pixel checks on hand-derived cases. A 480x320 panel without a title has its plot area at
/// columns 60...463 and rows 24...283 (LinePlot's margins).
final class LinePlotTests: XCTestCase {
    func pixel(_ image: Tensor, _ row: Int, _ column: Int) -> [Float] {
        let h = image.shape[1], w = image.shape[2], s = image.scalars
        return (0..<3).map { s[$0 * h * w + row * w + column] }
    }

    func color(_ index: Int) -> [Float] {
        let c = LinePlot.palette[index]
        return [c.0, c.1, c.2]
    }

    func testHorizontalLineAxesAndLegend() throws {
        // y range [0, 10] (ticks of 2): value 5 maps to row 283 - round(0.5 * 259) = 153; a thick
        // line covers rows 153 and 154.
        let plot = LinePlot(panels: [.init(series: [.init(name: "a", values: [0, 10, 0]), .init(name: "b", values: [5, 5, 5])])])
        let image = try plot.render()
        XCTAssertEqual(image.shape, [3, 320, 480])
        for column in [70, 300, 450] {
            XCTAssertEqual(pixel(image, 153, column), color(1), "column \(column)")
            XCTAssertEqual(pixel(image, 154, column), color(1), "column \(column)")
            XCTAssertEqual(pixel(image, 152, column), [1, 1, 1], "column \(column)")
            XCTAssertEqual(pixel(image, 155, column), [1, 1, 1], "column \(column)")
        }
        // Series a peaks at x = 2, column 60 + round(403 / 2) = 262, row 24.
        XCTAssertEqual(pixel(image, 24, 262), color(0))
        // Axes: the left column and the bottom row of the plot area are black (away from where
        // series a starts, at column 60, row 283).
        for row in stride(from: 24, through: 270, by: 41) { XCTAssertEqual(pixel(image, row, 60), [0, 0, 0], "row \(row)") }
        for column in stride(from: 100, through: 463, by: 50) { XCTAssertEqual(pixel(image, 283, column), [0, 0, 0], "column \(column)") }
        // Legend box at columns 426..<457, rows 30..<58: swatches of a and b at rows 36-38 and 47-49.
        XCTAssertEqual(pixel(image, 37, 440), color(0))
        XCTAssertEqual(pixel(image, 48, 440), color(1))
        XCTAssertEqual(pixel(image, 30, 426), [0.6, 0.6, 0.6], "legend border")
        // Tick label "4" is drawn left of the axis around its row, 283 - round(0.4 * 259) = 179.
        let labelBand = (0..<60).flatMap { column in (176...182).map { pixel(image, $0, column)[0] } }
        XCTAssertTrue(labelBand.contains(0), "a tick label left of the axis")
    }

    func testNaNBreaksTheLineAndMarksIsolatedPoints() throws {
        // y range [0, 4] (ticks of 1): value 1 maps to row 283 - round(259 / 4) = 218. x = 1...4
        // map to columns 60, 194, 329, 463.
        let plot = LinePlot(panels: [.init(series: [.init(name: "", values: [1, .nan, 1, 1]), .init(name: "", values: [0, 4, 0, 4])])])
        let image = try plot.render()
        XCTAssertEqual(pixel(image, 218, 400), color(0), "segment from x = 3 to 4")
        XCTAssertEqual(pixel(image, 218, 250), [0.9, 0.9, 0.9], "no segment across the nan: the grid line shows")
        XCTAssertEqual(pixel(image, 217, 61), color(0), "marker on the isolated first point")
    }

    func testMultiplePanelsAndTitle() throws {
        let plot = LinePlot(panels: [.init(title: "loss", series: [.init(name: "train", values: [2, 1])]),
                                     .init(title: "accuracy", series: [.init(name: "train", values: [0.5, 0.9])])],
                            title: "run 1")
        XCTAssertEqual(try plot.render().shape, [3, 336, 960])
    }

    func testInvalidSeriesAreExplained() {
        func message(_ panels: [LinePlot.Panel]) -> String {
            do { try LinePlot(panels: panels).validate(); return "" } catch { return "\(error)" }
        }
        XCTAssertTrue(message([]).contains("nothing to draw"))
        XCTAssertTrue(message([.init(series: [])]).contains("no series"))
        XCTAssertTrue(message([.init(series: [.init(name: "x", values: [])])]).contains("series 'x' is empty"))
        XCTAssertTrue(message([.init(series: [.init(name: "a", values: [1, 2]), .init(name: "b", values: [1])])])
            .contains("series 'b' has 1 points but 'a' has 2"))
        XCTAssertTrue(message([.init(series: [.init(name: "", values: [.nan, .infinity])])]).contains("no finite value"))
    }

    func testTicksAndLabels() {
        XCTAssertEqual(LinePlot.niceStep(2), 2)
        XCTAssertEqual(LinePlot.niceStep(0.3), 0.5)
        XCTAssertEqual(LinePlot.niceStep(7), 10)
        let range = LinePlot.yRange([0.05, 0.93])
        XCTAssertEqual(range.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(range.lo, 0, accuracy: 1e-12)
        XCTAssertEqual(range.hi, 1, accuracy: 1e-12)
        XCTAssertEqual(LinePlot.label(0.4, step: 0.2), "0.4")
        XCTAssertEqual(LinePlot.label(0.25, step: 0.05), "0.25")
        XCTAssertEqual(LinePlot.label(10, step: 2), "10")
        XCTAssertEqual(LinePlot.label(2e6, step: 1e6), "2.0e+06")
        XCTAssertEqual(BitmapFont.width(of: "ab"), 11)
        XCTAssertEqual(BitmapFont.glyph("a"), BitmapFont.glyph("A"))
        XCTAssertNotEqual(BitmapFont.glyph("%"), BitmapFont.glyph("~"))
    }
}
