import Foundation
import LoupeTensor

/// Small differentiable helpers for optimizer tests, built only from core ops (matmul, map,
/// record), so the tests do not depend on other op files.
enum OptimTestSupport {
    /// Accumulates exactly `gradient` into the leaf `parameter` through a real backward pass:
    /// d/dp (p . g) = g.
    static func accumulate(_ gradient: Tensor, into parameter: Tensor) throws {
        let loss = try parameter.reshaped([1, parameter.count]).matmul(gradient.reshaped([gradient.count]))
        try loss.backward()
    }

    /// Sum of all elements as a rank-0 tensor (differentiable).
    static func sum(_ x: Tensor) throws -> Tensor {
        try x.reshaped([1, x.count]).matmul(Tensor.ones([x.count])).reshaped([])
    }

    /// Mean squared error (differentiable).
    static func meanSquaredError(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
        let difference = try prediction - target
        return try sum(difference * difference) / Float(difference.count)
    }

    /// Elementwise tanh (differentiable).
    static func tanh(_ x: Tensor) -> Tensor {
        let result = x.map { Foundation.tanh($0) }
        let saved = result.detached()
        return Tensor.record(result, op: "tanh", inputs: [x]) { grad in
            [try grad * saved.map { 1 - $0 * $0 }]
        }
    }

    /// Row `index` of a stacked tensor [n, ...] as a tensor of the remaining shape.
    static func row(_ stacked: Tensor, _ index: Int) throws -> Tensor {
        let shape = Array(stacked.shape.dropFirst())
        let size = shape.reduce(1, *)
        return try Tensor(shape: shape, scalars: Array(stacked.scalars[index * size ..< (index + 1) * size]))
    }

    /// Builds the schedule described by a fixture's "schedule" arguments.
    static func schedule(_ spec: [String: Any], base: Double) throws -> LearningRateSchedule {
        func double(_ key: String) -> Double { (spec[key] as? NSNumber)?.doubleValue ?? 0 }
        func int(_ key: String) -> Int { (spec[key] as? NSNumber)?.intValue ?? 0 }
        var schedule: LearningRateSchedule
        switch spec["kind"] as? String {
        case "step": schedule = try .step(base, stepSize: int("stepSize"), gamma: double("gamma"))
        case "cosine": schedule = try .cosine(base, total: int("total"), minRate: double("minRate"))
        default: schedule = try .constant(base)
        }
        if int("warmup") > 0 {
            schedule = try schedule.withWarmup(steps: int("warmup"), startFactor: double("startFactor"))
        }
        return schedule
    }
}
