import Foundation
import XCTest
import LoupeTensor
import LoupeTestSupport

/// Optimizer trajectories, schedules and gradient clipping against PyTorch
/// (Scripts/fixtures/optimizers.py).
final class OptimizerFixtureTests: XCTestCase {
    private func makeOptimizer(_ c: FixtureCase, _ parameters: [Tensor]) throws -> Optimizer {
        func double(_ key: String) -> Double? { (c.args[key] as? NSNumber)?.doubleValue }
        let lr = double("lr")!
        let schedule = try (c.args["schedule"] as? [String: Any]).map { try OptimTestSupport.schedule($0, base: lr) }
        let betas = (c.args["betas"] as? [NSNumber]).map { ($0[0].doubleValue, $0[1].doubleValue) } ?? (0.9, 0.999)
        switch c.op {
        case "sgd":
            return try SGD(parameters: parameters, learningRate: lr, momentum: double("momentum") ?? 0,
                           dampening: double("dampening") ?? 0, nesterov: c.bool("nesterov") ?? false,
                           weightDecay: double("weight_decay") ?? 0, schedule: schedule)
        case "adam":
            return try Adam(parameters: parameters, learningRate: lr, betas: betas, eps: double("eps") ?? 1e-8,
                            weightDecay: double("weight_decay") ?? 0, amsgrad: c.bool("amsgrad") ?? false,
                            schedule: schedule)
        default:
            return try AdamW(parameters: parameters, learningRate: lr, betas: betas, eps: double("eps") ?? 1e-8,
                             weightDecay: double("weight_decay") ?? 0.01, amsgrad: c.bool("amsgrad") ?? false,
                             schedule: schedule)
        }
    }

    func testTrajectoriesMatchPyTorch() throws {
        let cases = try Fixtures.load("optimizers").filter { ["sgd", "adam", "adamw"].contains($0.op) }
        XCTAssertEqual(cases.count, 17)
        for c in cases {
            let p0 = try c.tensor("p0").contiguousCopy().requiringGrad()
            let p1 = try c.tensor("p1").contiguousCopy().requiringGrad()
            let optimizer = try makeOptimizer(c, [p0, p1])
            let skip = Set(c.ints("skip1") ?? [])
            let steps = try c.tensor("g0").shape[0]
            for t in 0..<steps {
                optimizer.zeroGrad()
                try OptimTestSupport.accumulate(try OptimTestSupport.row(c.tensor("g0"), t), into: p0)
                if !skip.contains(t) {
                    try OptimTestSupport.accumulate(try OptimTestSupport.row(c.tensor("g1"), t), into: p1)
                }
                try optimizer.step()
                assertClose(p0, try OptimTestSupport.row(c.tensor("out0"), t), rtol: 1e-5, atol: 1e-6, "\(c.name) p0 step \(t)")
                assertClose(p1, try OptimTestSupport.row(c.tensor("out1"), t), rtol: 1e-5, atol: 1e-6, "\(c.name) p1 step \(t)")
            }
            XCTAssertEqual(optimizer.stepCount, steps)
        }
    }

    func testSchedulesMatchPyTorch() throws {
        let cases = try Fixtures.load("optimizers").filter { $0.op == "schedule" }
        XCTAssertEqual(cases.count, 6)
        for c in cases {
            let schedule = try OptimTestSupport.schedule(c.args, base: (c.args["base"] as! NSNumber).doubleValue)
            let expected = try c.tensor("rates")
            let actual = Tensor((0..<expected.count).map { Float(schedule.rate(atStep: $0)) })
            assertClose(actual, expected, rtol: 1e-6, atol: 1e-9, "\(c.name) \(schedule)")
        }
    }

    func testClipGradNormMatchesPyTorch() throws {
        let cases = try Fixtures.load("optimizers").filter { $0.op == "clip" }
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let grads = try ["g0", "g1", "g2"].map { try c.tensor($0) }
            let parameters = try grads.map { try Tensor.zeros($0.shape).requiringGrad() }
            for (p, g) in zip(parameters, grads) { try OptimTestSupport.accumulate(g, into: p) }
            let normType = c.string("normType") == "inf" ? Double.infinity : (c.args["normType"] as! NSNumber).doubleValue
            let total = try clipGradNorm(parameters, maxNorm: (c.args["maxNorm"] as! NSNumber).doubleValue, normType: normType)
            XCTAssertEqual(total, Double(try c.tensor("total").scalars[0]), accuracy: 1e-5 * max(1, total), c.name)
            for (p, key) in zip(parameters, ["c0", "c1", "c2"]) {
                assertClose(try XCTUnwrap(p.grad), try c.tensor(key), rtol: 1e-5, atol: 1e-7, "\(c.name) \(key)")
            }
        }
    }

    func testClipGradNormOnLargeGradients() throws {
        // 100_000 values of 0.01 (several parallel blocks) and one of 3: hand-computed norms
        // (maxNorm 1e6 leaves the gradients alone until the last call).
        let p = try Tensor.zeros([100_000]).requiringGrad()
        let q = try Tensor.zeros([1]).requiringGrad()
        try OptimTestSupport.accumulate(try Tensor.full([100_000], 0.01), into: p)
        try OptimTestSupport.accumulate(Tensor([3]), into: q)
        XCTAssertEqual(try clipGradNorm([p, q], maxNorm: 1e6, normType: .infinity), 3, accuracy: 1e-6)
        XCTAssertEqual(try clipGradNorm([p, q], maxNorm: 1e6, normType: 1), 1003, accuracy: 1e-2)
        let total = try clipGradNorm([p, q], maxNorm: 1)
        XCTAssertEqual(total, (100_000 * 1e-4 + 9).squareRoot(), accuracy: 1e-4)
        let scale = Float(1 / (total + 1e-6))
        XCTAssertEqual(try XCTUnwrap(q.grad).scalars[0], 3 * scale, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(p.grad).scalars[99_999], 0.01 * scale, accuracy: 1e-8)
    }
}
