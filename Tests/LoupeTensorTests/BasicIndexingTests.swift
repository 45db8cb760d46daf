import XCTest
@testable import LoupeTensor
import LoupeTestSupport

/// NumPy basic indexing (`indexed`), index assignment (`replacing`) and Python slice resolution
/// (`SliceRange`), with hand-derived values (numpy gives the same for these expressions).
final class BasicIndexingTests: XCTestCase {
    func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return (error as? LoupeError)?.message ?? "\(error)" }
    }

    /// Python's slice semantics: clamped bounds, negative bounds and steps.
    func testSliceRangeMatchesPython() throws {
        func positions(_ start: Int?, _ end: Int?, _ step: Int?, _ n: Int) throws -> [Int] {
            try SliceRange(start: start, end: end, step: step, length: n).indices
        }
        XCTAssertEqual(try positions(nil, nil, nil, 5), [0, 1, 2, 3, 4])
        XCTAssertEqual(try positions(1, nil, 2, 5), [1, 3])          // range(5)[1::2]
        XCTAssertEqual(try positions(nil, nil, -1, 5), [4, 3, 2, 1, 0])
        XCTAssertEqual(try positions(-2, nil, nil, 5), [3, 4])
        XCTAssertEqual(try positions(nil, -10, -2, 5), [4, 2, 0])
        XCTAssertEqual(try positions(3, 1, -1, 5), [3, 2])
        XCTAssertEqual(try positions(10, 20, nil, 5), [])
        XCTAssertEqual(try positions(-10, 2, nil, 5), [0, 1])
        XCTAssertEqual(try positions(nil, nil, -1, 0), [])
        XCTAssertEqual(message { try SliceRange(start: nil, end: nil, step: 0, length: 3) }, "index: slice step cannot be zero")
    }

    /// x = arange(24).reshape(2, 3, 4): x[1, ::2, None, 1:] and x[-1, ::-1, 2].
    func testIndexedViews() throws {
        let x = try Tensor.arange(end: 24).reshaped([2, 3, 4])
        let a = try x.indexed([.index(1), .range(start: nil, end: nil, step: 2), .newAxis, .range(start: 1, end: nil, step: nil)])
        XCTAssertEqual(a.shape, [2, 1, 3])
        XCTAssertEqual(a.scalars, [13, 14, 15, 21, 22, 23])
        XCTAssertTrue(a.storage === x.storage, "basic indexing is a view")
        let b = try x.indexed([.index(-1), .range(start: nil, end: nil, step: -1), .index(2)])
        XCTAssertEqual(b.shape, [3])
        XCTAssertEqual(b.scalars, [22, 18, 14])
        XCTAssertEqual(try x.indexed([]).shape, [2, 3, 4])
        XCTAssertEqual(try x.indexed([.index(0), .index(1), .index(2)]).shape, [])
        XCTAssertEqual(try x.indexed([.index(0), .index(1), .index(2)]).item(), 6)
        XCTAssertEqual(try x.indexed([.all, .range(start: 5, end: nil, step: nil)]).shape, [2, 0, 4])
        // On a strided view: the transposed [4, 3, 2] tensor.
        let t = try x.permuted([2, 1, 0])
        XCTAssertEqual(try t.indexed([.index(3), .all, .index(1)]).scalars, [15, 19, 23])
    }

    func testIndexedGradientFlowsIntoTheRegion() throws {
        let x = try Tensor.arange(end: 6).reshaped([2, 3])
        try assertGradientsMatchFiniteDifferences([x]) { inputs in
            try inputs[0].indexed([.all, .range(start: nil, end: nil, step: -2)]).pow(2).sum()
        }
        let leaf = x.requiringGrad()
        let grad = try Autograd.gradients(of: try leaf.indexed([.index(1), .range(start: 1, end: nil, step: nil)]).sum(), wrt: [leaf])[0]
        XCTAssertEqual(grad.scalars, [0, 0, 0, 0, 1, 1])
    }

    /// x[0, 1:] = [7, 8]; x[:, ::2] = 5 (broadcast); a new axis in the region.
    func testReplacing() throws {
        let x = try Tensor.arange(end: 6).reshaped([2, 3])
        XCTAssertEqual(try x.replacing([.index(0), .range(start: 1, end: nil, step: nil)], with: Tensor([7, 8])).scalars, [0, 7, 8, 3, 4, 5])
        XCTAssertEqual(try x.replacing([.all, .range(start: nil, end: nil, step: 2)], with: Tensor(5)).scalars, [5, 1, 5, 5, 4, 5])
        XCTAssertEqual(try x.replacing([.index(-1), .newAxis], with: try Tensor.ones([1, 3])).scalars, [0, 1, 2, 1, 1, 1])
        XCTAssertEqual(try x.replacing([.range(start: 0, end: 0, step: nil)], with: Tensor(9)).scalars, x.scalars)
        XCTAssertEqual(x.scalars, [0, 1, 2, 3, 4, 5], "the original is unchanged")
    }

    func testReplacingGradients() throws {
        var generator = RandomGenerator(seed: 3)
        let x = try Tensor.uniform([3, 4], generator: &generator)
        let v = try Tensor.uniform([2], generator: &generator)
        try assertGradientsMatchFiniteDifferences([x, v]) { inputs in
            let y = try inputs[0].replacing([.range(start: nil, end: nil, step: -2), .index(1)], with: inputs[1])
            return try (y * y * y).sum()
        }
    }

    func testErrorMessages() throws {
        let x = try Tensor.zeros([2, 3])
        XCTAssertEqual(message { try x.indexed([.index(0), .all, .all]) }, "index: 3 indices for a tensor of shape [2, 3]")
        XCTAssertEqual(message { try x.indexed([.all, .index(-4)]) }, "index: index -4 is out of range for axis 1 of size 3 (shape [2, 3])")
        XCTAssertEqual(message { try x.indexed([.range(start: nil, end: nil, step: 0)]) }, "index: slice step cannot be zero")
        XCTAssertEqual(message { try x.replacing([.index(0)], with: Tensor([1, 2])) },
                       "index assignment: a value of shape [2] does not fit the selected region [3] of a tensor of shape [2, 3]")
    }
}
