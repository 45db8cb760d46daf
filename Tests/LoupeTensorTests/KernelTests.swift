import XCTest
import Foundation
@testable import LoupeTensor
import LoupeTestSupport

/// Edge cases of the specialised kernels: broadcast layouts, odd lengths, views, and the
/// parallel split of large tensors. References are computed here element by element from
/// logical (row-major) values.
final class KernelTests: XCTestCase {
    /// Values 0.5, 1.5, ... scaled and shifted so every element differs.
    func values(_ count: Int, scale: Float = 0.25, shift: Float = -3) -> [Float] {
        (0..<count).map { Float($0 % 97) * scale + shift + Float($0 / 97) * 0.001 }
    }

    /// Row-major broadcast of two logical value arrays, element by element.
    func naiveBroadcast(_ a: [Float], _ sa: [Int], _ b: [Float], _ sb: [Int],
                        _ body: (Float, Float) -> Float) -> ([Float], [Int]) {
        let rank = max(sa.count, sb.count)
        let pa = [Int](repeating: 1, count: rank - sa.count) + sa
        let pb = [Int](repeating: 1, count: rank - sb.count) + sb
        let out = (0..<rank).map { pa[$0] == 1 ? pb[$0] : pa[$0] }
        let total = out.reduce(1, *)
        var result = [Float](repeating: 0, count: total)
        for flat in 0..<total {
            var rem = flat, ia = 0, ib = 0, ma = 1, mb = 1
            for axis in stride(from: rank - 1, through: 0, by: -1) {
                let i = rem % out[axis]
                rem /= out[axis]
                ia += (pa[axis] == 1 ? 0 : i) * ma
                ib += (pb[axis] == 1 ? 0 : i) * mb
                ma *= pa[axis]
                mb *= pb[axis]
            }
            result[flat] = body(a[ia], b[ib])
        }
        return (result, out)
    }

    func checkArithmetic(_ sa: [Int], _ sb: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        let va = values(sa.reduce(1, *)), vb = values(sb.reduce(1, *), scale: 0.125, shift: 0.75)
        let a = try Tensor(shape: sa, scalars: va), b = try Tensor(shape: sb, scalars: vb)
        let ops: [(String, (Tensor, Tensor) throws -> Tensor, (Float, Float) -> Float)] = [
            ("add", { try $0 + $1 }, { $0 + $1 }), ("sub", { try $0 - $1 }, { $0 - $1 }),
            ("mul", { try $0 * $1 }, { $0 * $1 }), ("div", { try $0 / $1 }, { $0 / $1 }),
            ("maximum", { try $0.maximum($1) }, { Swift.max($0, $1) }),
        ]
        for (name, op, reference) in ops {
            let (expected, shape) = naiveBroadcast(va, sa, vb, sb, reference)
            let actual = try op(a, b)
            XCTAssertEqual(actual.shape, shape, "\(name) \(sa) \(sb)", file: file, line: line)
            XCTAssertEqual(actual.scalars, expected, "\(name) \(sa) \(sb)", file: file, line: line)
        }
    }

    func testArithmeticBroadcastLayouts() throws {
        let cases: [([Int], [Int])] = [
            ([], []), ([7], []), ([], [7]), ([13], [13]), ([3, 5], [5]), ([3, 5], [3, 1]),
            ([2, 3, 4, 5], [1, 3, 1, 1]), ([2, 3, 4, 5], [3, 4, 5]), ([2, 1, 4], [3, 1]),
            ([4, 1, 3, 1], [1, 5, 1, 7]), ([1, 1, 9], [1]), ([2, 0, 3], [3]), ([5, 1], [1, 5]),
            ([6, 1, 1, 17], [6, 1, 1, 17]), ([1], [1, 1, 1]),
        ]
        for (sa, sb) in cases { try checkArithmetic(sa, sb) }
    }

    func testArithmeticLargeParallelOddLengths() throws {
        // Large enough to split over both cores; lengths not multiples of 8 or 16.
        for (sa, sb) in [([70_001], [70_001]), ([257, 301], [301]), ([257, 301], [257, 1]),
                         ([3, 11, 1601], [1, 11, 1]), ([40_003], [])] as [([Int], [Int])] {
            try checkArithmetic(sa, sb)
        }
    }

    func testLargeOutputsWrittenWithStreamingStores() throws {
        // At least StreamingStores.minimumCount floats, not a whole number of blocks or vectors:
        // the streamed path (one dimension or contiguous rows), and a broadcast that is not streamed.
        let count = StreamingStores.minimumCount + 1_029
        XCTAssertTrue(StreamingStores.pays(count: count, destination: Tensor.uninitialized([count]).storage.pointer))
        for (sa, sb) in [([count], [count]), ([2_053, 2_053], [2_053, 2_053]), ([2_053, 2_053], [2_053])] as [([Int], [Int])] {
            try checkArithmetic(sa, sb)
        }
        let v = values(count, scale: 0.37, shift: -9)
        let x = try Tensor(shape: [count], scalars: v)
        XCTAssertEqual(x.relu().scalars, v.map { $0 > 0 ? $0 : 0 })
        XCTAssertEqual(x.negated().scalars, v.map { -$0 })
    }

    func testArithmeticOnViews() throws {
        // A transposed view, a strided slice and an offset slice against contiguous operands.
        let base = try Tensor(shape: [37, 23], scalars: values(37 * 23))
        let t = try base.transposed()  // [23, 37]
        var logical = [Float](repeating: 0, count: 23 * 37)
        for i in 0..<23 { for j in 0..<37 { logical[i * 37 + j] = base.scalars[j * 23 + i] } }
        let other = try Tensor(shape: [23, 37], scalars: values(23 * 37, scale: 0.5, shift: 1))
        XCTAssertEqual(try (t + other).scalars, zip(logical, other.scalars).map { $0 + $1 })
        XCTAssertEqual(try (other * t).scalars, zip(other.scalars, logical).map { $0 * $1 })
        let row = try Tensor(shape: [37], scalars: values(37, shift: 2))
        XCTAssertEqual(try (t - row).scalars, (0..<(23 * 37)).map { logical[$0] - row.scalars[$0 % 37] })

        let strided = try base.sliced(axis: 1, start: 1, step: 2)  // [37, 11]
        let stridedLogical = (0..<37).flatMap { i in (0..<11).map { base.scalars[i * 23 + 1 + 2 * $0] } }
        let column = try Tensor(shape: [37, 1], scalars: values(37, shift: 5))
        XCTAssertEqual(try (strided / column).scalars,
                       (0..<(37 * 11)).map { stridedLogical[$0] / column.scalars[$0 / 11] })
        let tail = try base.sliced(axis: 0, start: 30)  // offset view [7, 23]
        XCTAssertEqual(try (tail + Tensor(1)).scalars, Array(base.scalars[(30 * 23)...]).map { $0 + 1 })
    }

    func testArithmeticErrorsNameOpAndShapes() throws {
        let a = try Tensor.zeros([2, 3]), b = try Tensor.zeros([4])
        for (name, op) in [("add", { try a + b }), ("sub", { try a - b }), ("mul", { try a * b }),
                           ("div", { try a / b })] as [(String, () throws -> Tensor)] {
            XCTAssertThrowsError(try op()) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(name) && message.contains("[2, 3]") && message.contains("[4]"), message)
            }
        }
    }

    /// Logical values of a view, read through its strides one element at a time.
    func stridedValues(_ t: Tensor) -> [Float] {
        let all = Array(UnsafeBufferPointer(start: t.storage.pointer, count: t.storage.count))
        return (0..<t.count).map { flat in
            var rem = flat, index = t.offset
            for axis in stride(from: t.rank - 1, through: 0, by: -1) {
                index += (rem % t.shape[axis]) * t.strides[axis]
                rem /= t.shape[axis]
            }
            return all[index]
        }
    }

    func testTransposedAndPermutedCopies() throws {
        for (rows, cols) in [(1, 5), (5, 1), (3, 7), (33, 65), (257, 130), (1000, 77)] {
            let x = try Tensor(shape: [rows, cols], scalars: values(rows * cols))
            let t = try x.transposed()
            var expected = [Float](repeating: 0, count: rows * cols)
            for i in 0..<rows { for j in 0..<cols { expected[j * rows + i] = x.scalars[i * cols + j] } }
            XCTAssertEqual(t.contiguousCopy().scalars, expected, "\(rows)x\(cols)")
        }
        let x = try Tensor(shape: [3, 37, 5, 41], scalars: values(3 * 37 * 5 * 41))
        for axes in [[0, 3, 2, 1], [3, 1, 2, 0], [1, 0, 3, 2], [2, 3, 0, 1], [0, 1, 3, 2]] {
            let p = try x.permuted(axes)
            XCTAssertEqual(p.contiguousCopy().scalars, stridedValues(p), "\(axes)")
        }
        // An offset, strided slice of a transpose, and a broadcast view.
        let slice = try x.permuted([0, 3, 2, 1]).sliced(axis: 1, start: 3, end: 40, step: 2)
        XCTAssertEqual(slice.contiguousCopy().scalars, stridedValues(slice))
        let column = try Tensor(shape: [6, 1], scalars: values(6)).expanded(to: [6, 9])
        XCTAssertEqual(column.contiguousCopy().scalars, stridedValues(column))
    }

    func testUnaryKernelsOnOddLengthsViewsAndLargeTensors() throws {
        for count in [1, 7, 9, 33, 70_001] {
            let v = values(count, scale: 0.37, shift: -9)
            let x = try Tensor(shape: [count], scalars: v)
            XCTAssertEqual(x.relu().scalars, v.map { $0 > 0 ? $0 : 0 })
            XCTAssertEqual(x.leakyRelu(slope: 0.1).scalars, v.map { $0 > 0 ? $0 : $0 * 0.1 })
            XCTAssertEqual(x.abs().scalars, v.map { Swift.abs($0) })
            XCTAssertEqual(x.negated().scalars, v.map { -$0 })
            XCTAssertEqual(x.abs().sqrt().scalars, v.map { Swift.abs($0).squareRoot() })
        }
        let base = try Tensor(shape: [9, 13], scalars: values(9 * 13))
        let t = try base.transposed()
        XCTAssertEqual(t.relu().scalars, stridedValues(t).map { $0 > 0 ? $0 : 0 })
        XCTAssertEqual(t.relu().shape, [13, 9])
    }

    func testActivationBackwardKernels() throws {
        let v: [Float] = [-2.5, -1.1, -0.3, 0.4, 0.9, 1.7, 3.2, -0.05, 0.6]  // odd length, no kinks hit
        let x = try Tensor(shape: [3, 3], scalars: v).requiringGrad()
        let weights = try Tensor(shape: [3, 3], scalars: values(9, scale: 0.3, shift: -1))
        for (name, f) in [("relu", { (t: Tensor) in t.relu() }), ("leaky", { $0.leakyRelu(slope: 0.2) }),
                          ("tanh", { $0.tanh() }), ("sigmoid", { $0.sigmoid() })] as [(String, (Tensor) -> Tensor)] {
            let grads = try Autograd.gradients(of: try (f(x) * weights).sum(), wrt: [x])
            let g = try XCTUnwrap(grads[0]).scalars
            for i in 0..<9 {
                let h: Float = 1e-2
                var plus = v, minus = v
                plus[i] += h; minus[i] -= h
                let fp = try (f(try Tensor(shape: [3, 3], scalars: plus)) * weights).sum().scalars[0]
                let fm = try (f(try Tensor(shape: [3, 3], scalars: minus)) * weights).sum().scalars[0]
                XCTAssertEqual(g[i], (fp - fm) / (2 * h), accuracy: 2e-3, "\(name) element \(i)")
            }
        }
        // A transposed (non-contiguous) upstream gradient.
        let y = try Tensor(shape: [2, 3], scalars: [-1, 2, -3, 4, -5, 6]).requiringGrad()
        let upstream = try Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6]).transposed()
        try y.relu().backward(seed: upstream)
        XCTAssertEqual(try XCTUnwrap(y.grad).scalars, [0, 3, 0, 2, 0, 6])
    }

    func testCoalescedLayoutMergesContiguousAxes() {
        let layout = CoalescedLayout(shape: [8, 64, 56, 56], stridesA: [200704, 3136, 56, 1], stridesB: [0, 1, 0, 0])
        XCTAssertEqual(layout.shape, [8, 64, 3136])
        XCTAssertEqual(layout.stridesA, [200704, 3136, 1])
        XCTAssertEqual(layout.stridesB, [0, 1, 0])
        let scalar = CoalescedLayout(shape: [1, 1], stridesA: [1, 1], stridesB: [0, 0])
        XCTAssertEqual(scalar.shape, [1])
    }
}

/// The vectorized erf / GELU against double-precision references, and the fused row kernels.
final class FastMathKernelTests: XCTestCase {
    func ulpDistance(_ a: Float, _ exact: Double) -> Double {
        let e = Float(exact)
        let ulp = Double(e == 0 ? Float.leastNonzeroMagnitude : e.ulp)
        return Swift.abs(Double(a) - exact) / ulp
    }

    func testErfWithinTwoUlpOnDenseSweep() throws {
        // Every 97th float bit pattern in [0, 10] (about 11 million values), both signs.
        var inputs: [Float] = []
        var bits: UInt32 = 0
        while Float(bitPattern: bits) <= 10 { inputs.append(Float(bitPattern: bits)); bits &+= 97 }
        inputs += inputs.map { -$0 }
        inputs += [1, -1, 0.99999994, 1.0000001, 9.3, 9.31, 3.9, .infinity, -.infinity, .nan, -0.0]
        let x = try Tensor(shape: [inputs.count], scalars: inputs)
        let y = x.erf().scalars
        var worst = 0.0, worstAt: Float = 0
        for (i, v) in inputs.enumerated() {
            if v.isNaN { XCTAssertTrue(y[i].isNaN); continue }
            let d = ulpDistance(y[i], Foundation.erf(Double(v)))
            if d > worst { worst = d; worstAt = v }
        }
        XCTAssertLessThanOrEqual(worst, 2, "worst \(worst) ulp at \(worstAt)")
        XCTAssertEqual(try Tensor([.infinity, -.infinity]).erf().scalars, [1, -1])
    }

    func testGeluMatchesDoubleReferenceIncludingTails() throws {
        var inputs: [Float] = stride(from: -12, through: 12, by: 0.0009765625).map { Float($0) }
        inputs += [0, -0.0, 1e-30, -1e-30, 1.4142135, -1.4142135, 1e6, -30, .infinity]
        let y = try Tensor(shape: [inputs.count], scalars: inputs).gelu().scalars
        XCTAssertEqual(y.last, .infinity)
        for (i, v) in inputs.enumerated() where v.isFinite {
            let x = Double(v)
            let exact = x * 0.5 * Foundation.erfc(-x / 2.0.squareRoot())
            // Relative accuracy everywhere, including the negative tail that 1 + erf(x) loses;
            // there rounding x / sqrt 2 to float alone costs about x^2 * 6e-8 relative.
            let tolerance = (1e-6 + 1.2e-7 * x * x) * Swift.abs(exact) + 1e-37
            XCTAssertLessThanOrEqual(Swift.abs(Double(y[i]) - exact), tolerance,
                                     "gelu(\(v)) = \(y[i]), expected \(exact)")
        }
        XCTAssertTrue(try Tensor([Float.nan]).gelu().scalars[0].isNaN)
    }

    func testGeluGradientMatchesDerivative() throws {
        let values: [Float] = (0..<1001).map { Float($0) * 0.02 - 10 }
        let x = try Tensor(shape: [values.count], scalars: values).requiringGrad()
        try x.gelu().sum().backward()
        let grad = try XCTUnwrap(x.grad).scalars
        for (i, v) in values.enumerated() {
            let d = Double(v)
            let exact = 0.5 * Foundation.erfc(-d / 2.0.squareRoot()) + d * Foundation.exp(-d * d / 2) / (2 * Double.pi).squareRoot()
            XCTAssertEqual(Double(grad[i]), exact, accuracy: 2e-6 * Swift.max(1, Swift.abs(exact)), "x = \(v)")
        }
        try assertGradientsMatchFiniteDifferences([try Tensor(shape: [5], scalars: [-2, -0.5, 0.1, 0.9, 3]).requiringGrad()]) { xs in
            try xs[0].gelu().sum()
        }
    }

    func testSoftmaxRowsOddLengthsAndExtremes() throws {
        for n in [1, 7, 8, 9, 197, 1000] {
            var values = (0..<(3 * n)).map { Float(($0 * 37) % 23) * 0.7 - 8 }
            if n > 2 { values[1] = -200; values[n + 2] = 90 }  // exp underflow and a large logit
            let x = try Tensor(shape: [3, n], scalars: values)
            let soft = try NN.softmax(x).scalars, logSoft = try NN.logSoftmax(x).scalars
            for r in 0..<3 {
                let row = values[(r * n)..<((r + 1) * n)].map(Double.init)
                let m = row.max()!
                let lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
                for j in 0..<n {
                    XCTAssertEqual(Double(soft[r * n + j]), Foundation.exp(row[j] - lse), accuracy: 1e-6)
                    XCTAssertEqual(Double(logSoft[r * n + j]), row[j] - lse, accuracy: 1e-5 * Swift.max(1, Swift.abs(row[j] - lse)))
                }
            }
        }
        let masked = try NN.softmax(try Tensor(shape: [2, 3], scalars: [-.infinity, 0, 0, -.infinity, -.infinity, -.infinity]))
        XCTAssertEqual(Array(masked.scalars[0..<3]), [0, 0.5, 0.5])
    }

    func testLayerNormOddLengthsMatchesDoubleReference() throws {
        for d in [1, 5, 8, 13, 768, 4099] {
            let rows = 3
            let values = (0..<(rows * d)).map { Float(($0 * 31) % 17) * 0.3 + 100 }  // large offset
            let w = (0..<d).map { Float($0 % 5) * 0.5 - 1 }, b = (0..<d).map { Float($0 % 3) - 1 }
            let y = try NN.layerNorm(try Tensor(shape: [rows, d], scalars: values), shape: [d],
                                     weight: try Tensor(shape: [d], scalars: w), bias: try Tensor(shape: [d], scalars: b)).scalars
            for r in 0..<rows {
                let row = values[(r * d)..<((r + 1) * d)].map(Double.init)
                let mean = row.reduce(0, +) / Double(d)
                let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
                for j in 0..<d {
                    let exact = (row[j] - mean) / (variance + 1e-5).squareRoot() * Double(w[j]) + Double(b[j])
                    XCTAssertEqual(Double(y[r * d + j]), exact, accuracy: 2e-4, "d \(d) row \(r) j \(j)")
                }
            }
        }
    }
}
