import XCTest
import LoupeTensor

/// Optimizers driving a model built from the library's NN and elementwise ops.
final class OptimizerNNTrainingTests: XCTestCase {
    /// Regression of y = sin(2 x0) + x1^2 on a fixed 8 x 8 grid with a 2 -> 32 -> 1 ReLU MLP
    /// (NN.linear, relu, NN.mse). Every optimizer must cut the loss by 10x within 300 steps.
    func testReluMLPFitsSmoothFunction() throws {
        var xs: [Float] = [], ys: [Float] = []
        for i in 0..<8 {
            for j in 0..<8 {
                let x0 = Float(i) / 7 * 2 - 1, x1 = Float(j) / 7 * 2 - 1
                xs += [x0, x1]
                ys.append(sin(2 * x0) + x1 * x1)
            }
        }
        let x = try Tensor(shape: [64, 2], scalars: xs), y = try Tensor(shape: [64, 1], scalars: ys)
        let makers: [(String, ([Tensor]) throws -> Optimizer)] = [
            ("SGD momentum", { try SGD(parameters: $0, learningRate: 0.05, momentum: 0.9) }),
            ("Adam", { try Adam(parameters: $0, learningRate: 0.01) }),
            ("AdamW cosine", { try AdamW(parameters: $0, learningRate: 0.01,
                                         schedule: try .cosine(0.01, total: 300, minRate: 1e-4).withWarmup(steps: 10)) }),
        ]
        for (name, make) in makers {
            var rng = RandomGenerator(seed: 17)
            func normal(_ shape: [Int], _ scale: Float) throws -> Tensor {
                try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextNormal() * scale }).requiringGrad()
            }
            let w1 = try normal([32, 2], 0.7), b1 = try normal([32], 0.1)
            let w2 = try normal([1, 32], 0.2), b2 = try Tensor.zeros([1]).requiringGrad()
            func loss() throws -> Tensor {
                let hidden = try NN.linear(x, weight: w1, bias: b1).relu()
                return try NN.mse(try NN.linear(hidden, weight: w2, bias: b2), y)
            }
            let optimizer = try make([w1, b1, w2, b2])
            let initial = try loss().item()
            for _ in 0..<300 {
                optimizer.zeroGrad()
                try loss().backward()
                try optimizer.step()
            }
            let final = try loss().item()
            XCTAssertLessThan(final, initial / 10, "\(name): loss \(initial) -> \(final)")
        }
    }
}
