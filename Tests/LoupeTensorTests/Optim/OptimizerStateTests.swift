import XCTest
import LoupeTensor

/// Saving and restoring optimizer state, and its validation.
final class OptimizerStateTests: XCTestCase {
    private func gradients(_ seed: UInt64, steps: Int) -> [[Tensor]] {
        var rng = RandomGenerator(seed: seed)
        return (0..<steps).map { _ in
            [try! Tensor(shape: [2, 3], scalars: (0..<6).map { _ in rng.nextNormal() }),
             Tensor((0..<4).map { _ in rng.nextNormal() })]
        }
    }

    private func freshParameters() throws -> [Tensor] {
        [try Tensor(shape: [2, 3], scalars: [0.5, -1, 2, 0.25, 0, -0.75]).requiringGrad(),
         Tensor([1, -2, 3, 0.1]).requiringGrad()]
    }

    private func run(_ optimizer: Optimizer, _ grads: ArraySlice<[Tensor]>) throws {
        for step in grads {
            optimizer.zeroGrad()
            for (p, g) in zip(optimizer.parameters, step) { try OptimTestSupport.accumulate(g, into: p) }
            try optimizer.step()
        }
    }

    private let makers: [(String, ([Tensor]) throws -> Optimizer)] = [
        ("SGD", { try SGD(parameters: $0, learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01) }),
        ("Adam", { try Adam(parameters: $0, learningRate: 0.01, weightDecay: 0.1, amsgrad: true,
                            schedule: try .cosine(0.01, total: 10).withWarmup(steps: 2)) }),
        ("AdamW", { try AdamW(parameters: $0, learningRate: 0.02, betas: (0.8, 0.99)) }),
    ]

    func testSaveLoadReproducesContinuationExactly() throws {
        let grads = gradients(7, steps: 8)
        for (name, make) in makers {
            let reference = try make(try freshParameters())
            try run(reference, grads[...])

            let first = try make(try freshParameters())
            try run(first, grads[0..<4])
            let saved = first.state()
            let savedValues = first.parameters.map { $0.scalars }
            try run(first, grads[4...]) // mutating the original must not change the saved state

            let resumedParameters = try zip(savedValues, first.parameters).map {
                try Tensor(shape: $1.shape, scalars: $0).requiringGrad()
            }
            let resumed = try make(resumedParameters)
            try resumed.load(saved)
            XCTAssertEqual(resumed.stepCount, 4, name)
            try run(resumed, grads[4...])
            for (a, b) in zip(resumed.parameters, reference.parameters) {
                XCTAssertEqual(a.scalars, b.scalars, "\(name): resumed run differs")
            }
            XCTAssertEqual(resumed.learningRate, reference.learningRate, name)
        }
    }

    func testStateNamesKeys() throws {
        let adam = try Adam(parameters: try freshParameters())
        try run(adam, gradients(1, steps: 1)[...])
        let state = adam.state()
        XCTAssertEqual(Set(state.tensors.keys), ["0.exp_avg", "0.exp_avg_sq", "1.exp_avg", "1.exp_avg_sq"])
        XCTAssertEqual(state.tensors["0.exp_avg"]?.shape, [2, 3])
        XCTAssertEqual(state.scalars["0.step"], 1)
        XCTAssertEqual(state.scalars["step_count"], 1)
        XCTAssertEqual(state.scalars["beta1"], 0.9)
    }

    func testLoadRejectsShapeMismatchNamingKey() throws {
        let sgd = try SGD(parameters: try freshParameters(), learningRate: 0.1, momentum: 0.9)
        try run(sgd, gradients(2, steps: 2)[...])
        var state = sgd.state()
        state.tensors["1.momentum_buffer"] = try Tensor.zeros([5])
        let before = sgd.state()
        XCTAssertThrowsError(try sgd.load(state)) { error in
            let message = (error as? LoupeError)?.message ?? ""
            XCTAssertTrue(message.contains("SGD.load") && message.contains("'1.momentum_buffer'") && message.contains("[5]")
                          && message.contains("[4]"), message)
        }
        // Nothing changed.
        XCTAssertEqual(sgd.state().tensors["1.momentum_buffer"]?.scalars, before.tensors["1.momentum_buffer"]?.scalars)
    }

    func testLoadRejectsBadStates() throws {
        let adam = try Adam(parameters: try freshParameters())
        try run(adam, gradients(3, steps: 1)[...])
        let good = adam.state()
        func expectError(_ edit: (inout OptimizerState) -> Void, _ fragment: String, line: UInt = #line) {
            var state = good
            edit(&state)
            XCTAssertThrowsError(try adam.load(state), line: line) { error in
                let message = (error as? LoupeError)?.message ?? ""
                XCTAssertTrue(message.hasPrefix("Adam.load") && message.contains(fragment), message, line: line)
            }
        }
        expectError({ $0.tensors["0.velocity"] = try! Tensor.zeros([2, 3]) }, "unknown tensor key '0.velocity'")
        expectError({ $0.tensors["7.exp_avg"] = try! Tensor.zeros([2, 3]) }, "names parameter 7")
        expectError({ $0.scalars["parameter_count"] = 3 }, "3.0 parameters")
        expectError({ $0.scalars["beta2"] = nil }, "missing scalar 'beta2'")
        expectError({ $0.scalars["beta1"] = 1.5 }, "beta1")
        expectError({ $0.scalars["0.step"] = nil }, "no scalar '0.step'")
        expectError({ $0.scalars["1.step"] = 0.5 }, "'1.step' is not a step count")
        expectError({ $0.tensors["1.exp_avg_sq"] = nil }, "missing tensor")
        expectError({ $0.scalars["learning_rate"] = .nan }, "'learning_rate' is not finite")
        // A different optimizer's state does not load.
        let adamW = try AdamW(parameters: try freshParameters())
        XCTAssertThrowsError(try adamW.load(good)) { error in
            XCTAssertEqual((error as? LoupeError)?.message,
                           "AdamW.load: invalid saved hyperparameter: the state is from Adam, not AdamW")
        }
        let sgd = try SGD(parameters: try freshParameters(), learningRate: 0.1)
        XCTAssertThrowsError(try sgd.load(good)) { error in
            XCTAssertTrue(((error as? LoupeError)?.message ?? "").hasPrefix("SGD.load: missing scalar"))
        }
    }

    func testUpdateIsVisibleThroughEveryCopyOfTheLeaf() throws {
        let weight = try Tensor(shape: [2], scalars: [1, 2]).requiringGrad()
        let copy = weight
        let view = try weight.reshaped([1, 2])
        let sgd = try SGD(parameters: [weight], learningRate: 0.5)
        try OptimTestSupport.accumulate(Tensor([2, -4]), into: copy)
        try sgd.step()
        XCTAssertEqual(weight.scalars, [0, 4])
        XCTAssertEqual(copy.scalars, [0, 4])
        XCTAssertEqual(view.scalars, [0, 4])
        sgd.zeroGrad()
        XCTAssertNil(copy.grad)
        // No gradient: the step leaves the values alone but still counts.
        try sgd.step()
        XCTAssertEqual(weight.scalars, [0, 4])
        XCTAssertEqual(sgd.stepCount, 2)
    }

    func testLargeParameterUsesParallelPathConsistently() throws {
        // Above Parallel.minimumParallelCount the update is split across workers; compare with
        // the same update computed element by element.
        let n = 100_003
        var rng = RandomGenerator(seed: 11)
        let initial = (0..<n).map { _ in rng.nextNormal() }
        let g = (0..<n).map { _ in rng.nextNormal() }
        let p = try Tensor(shape: [n], scalars: initial).requiringGrad()
        let adam = try AdamW(parameters: [p], learningRate: 0.1, weightDecay: 0.1)
        try OptimTestSupport.accumulate(Tensor(g), into: p)
        try adam.step()
        let values = p.scalars
        for i in stride(from: 0, to: n, by: 997) {
            // First AdamW step: p * (1 - lr wd) - lr * g / (|g| + eps).
            let expected = initial[i] * (1 - 0.01) - 0.1 * g[i] / (abs(g[i]) + 1e-8)
            XCTAssertEqual(values[i], expected, accuracy: 1e-5)
        }
    }
}
