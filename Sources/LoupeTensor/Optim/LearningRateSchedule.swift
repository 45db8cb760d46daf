import Foundation

/// A learning rate as a function of the step number (0 for the first `step()`), matching
/// PyTorch's schedulers stepped once per optimizer step. Set it as an optimizer's `schedule`
/// and the optimizer sets its `learningRate` before every step.
///
///     let schedule = try LearningRateSchedule.cosine(3e-4, total: 1000, minRate: 1e-6)
///         .withWarmup(steps: 100, startFactor: 0.01)
public struct LearningRateSchedule: Sendable, Equatable, CustomStringConvertible {
    indirect enum Kind: Sendable, Equatable {
        case constant
        case step(size: Int, gamma: Double)
        case cosine(total: Int, minRate: Double)
        case warmup(steps: Int, startFactor: Double, then: LearningRateSchedule)
    }

    let kind: Kind
    /// The rate the schedule starts from (after any warm-up).
    public let baseRate: Double

    /// Always `rate`.
    public static func constant(_ rate: Double) throws -> LearningRateSchedule {
        try check(rate, "rate", op: "constant")
        return LearningRateSchedule(kind: .constant, baseRate: rate)
    }

    /// `rate * gamma^(step / stepSize)` (integer division), as `torch.optim.lr_scheduler.StepLR`.
    public static func step(_ rate: Double, stepSize: Int, gamma: Double = 0.1) throws -> LearningRateSchedule {
        try check(rate, "rate", op: "step")
        try check(gamma, "gamma", op: "step")
        guard stepSize > 0 else {
            throw LoupeError("LearningRateSchedule.step: stepSize must be > 0, got \(stepSize)")
        }
        return LearningRateSchedule(kind: .step(size: stepSize, gamma: gamma), baseRate: rate)
    }

    /// `minRate + (rate - minRate) * (1 + cos(pi * step / total)) / 2`, as
    /// `torch.optim.lr_scheduler.CosineAnnealingLR(T_max: total, eta_min: minRate)`. Like
    /// PyTorch's, it is periodic: past `total` steps the rate rises again towards `rate`.
    public static func cosine(_ rate: Double, total: Int, minRate: Double = 0) throws -> LearningRateSchedule {
        try check(rate, "rate", op: "cosine")
        try check(minRate, "minRate", op: "cosine")
        guard total > 0 else {
            throw LoupeError("LearningRateSchedule.cosine: total must be > 0, got \(total)")
        }
        return LearningRateSchedule(kind: .cosine(total: total, minRate: minRate), baseRate: rate)
    }

    /// Linear warm-up for `steps` steps from `startFactor * rate(atStep: 0)` towards it, then
    /// this schedule from its own step 0. Matches `SequentialLR([LinearLR(start_factor:,
    /// total_iters: steps), self], milestones: [steps])`; PyTorch's `LinearLR` default start
    /// factor is 1/3.
    public func withWarmup(steps: Int, startFactor: Double = 1.0 / 3.0) throws -> LearningRateSchedule {
        guard steps >= 0 else {
            throw LoupeError("LearningRateSchedule.warmup: steps must be >= 0, got \(steps)")
        }
        guard startFactor > 0, startFactor <= 1 else {
            throw LoupeError("LearningRateSchedule.warmup: startFactor must be in (0, 1], got \(startFactor)")
        }
        if steps == 0 { return self }
        return LearningRateSchedule(kind: .warmup(steps: steps, startFactor: startFactor, then: self), baseRate: baseRate)
    }

    /// The learning rate for step `step` (0-based; negative steps read as 0).
    public func rate(atStep step: Int) -> Double {
        let t = max(step, 0)
        switch kind {
        case .constant:
            return baseRate
        case let .step(size, gamma):
            return baseRate * pow(gamma, Double(t / size))
        case let .cosine(total, minRate):
            return minRate + (baseRate - minRate) * (1 + cos(Double.pi * Double(t) / Double(total))) / 2
        case let .warmup(steps, startFactor, then):
            if t >= steps { return then.rate(atStep: t - steps) }
            let factor = startFactor + (1 - startFactor) * Double(t) / Double(steps)
            return then.rate(atStep: 0) * factor
        }
    }

    public var description: String {
        switch kind {
        case .constant: return "constant(\(baseRate))"
        case let .step(size, gamma): return "step(\(baseRate), stepSize: \(size), gamma: \(gamma))"
        case let .cosine(total, minRate): return "cosine(\(baseRate), total: \(total), minRate: \(minRate))"
        case let .warmup(steps, startFactor, then): return "\(then).withWarmup(steps: \(steps), startFactor: \(startFactor))"
        }
    }

    private static func check(_ value: Double, _ what: String, op: String) throws {
        guard value.isFinite, value >= 0 else {
            throw LoupeError("LearningRateSchedule.\(op): \(what) must be finite and >= 0, got \(value)")
        }
    }
}
