import XCTest
import LoupeTensor

/// Every optimizer, schedule and clipping error names the op and what is wrong.
final class OptimizerErrorTests: XCTestCase {
    private func assertThrows(_ fragments: [String], line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { error in
            let message = (error as? LoupeError)?.message ?? "\(error)"
            for fragment in fragments {
                XCTAssertTrue(message.contains(fragment), "'\(message)' lacks '\(fragment)'", line: line)
            }
        }
    }

    func testConstructorValidation() throws {
        let p = try Tensor.zeros([2, 3]).requiringGrad()
        assertThrows(["SGD", "empty parameter list"]) { _ = try SGD(parameters: [], learningRate: 0.1) }
        assertThrows(["SGD", "parameter 0", "[2, 3]", "not a leaf"]) {
            _ = try SGD(parameters: [try Tensor.zeros([2, 3])], learningRate: 0.1)
        }
        assertThrows(["Adam", "parameter 0", "[3, 2]", "not a leaf"]) {
            _ = try Adam(parameters: [try p.transposed()])
        }
        assertThrows(["AdamW", "parameter 0", "[3, 2]", "non-contiguous"]) {
            _ = try AdamW(parameters: [try Tensor.zeros([2, 3]).transposed().requiringGrad()])
        }
        assertThrows(["SGD", "parameter 1", "more than once"]) { _ = try SGD(parameters: [p, p], learningRate: 0.1) }
        let base = try Tensor.zeros([4])
        assertThrows(["Adam", "parameters 0 and 1 share storage", "[4]", "[2, 2]"]) {
            _ = try Adam(parameters: [base.requiringGrad(), try base.reshaped([2, 2]).requiringGrad()])
        }
        assertThrows(["SGD", "learning rate -1"]) { _ = try SGD(parameters: [p], learningRate: -1) }
        assertThrows(["SGD", "momentum"]) { _ = try SGD(parameters: [p], learningRate: 0.1, momentum: .nan) }
        assertThrows(["SGD", "weight decay"]) { _ = try SGD(parameters: [p], learningRate: 0.1, weightDecay: -0.1) }
        assertThrows(["SGD", "Nesterov", "momentum > 0"]) { _ = try SGD(parameters: [p], learningRate: 0.1, nesterov: true) }
        assertThrows(["SGD", "Nesterov", "dampening 0.1"]) {
            _ = try SGD(parameters: [p], learningRate: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)
        }
        assertThrows(["Adam", "beta1 1.0"]) { _ = try Adam(parameters: [p], betas: (1.0, 0.999)) }
        assertThrows(["AdamW", "beta2 -0.1"]) { _ = try AdamW(parameters: [p], betas: (0.9, -0.1)) }
        assertThrows(["Adam", "eps"]) { _ = try Adam(parameters: [p], eps: -1) }
        assertThrows(["AdamW", "weight decay"]) { _ = try AdamW(parameters: [p], weightDecay: .infinity) }
    }

    func testStepRejectsBadLearningRate() throws {
        let p = try Tensor.zeros([2]).requiringGrad()
        let sgd = try SGD(parameters: [p], learningRate: 0.1)
        sgd.learningRate = -0.5
        assertThrows(["SGD", "learning rate -0.5"]) { try sgd.step() }
    }

    func testScheduleValidation() {
        assertThrows(["LearningRateSchedule.step", "stepSize", "0"]) { _ = try LearningRateSchedule.step(0.1, stepSize: 0) }
        assertThrows(["LearningRateSchedule.cosine", "total", "-3"]) { _ = try LearningRateSchedule.cosine(0.1, total: -3) }
        assertThrows(["LearningRateSchedule.constant", "rate", "nan"]) { _ = try LearningRateSchedule.constant(.nan) }
        assertThrows(["LearningRateSchedule.cosine", "minRate"]) { _ = try LearningRateSchedule.cosine(0.1, total: 3, minRate: -1) }
        assertThrows(["LearningRateSchedule.warmup", "steps", "-1"]) {
            _ = try LearningRateSchedule.constant(0.1).withWarmup(steps: -1)
        }
        assertThrows(["LearningRateSchedule.warmup", "startFactor", "0.0"]) {
            _ = try LearningRateSchedule.constant(0.1).withWarmup(steps: 3, startFactor: 0)
        }
    }

    func testClipValidation() throws {
        let p = try Tensor.zeros([2]).requiringGrad()
        assertThrows(["clipGradNorm", "maxNorm", "-1"]) { try clipGradNorm([p], maxNorm: -1) }
        assertThrows(["clipGradNorm", "normType", "0"]) { try clipGradNorm([p], maxNorm: 1, normType: 0) }
        XCTAssertEqual(try clipGradNorm([p], maxNorm: 1), 0) // no gradients yet
    }

    func testScheduleDrivesLearningRate() throws {
        let p = try Tensor.zeros([1]).requiringGrad()
        let schedule = try LearningRateSchedule.step(1.0, stepSize: 2, gamma: 0.5).withWarmup(steps: 2, startFactor: 0.5)
        let sgd = try SGD(parameters: [p], learningRate: 123, schedule: schedule)
        var used: [Double] = []
        for _ in 0..<6 {
            sgd.zeroGrad()
            try OptimTestSupport.accumulate(Tensor([1]), into: p)
            try sgd.step()
            used.append(sgd.learningRate)
        }
        XCTAssertEqual(used, [0.5, 0.75, 1, 1, 0.5, 0.5])
        XCTAssertEqual(p.scalars[0], -4.25, accuracy: 1e-6)
        XCTAssertEqual(try LearningRateSchedule.constant(0.3).rate(atStep: 1000), 0.3)
        XCTAssertEqual(try LearningRateSchedule.cosine(1, total: 4, minRate: 0.2).rate(atStep: 4), 0.2, accuracy: 1e-12)
    }
}
