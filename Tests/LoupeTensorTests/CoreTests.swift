import XCTest
@testable import LoupeTensor

final class CoreTests: XCTestCase {
    func testShapeMismatchThrowsNamingShapes() {
        XCTAssertThrowsError(try Tensor(shape: [2, 3], scalars: [1, 2])) { error in
            XCTAssertEqual((error as? LoupeError)?.message, "tensor: shape [2, 3] needs 6 values, got 2")
        }
    }

    func testBroadcastAddByHand() throws {
        let a = try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor([10, 20, 30])
        XCTAssertEqual(try (a + b).scalars, [11, 22, 33, 14, 25, 36])
        let column = try Tensor(shape: [2, 1], scalars: [100, 200])
        XCTAssertEqual(try (a + column).scalars, [101, 102, 103, 204, 205, 206])
        XCTAssertThrowsError(try a + Tensor([1, 2])) { error in
            XCTAssertEqual((error as? LoupeError)?.message, "add: shapes [2, 3] and [2] cannot be broadcast together")
        }
    }

    func testMatmulByHandAndTransposedViews() throws {
        let a = try Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = try Tensor(shape: [3, 2], scalars: [7, 8, 9, 10, 11, 12])
        XCTAssertEqual(try a.matmul(b).scalars, [58, 64, 139, 154])
        // a^T is a view; a^T @ a computed without a copy must match the hand result.
        let ata = try a.transposed().matmul(a)
        XCTAssertEqual(ata.shape, [3, 3])
        XCTAssertEqual(ata.scalars, [17, 22, 27, 22, 29, 36, 27, 36, 45])
        XCTAssertThrowsError(try a.matmul(a)) { error in
            XCTAssertEqual((error as? LoupeError)?.message, "matmul: inner dimensions differ: [2, 3] @ [2, 3]")
        }
        let v = Tensor([1, 1, 1])
        XCTAssertEqual(try a.matmul(v).scalars, [6, 15])
        XCTAssertEqual(try v.matmul(v).shape, [])
    }

    func testBatchedMatmulBroadcastsBatch() throws {
        var rng = RandomGenerator(seed: 1)
        let a = try Tensor(shape: [2, 1, 2, 3], scalars: (0..<12).map { _ in rng.nextNormal() })
        let b = try Tensor(shape: [3, 3, 4], scalars: (0..<36).map { _ in rng.nextNormal() })
        let c = try a.matmul(b)
        XCTAssertEqual(c.shape, [2, 3, 2, 4])
        let av = a.scalars, bv = b.scalars, cv = c.scalars
        for i in 0..<2 { for j in 0..<3 { for r in 0..<2 { for col in 0..<4 {
            var sum: Float = 0
            for k in 0..<3 { sum += av[i * 6 + r * 3 + k] * bv[j * 12 + k * 4 + col] }
            XCTAssertEqual(cv[((i * 3 + j) * 2 + r) * 4 + col], sum, accuracy: 1e-5)
        } } } }
    }

    /// Products large enough to be split over the cores (by rows, or by columns when wider than
    /// tall, with every transpose flag) agree with a double-precision reference and repeat bit
    /// for bit.
    func testSplitProductsMatchReferenceAndRepeat() throws {
        var rng = RandomGenerator(seed: 3)
        for (m, n, k) in [(300, 70, 90), (45, 400, 80), (129, 130, 64)] {
            XCTAssertGreaterThanOrEqual(m * n * k, NN.splitMinimum)
            let a = try Tensor(shape: [m, k], scalars: (0..<(m * k)).map { _ in rng.nextNormal() })
            let b = try Tensor(shape: [k, n], scalars: (0..<(k * n)).map { _ in rng.nextNormal() })
            let at = try a.transposed().contiguousCopy().transposed(), bt = try b.transposed().contiguousCopy().transposed()
            let av = a.scalars, bv = b.scalars
            for (x, y) in [(a, b), (at, b), (a, bt), (at, bt)] {
                let c = try x.matmul(y).scalars
                XCTAssertEqual(try x.matmul(y).scalars, c, "\(m)x\(n)x\(k) repeats")
                for (i, j) in [(0, 0), (m - 1, n - 1), (m / 2, n / 3), (m - 1, 0), (17, n - 2)] {
                    var sum = 0.0
                    for l in 0..<k { sum += Double(av[i * k + l]) * Double(bv[l * n + j]) }
                    XCTAssertEqual(Double(c[i * n + j]), sum, accuracy: 1e-4, "\(m)x\(n)x\(k) at \(i), \(j)")
                }
            }
        }
    }

    func testGradientsMatchFiniteDifferences() throws {
        var rng = RandomGenerator(seed: 7)
        let x = try Tensor(shape: [3, 4], scalars: (0..<12).map { _ in rng.nextNormal() })
        let w = try Tensor(shape: [4, 2], scalars: (0..<8).map { _ in rng.nextNormal() })
        let bias = Tensor([0.5, -0.25])
        func loss(_ x: Tensor, _ w: Tensor) throws -> Tensor {
            let y = try x.matmul(w) + bias
            let z = try (y * y) / (y * y + 1)
            return try z.summed(toShape: [])
        }
        let xl = x.requiringGrad(), wl = w.requiringGrad()
        let out = try loss(xl, wl)
        let grads = try Autograd.gradients(of: out, wrt: [xl, wl])
        for (which, base) in [x, w].enumerated() {
            var values = base.scalars
            for i in values.indices {
                let saved = values[i]
                let h: Float = 1e-2
                values[i] = saved + h
                let plus = try loss(which == 0 ? Tensor(shape: x.shape, scalars: values) : x,
                                    which == 1 ? Tensor(shape: w.shape, scalars: values) : w).item()
                values[i] = saved - h
                let minus = try loss(which == 0 ? Tensor(shape: x.shape, scalars: values) : x,
                                     which == 1 ? Tensor(shape: w.shape, scalars: values) : w).item()
                values[i] = saved
                let numeric = (plus - minus) / (2 * h)
                XCTAssertEqual(grads[which].scalars[i], numeric, accuracy: 2e-3)
            }
        }
    }

    func testBackwardAccumulatesIntoLeavesAndFreesGraph() throws {
        let x = Tensor([1, 2, 3]).requiringGrad()
        let y = try (x * x).summed(toShape: [])
        try y.backward()
        XCTAssertEqual(x.grad?.scalars, [2, 4, 6])
        XCTAssertThrowsError(try y.backward()) { error in
            XCTAssertTrue((error as? LoupeError)?.message.contains("already freed") ?? false)
        }
        let z = try GradMode.withoutGrad { try x * x }
        XCTAssertFalse(z.requiresGrad)
    }

    func testRandomGeneratorIsReproducible() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42), c = RandomGenerator(seed: 43)
        let sa = (0..<8).map { _ in a.next() }
        XCTAssertEqual(sa, (0..<8).map { _ in b.next() })
        XCTAssertNotEqual(sa, (0..<8).map { _ in c.next() })
        // Mean and variance of many normals.
        var g = RandomGenerator(seed: 3)
        let n = 100_000
        var sum: Double = 0, sq: Double = 0
        for _ in 0..<n { let v = Double(g.nextNormal()); sum += v; sq += v * v }
        XCTAssertEqual(sum / Double(n), 0, accuracy: 0.02)
        XCTAssertEqual(sq / Double(n), 1, accuracy: 0.02)
    }
}
