import LoupeTensor
import XCTest
@testable import LoupeInputOptimization
import LoupeTestSupport

final class ImageGeometryTests: XCTestCase {
    /// Hand-derived whole-pixel shifts with zero fill.
    func testTranslateHandCases() throws {
        let x = try Tensor(shape: [1, 1, 2, 3], scalars: [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(try ImageGeometry.translated(x, dx: 1, dy: 0).scalars, [0, 1, 2, 0, 4, 5])
        XCTAssertEqual(try ImageGeometry.translated(x, dx: -1, dy: 1).scalars, [0, 0, 0, 2, 3, 0])
        XCTAssertEqual(try ImageGeometry.translated(x, dx: 0, dy: -1).scalars, [4, 5, 6, 0, 0, 0])
        XCTAssertEqual(try ImageGeometry.translated(x, dx: 5, dy: 0).scalars, [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(try ImageGeometry.translated(x, dx: 0, dy: 0).scalars, x.scalars)
    }

    /// lucent's `random_scale` for one scale and `random_rotate` for one angle, against numpy /
    /// scipy (Scripts/fixtures/input_transforms.py).
    func testScaleAndRotateMatchFixtures() throws {
        let cases = try Fixtures.load("input_transforms")
        XCTAssertEqual(cases.count, 18)
        for c in cases {
            let x = try c.tensor("x"), expected = try c.tensor("out")
            let produced: Tensor
            switch c.op {
            case "scale": produced = try ImageGeometry.scaled(x, by: (c.args["scale"] as? NSNumber)?.doubleValue ?? 0)
            case "rotate": produced = try ImageGeometry.rotated(x, degrees: (c.args["degrees"] as? NSNumber)?.doubleValue ?? 0)
            default: XCTFail("unknown op \(c.op)"); continue
            }
            assertClose(produced, expected, rtol: 0, atol: 2e-6, c.name)
        }
    }

    /// A quarter turn of a square image is a permutation (up to the rounding of cos 90°).
    func testQuarterTurnHandCase() throws {
        let x = try Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        // Counter-clockwise on screen: the top-right pixel moves to the top-left.
        assertClose(try ImageGeometry.rotated(x, degrees: 90), try Tensor(shape: [1, 1, 2, 2], scalars: [2, 4, 1, 3]),
                    rtol: 0, atol: 1e-6)
    }

    func testRotateAndScaleGradientsMatchFiniteDifferences() throws {
        var generator = RandomGenerator(seed: 4)
        let x = try Tensor.uniform([1, 2, 4, 5], generator: &generator)
        let weights = try Tensor.uniform([1, 2, 4, 5], low: -1, high: 1, generator: &generator)
        try assertGradientsMatchFiniteDifferences([x], step: 1e-2, rtol: 1e-2, atol: 1e-4) { inputs in
            try (ImageGeometry.rotated(inputs[0], degrees: 7) * weights).sum()
        }
        try assertGradientsMatchFiniteDifferences([x], step: 1e-2, rtol: 1e-2, atol: 1e-4) { inputs in
            try ImageGeometry.scaled(inputs[0], by: 0.9).pow(2).sum()
        }
    }

    func testErrors() throws {
        XCTAssertThrowsError(try ImageGeometry.rotated(try Tensor.zeros([2, 3]), degrees: 5)) { error in
            XCTAssertTrue("\(error)".contains("rotate: expected images [B, C, H, W], got [2, 3]"), "\(error)")
        }
        XCTAssertThrowsError(try ImageGeometry.scaled(try Tensor.zeros([1, 1, 2, 2]), by: 0)) { error in
            XCTAssertTrue("\(error)".contains("scale: factor 0.0 must be positive"), "\(error)")
        }
    }
}
