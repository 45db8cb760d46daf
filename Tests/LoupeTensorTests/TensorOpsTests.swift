import XCTest
import Foundation
@testable import LoupeTensor
import LoupeTestSupport

/// Hand-derived cases, finite-difference gradients of composed functions and error messages for
/// the tensor ops.
final class TensorOpsTests: XCTestCase {
    func assertThrows(_ expected: String, file: StaticString = #filePath, line: UInt = #line,
                      _ body: () throws -> Any) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            XCTAssertEqual((error as? LoupeError)?.message, expected, file: file, line: line)
        }
    }

    func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1, shift: Float = 0) throws -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return try Tensor.normal(shape, mean: shift, std: scale, generator: &rng)
    }

    // MARK: By hand

    func testSplitChunkAndViews() throws {
        let x = try Tensor.arange(end: 10).reshaped([2, 5])
        let parts = try x.split(sizes: [2, 3], axis: 1)
        XCTAssertEqual(parts.map(\.shape), [[2, 2], [2, 3]])
        XCTAssertEqual(parts[1].scalars, [2, 3, 4, 7, 8, 9])
        XCTAssertTrue(parts[1].storage === x.storage, "split pieces are views")
        XCTAssertEqual(try x.chunk(2, axis: 1).map(\.shape), [[2, 3], [2, 2]])
        XCTAssertEqual(try Tensor.arange(end: 6).chunk(4).map(\.count), [2, 2, 2], "torch.chunk may give fewer pieces")
        XCTAssertEqual(try x.sliced(axis: 1, start: -1, step: -2).scalars, [4, 2, 0, 9, 7, 5])
        XCTAssertEqual(try x.sliced(axis: 1, start: 10, end: 20).shape, [2, 0])
        XCTAssertEqual(try x.indexed([.all, .index(-1)]).scalars, [4, 9])
        XCTAssertTrue(try x.indexed([.all, .index(-1)]).storage === x.storage, "integer indexing is a view")
        XCTAssertEqual(try x.indexed([.newAxis, .index(1)]).shape, [1, 5])
    }

    func testReductionsOnStridedViewsAndLargeSums() throws {
        let x = try Tensor.arange(end: 12).reshaped([3, 4]).transposed()  // [4, 3] view
        XCTAssertEqual(try x.sum(axes: [1]).scalars, [12, 15, 18, 21])
        XCTAssertEqual(try x.max(axes: [0]).scalars, [3, 7, 11])
        XCTAssertEqual(try x.argmax(axis: 1).scalars, [2, 2, 2, 2])
        XCTAssertEqual(try x.argmin().scalars, [0])
        // 1 + 2 + ... + 2^21 over the parallel single-row path, exact in float64 accumulation.
        let n = 1 << 21
        let big = try Tensor.arange(start: 1, end: Float(n) + 1)
        XCTAssertEqual(try big.sum().item(), Float(Double(n) * Double(n + 1) / 2))
        XCTAssertEqual(try big.max().item(), Float(n))
        XCTAssertEqual(try big.mean().item(), Float(Double(n + 1) / 2))
        XCTAssertEqual(try big.variance().item(), Float((Double(n) * Double(n) - 1) / 12), accuracy: 1e-5 * Float(n) * Float(n) / 12)
        XCTAssertEqual(try big.sliced(axis: 0, end: 30000).variance(unbiased: true).item(), Float(30000.0 * 30001 / 12), accuracy: 1)
        // Reducing leading axes (column sums, blocked and parallel) agrees with the row path.
        let y = try randomTensor([20, 3, 1200], seed: 5)
        assertClose(try y.sum(axes: [0, 1]), try y.permuted([2, 0, 1]).sum(axes: [1, 2]), rtol: 1e-5, atol: 1e-5, "sum of leading axes")
        assertClose(try y.mean(axes: [0], keepDims: true), try y.permuted([1, 2, 0]).mean(axes: [2]).unsqueezed(axis: 0),
                    rtol: 1e-5, atol: 1e-6, "mean of the first axis")
    }

    func testCreation() throws {
        XCTAssertEqual(try Tensor.eye(2).scalars, [1, 0, 0, 1])
        XCTAssertEqual(try Tensor.linspace(0, 1, count: 5).scalars, [0, 0.25, 0.5, 0.75, 1])
        var a = RandomGenerator(seed: 7), b = RandomGenerator(seed: 7)
        let u = try Tensor.uniform([1000], low: -2, high: 3, generator: &a)
        XCTAssertEqual(u.scalars, try Tensor.uniform([1000], low: -2, high: 3, generator: &b).scalars)
        XCTAssertTrue(u.scalars.allSatisfy { $0 >= -2 && $0 < 3 })
        let r = try Tensor.randint([1000], low: -1, high: 2, generator: &a)
        XCTAssertEqual(Set(r.scalars), [-1, 0, 1])
        let z = try Tensor.normal([20000], mean: 1, std: 2, generator: &a)
        XCTAssertEqual(try z.mean().item(), 1, accuracy: 0.05)
        XCTAssertEqual(try z.standardDeviation().item(), 2, accuracy: 0.05)
    }

    /// Hand-derived: diag(3, -2) padded to 3x2 has singular values 3 and 2; random wide and tall
    /// matrices are rebuilt from u diag(s) vh with orthonormal u columns and vh rows.
    func testSingularValueDecomposition() throws {
        let known = try Tensor(shape: [3, 2], scalars: [0, 3, -2, 0, 0, 0])
        let (_, s, _) = try known.singularValueDecomposition()
        assertClose(s, try Tensor(shape: [2], scalars: [3, 2]), rtol: 0, atol: 1e-6)
        for shape in [[5, 3], [3, 5], [4, 4]] {
            let a = try randomTensor(shape, seed: 7)
            let (u, s, vh) = try a.singularValueDecomposition()
            let k = min(shape[0], shape[1])
            XCTAssertEqual(u.shape, [shape[0], k]); XCTAssertEqual(s.shape, [k]); XCTAssertEqual(vh.shape, [k, shape[1]])
            XCTAssertEqual(s.scalars, s.scalars.sorted(by: >))
            assertClose(try (u * s.reshaped([1, k])).matmul(vh), a, rtol: 1e-4, atol: 1e-5, "u diag(s) vh = a \(shape)")
            assertClose(try u.transposed(0, 1).matmul(u), try Tensor.eye(k), rtol: 0, atol: 1e-5, "u^T u = I")
            assertClose(try vh.matmul(vh.transposed(0, 1)), try Tensor.eye(k), rtol: 0, atol: 1e-5, "vh vh^T = I")
        }
        XCTAssertThrowsError(try Tensor([1, 2, 3]).singularValueDecomposition()) { error in
            XCTAssertTrue("\(error)".contains("svd: expected a matrix, got shape [3]"), "\(error)")
        }
    }

    func testPseudoInverseProperties() throws {
        let a = try randomTensor([6, 4], seed: 3)
        let p = try a.pseudoInverse()
        XCTAssertEqual(p.shape, [4, 6])
        assertClose(try a.matmul(p).matmul(a), a, rtol: 1e-4, atol: 1e-4, "A A+ A = A")
        assertClose(try p.matmul(a), try Tensor.eye(4), rtol: 1e-4, atol: 1e-4, "A+ A = I for full column rank")
        XCTAssertFalse(try a.requiringGrad().pseudoInverse().requiresGrad, "pinv is not recorded")
    }

    func testComparisonsAndNoGradMode() throws {
        let x = Tensor([1, 2, 3])
        XCTAssertEqual(try x.greater(Tensor(2)).scalars, [0, 0, 1])
        XCTAssertEqual(try x.lessOrEqual(Tensor(2)).scalars, [1, 1, 0])
        let leaf = x.requiringGrad()
        XCTAssertFalse(try leaf.greater(Tensor(2)).requiresGrad)
        XCTAssertFalse(try GradMode.withoutGrad { try leaf.exp().sum() }.requiresGrad)
        XCTAssertEqual(try Tensor(4).sqrt().item(), 2)
        XCTAssertEqual(try Tensor([-1, 0.5, 3]).clamped(min: 1, max: 0).scalars, [0, 0, 0], "max wins when min > max")
        XCTAssertTrue(try Tensor([.nan]).clamped(min: 0, max: 1).item().isNaN)
        XCTAssertTrue(try Tensor([.nan, 1]).max().item().isNaN)
        XCTAssertTrue(try Tensor([.nan, 1, 2]).maximum(Tensor([0, .nan, 1])).scalars.prefix(2).allSatisfy(\.isNaN))
        XCTAssertTrue(try Tensor([.nan, 1, 2]).minimum(Tensor([0, .nan, 1])).scalars.prefix(2).allSatisfy(\.isNaN))
        XCTAssertEqual(try Tensor([1, .nan, 3]).argmax().item(), 1, "NaN counts as the largest")
        XCTAssertEqual(try Tensor([0]).norm().requiringGrad().item(), 0)
        // The 2-norm's gradient at 0 is 0, not NaN (as torch).
        let zero = try Tensor.zeros([3]).requiringGrad()
        try zero.norm().backward()
        XCTAssertEqual(zero.grad?.scalars, [0, 0, 0])
    }

    // MARK: Finite differences of composed functions

    func testComposedGradientsMatchFiniteDifferences() throws {
        let x = try randomTensor([3, 4], seed: 11)
        let y = try randomTensor([4], seed: 12, scale: 0.5)
        let pos = try randomTensor([3, 1], seed: 13, scale: 0.2, shift: 3)
        try assertGradientsMatchFiniteDifferences([x, y, pos]) { t in
            try t[2].pow(t[1]).maximum(t[0]).logSumExp(axes: [1]).sum()
        }
        try assertGradientsMatchFiniteDifferences([x, y, pos]) { t in
            try Tensor.where(t[0].greater(Tensor(0)), t[0].tanh(), t[1].sigmoid()).variance(axes: [0], unbiased: true).sum()
        }
        try assertGradientsMatchFiniteDifferences([x, y, pos]) { t in
            try Tensor.where(t[0].greater(Tensor(0)), t[0].tanh(), t[1].sigmoid()).variance(axes: [0], unbiased: true).norm(p: 3)
        }
        try assertGradientsMatchFiniteDifferences([x]) { t in
            let p = try t[0].padded([(1, 2), (2, 1)], mode: .reflect).rolled(shifts: [1, -2], axes: [0, 1])
            let s = try p.sliced(axis: 1, start: 1, end: nil, step: 2).flipped(axes: [0])
            return try s.tiled([2, 1]).repeated(2, axis: 0).gelu().mean(axes: [0]).standardDeviation()
        }
        let index = try Tensor(shape: [2, 4], scalars: [0, 2, 1, 0, 2, 2, 0, 1])
        try assertGradientsMatchFiniteDifferences([x, y]) { t in
            let g = try t[0].transposed().gather(axis: 1, index: try index.transposed())  // [4, 2]
            let s = try Tensor.zeros([3, 4]).scatterAdd(axis: 0, index: index, source: try t[0].sliced(axis: 0, end: 2))
            let c = try Tensor.concat([g.transposed(), Tensor.stack([t[1], t[1].silu()])], axis: 0)
            return try (c.softplus().reshaped([2, 8]).sum(axes: [1], keepDims: true) * s.sliced(axis: 0, end: 2).indexSelect(axis: 0, indices: [1, 0])).sum()
                + Tensor.outer(t[1], t[0].indexed([.index(1)])).clamped(min: -0.3, max: 0.8).sum()
        }
    }

    // MARK: Errors name the op and the shapes

    func testErrorMessages() throws {
        let x = try Tensor.zeros([2, 3])
        assertThrows("sum: axis 2 is out of range for a tensor of rank 2") { try x.sum(axes: [2]) }
        assertThrows("mean: repeated axis in [1, -1] for a tensor of shape [2, 3]") { try x.mean(axes: [1, -1]) }
        assertThrows("max: cannot reduce an empty axis of a tensor of shape [2, 0]") { try Tensor.zeros([2, 0]).max(axes: [1]) }
        assertThrows("argmax: axis -3 is out of range for a tensor of rank 2") { try x.argmax(axis: -3) }
        assertThrows("norm: p must be positive or infinity, got 0.0") { try x.norm(p: 0) }
        assertThrows("pow: shapes [2, 3] and [2] cannot be broadcast together") { try x.pow(Tensor([1, 2])) }
        assertThrows("maximum: shapes [2, 3] and [4] cannot be broadcast together") { try x.maximum(Tensor.zeros([4])) }
        assertThrows("where: shapes [2, 3] and [2] cannot be broadcast together") { try Tensor.where(x, x, Tensor([1, 2])) }
        assertThrows("greater: shapes [2, 3] and [5] cannot be broadcast together") { try x.greater(Tensor.zeros([5])) }
        assertThrows("clamp: at least one of min and max must be given") { try x.clamped(min: nil, max: nil) }
        assertThrows("concat: shapes [2, 3] and [3, 3] differ outside axis 1") { try Tensor.concat([x, Tensor.zeros([3, 3])], axis: 1) }
        assertThrows("concat: no tensors given") { try Tensor.concat([]) }
        assertThrows("stack: shapes [2, 3] and [3, 2] differ") { try Tensor.stack([x, Tensor.zeros([3, 2])]) }
        assertThrows("unsqueeze: axis 3 is out of range for a tensor of shape [2, 3]") { try x.unsqueezed(axis: 3) }
        assertThrows("split: sizes [1, 1] do not add up to 3, the length of axis 1 of shape [2, 3]") { try x.split(sizes: [1, 1], axis: 1) }
        assertThrows("chunk: count must be positive, got 0") { try x.chunk(0) }
        assertThrows("slice: invalid step 0 (axis 0 of shape [2, 3])") { try x.sliced(axis: 0, step: 0) }
        assertThrows("index_select: index 3 is out of range for axis 1 of shape [2, 3]") { try x.indexSelect(axis: 1, indices: [0, 3]) }
        assertThrows("gather: index 3.0 is out of range for axis 1 of shape [2, 3]") { try x.gather(axis: 1, index: Tensor.full([2, 1], 3)) }
        assertThrows("gather: index of shape [3, 1] does not fit input of shape [2, 3] along axis 1") { try x.gather(axis: 1, index: Tensor.zeros([3, 1])) }
        assertThrows("scatter_add: index of shape [2] does not fit input [2, 3] and source [2, 3] along axis 0") {
            try x.scatterAdd(axis: 0, index: Tensor.zeros([2]), source: x) }
        assertThrows("pad: reflect widths [(3, 0)] must be smaller than axis 1 of shape [2, 3]") { try x.padded([(3, 0)], mode: .reflect) }
        assertThrows("pad: 3 axis widths [(1, 1), (1, 1), (1, 1)] given for a tensor of shape [2, 3]") { try x.padded([(1, 1), (1, 1), (1, 1)]) }
        assertThrows("pad: negative width in [(-1, 0)] for shape [2, 3]") { try x.padded([(-1, 0)]) }
        assertThrows("roll: 2 shifts given for 1 axes") { try x.rolled(shifts: [1, 2], axes: [0]) }
        assertThrows("flip: axis 5 is out of range for a tensor of rank 2") { try x.flipped(axes: [5]) }
        assertThrows("tile: multiples [-1] must be non-negative") { try x.tiled([-1]) }
        assertThrows("repeat_interleave: count must be non-negative, got -2") { try x.repeated(-2, axis: 0) }
        assertThrows("index: 3 indices for a tensor of shape [2, 3]") { try x.indexed([.index(0), .all, .all]) }
        assertThrows("index: index 2 is out of range for axis 0 of size 2 (shape [2, 3])") { try x.indexed([.index(2)]) }
        assertThrows("outer: expected two vectors, got shapes [2, 3] and [3]") { try Tensor.outer(x, Tensor([1, 2, 3])) }
        assertThrows("pinv: expected a matrix, got shape [3]") { try Tensor([1, 2, 3]).pseudoInverse() }
        assertThrows("arange: invalid range start 0.0, end 1.0, step 0.0") { try Tensor.arange(start: 0, end: 1, step: 0) }
        assertThrows("linspace: count must be non-negative, got -1") { try Tensor.linspace(0, 1, count: -1) }
        assertThrows("eye: sizes must be non-negative, got -1 x -1") { try Tensor.eye(-1) }
        // Extreme arguments throw instead of trapping.
        assertThrows("arange: range start 0.0, end 1e+30, step 1.0 is too large") { try Tensor.arange(end: 1e30) }
        assertThrows("tile: tiling shape [2, 3] by [9223372036854775807, 2] is too large") { try x.tiled([Int.max, 2]) }
        assertThrows("repeat_interleave: repeating shape [2, 3] 4611686018427387904 times is too large") { try x.repeated(1 << 62, axis: 1) }
        assertThrows("pad: widths [(0, 9223372036854775807)] are too large for shape [2, 3]") { try x.padded([(0, Int.max)]) }
        XCTAssertEqual(try x.sliced(axis: 1, start: 0, end: nil, step: Int.max).shape, [2, 1])
        XCTAssertEqual(try x.sliced(axis: 1, step: -Int.max).shape, [2, 1])
        XCTAssertEqual(try Tensor.arange(end: 4).rolled(shifts: [Int.min], axes: [0]).scalars, [0, 1, 2, 3])
        var rng = RandomGenerator(seed: 1)
        assertThrows("randint: range -9223372036854775808..<9223372036854775807 is too large") {
            try Tensor.randint([1], low: Int.min, high: Int.max, generator: &rng) }
        assertThrows("randint: empty range 3..<3") { try Tensor.randint([2], low: 3, high: 3, generator: &rng) }
        assertThrows("normal: negative dimension in shape [-1]") { try Tensor.normal([-1], generator: &rng) }
    }
}

final class FastMathTests: XCTestCase {
    /// The vectorized exp stays within 2 ulp of the C library over the whole float range it
    /// handles, and matches it exactly (fallback) outside.
    func testFastExpWithinTwoUlpOfLibm() {
        var inputs: [Float] = stride(from: -104, through: 90, by: 0.00731).map { Float($0) }
        inputs += [0, -0, .infinity, -.infinity, .nan, 88.7, -87.5, 1e-30, -1e-30]
        var outputs = [Float](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { src in
            outputs.withUnsafeMutableBufferPointer { dst in
                FastMath.exp(src.baseAddress!, dst.baseAddress!, count: src.count)
            }
        }
        var worst: Float = 0
        for (x, y) in zip(inputs, outputs) {
            let reference = Foundation.exp(x)
            if reference.isNaN { XCTAssertTrue(y.isNaN); continue }
            if reference == 0 || reference.isInfinite || !reference.isNormal { XCTAssertEqual(y, reference, "x = \(x)"); continue }
            let ulps = Swift.abs(y - reference) / reference.ulp
            worst = Swift.max(worst, ulps)
        }
        XCTAssertLessThanOrEqual(worst, 2, "worst error \(worst) ulp")
    }

    /// The vectorized tanh stays within 2 ulp of the C library (or 1e-7 absolute near 0).
    func testFastTanhCloseToLibm() {
        var inputs: [Float] = stride(from: -12, through: 12, by: 0.000913).map { Float($0) }
        inputs += [0, -0, .infinity, -.infinity, .nan, 1e-30, -1e-30, 0.625, -0.625]
        var outputs = [Float](repeating: 0, count: inputs.count)
        inputs.withUnsafeBufferPointer { src in
            outputs.withUnsafeMutableBufferPointer { dst in
                FastMath.tanh(src.baseAddress!, dst.baseAddress!, count: src.count)
            }
        }
        var worst: Float = 0
        for (x, y) in zip(inputs, outputs) {
            let reference = Foundation.tanh(x)
            if reference.isNaN { XCTAssertTrue(y.isNaN); continue }
            let ulps = Swift.abs(y - reference) / Swift.max(reference.magnitude.ulp, Float.leastNormalMagnitude)
            worst = Swift.max(worst, ulps)
        }
        XCTAssertLessThanOrEqual(worst, 2, "worst error \(worst) ulp")
    }
}
