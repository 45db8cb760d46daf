import XCTest
import LoupeTensor
import LoupeTestSupport

/// End-to-end: composed differentiable functions, their gradients, and optimizers reducing a loss.
final class OptimizerTrainingTests: XCTestCase {
    /// y = 2 x0 - 3 x1 + 0.5 on a fixed grid: least squares has the exact solution
    /// w = [2, -3], b = 0.5, which every optimizer must reach.
    private func regressionData() throws -> (Tensor, Tensor) {
        var xs: [Float] = [], ys: [Float] = []
        for i in 0..<4 {
            for j in 0..<4 {
                let x0 = Float(i) / 3 - 0.5, x1 = Float(j) / 3 - 0.5
                xs += [x0, x1]
                ys.append(2 * x0 - 3 * x1 + 0.5)
            }
        }
        return (try Tensor(shape: [16, 2], scalars: xs), try Tensor(shape: [16, 1], scalars: ys))
    }

    func testLinearRegressionConverges() throws {
        let (x, y) = try regressionData()
        let makers: [(String, Int, ([Tensor]) throws -> Optimizer)] = [
            ("SGD", 400, { try SGD(parameters: $0, learningRate: 0.2, momentum: 0.9) }),
            ("SGD nesterov", 400, { try SGD(parameters: $0, learningRate: 0.2, momentum: 0.9, nesterov: true) }),
            ("Adam", 600, { try Adam(parameters: $0, learningRate: 0.05,
                                     schedule: try .cosine(0.05, total: 600, minRate: 1e-4)) }),
            ("AdamW", 600, { try AdamW(parameters: $0, learningRate: 0.05, weightDecay: 0,
                                       schedule: try .cosine(0.05, total: 600, minRate: 1e-4).withWarmup(steps: 20)) }),
        ]
        for (name, steps, make) in makers {
            let w = try Tensor.zeros([2, 1]).requiringGrad()
            let b = try Tensor.zeros([1]).requiringGrad()
            let optimizer = try make([w, b])
            for _ in 0..<steps {
                optimizer.zeroGrad()
                let loss = try OptimTestSupport.meanSquaredError(try x.matmul(w) + b, y)
                try loss.backward()
                try optimizer.step()
            }
            let wv = w.scalars, bv = b.scalars
            XCTAssertEqual(wv[0], 2, accuracy: 1e-3, name)
            XCTAssertEqual(wv[1], -3, accuracy: 1e-3, name)
            XCTAssertEqual(bv[0], 0.5, accuracy: 1e-3, name)
        }
    }

    /// A 2 -> 8 -> 1 tanh network on XOR-like targets.
    private struct MLP {
        var w1, b1, w2, b2: Tensor

        init(seed: UInt64) throws {
            var rng = RandomGenerator(seed: seed)
            func normal(_ shape: [Int], _ scale: Float) throws -> Tensor {
                try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextNormal() * scale })
            }
            w1 = try normal([2, 8], 0.8)
            b1 = try normal([8], 0.1)
            w2 = try normal([8, 1], 0.5)
            b2 = try Tensor.zeros([1])
        }

        var parameters: [Tensor] { [w1, b1, w2, b2] }

        static func loss(_ p: [Tensor], _ x: Tensor, _ y: Tensor) throws -> Tensor {
            let hidden = OptimTestSupport.tanh(try x.matmul(p[0]) + p[1])
            return try OptimTestSupport.meanSquaredError(try hidden.matmul(p[2]) + p[3], y)
        }
    }

    private let inputs = try! Tensor(shape: [4, 2], scalars: [-1, -1, -1, 1, 1, -1, 1, 1])
    private let targets = try! Tensor(shape: [4, 1], scalars: [-0.5, 0.5, 0.5, -0.5])

    func testMLPLossGradientMatchesFiniteDifferences() throws {
        let mlp = try MLP(seed: 3)
        try assertGradientsMatchFiniteDifferences(mlp.parameters, step: 1e-2, rtol: 2e-2, atol: 1e-3) { p in
            try MLP.loss(p, inputs, targets)
        }
    }

    func testMLPTrainingReducesLossWithEachOptimizer() throws {
        let makers: [(String, ([Tensor]) throws -> Optimizer)] = [
            ("SGD", { try SGD(parameters: $0, learningRate: 0.2) }),
            ("SGD momentum", { try SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4) }),
            ("Adam", { try Adam(parameters: $0, learningRate: 0.05) }),
            ("AdamW", { try AdamW(parameters: $0, learningRate: 0.05, weightDecay: 0.01) }),
        ]
        for (name, make) in makers {
            let parameters = try MLP(seed: 3).parameters.map { $0.requiringGrad() }
            let optimizer = try make(parameters)
            let initial = try GradMode.withoutGrad { try MLP.loss(parameters, inputs, targets).item() }
            var afterFew = initial
            for step in 0..<150 {
                optimizer.zeroGrad()
                let loss = try MLP.loss(parameters, inputs, targets)
                try loss.backward()
                try clipGradNorm(parameters, maxNorm: 5)
                try optimizer.step()
                if step == 5 { afterFew = try loss.item() }
            }
            let final = try GradMode.withoutGrad { try MLP.loss(parameters, inputs, targets).item() }
            // The targets are reachable (tanh units can represent XOR): the loss should collapse.
            XCTAssertLessThan(final, initial * 0.05, "\(name): loss \(initial) -> \(final)")
            XCTAssertLessThan(afterFew, initial, "\(name): a few steps should already reduce the loss")
        }
    }
}
