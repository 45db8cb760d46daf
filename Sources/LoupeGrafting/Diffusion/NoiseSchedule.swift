import Foundation
import LoupeTensor

/// The noise schedule of a Gaussian diffusion process, with the quantities DiT's
/// `GaussianDiffusion` derives from its betas, in double precision as DiT computes them
/// (numpy float64); they become float32 only when they scale a tensor.
public struct NoiseSchedule: Equatable, Sendable {
    /// beta_t for each retained step, first (least noisy) to last.
    public let betas: [Double]
    /// For each retained step, the step of the original process the model is called with
    /// (DiT's `timestep_map`); the identity for an unrespaced schedule.
    public let timestepMap: [Int]
    /// The number of steps of the original process (1000 for DiT).
    public let originalSteps: Int

    public let alphasCumprod: [Double]
    public let alphasCumprodPrevious: [Double]
    public let sqrtAlphasCumprod: [Double]
    public let sqrtOneMinusAlphasCumprod: [Double]
    public let sqrtRecipAlphasCumprod: [Double]
    public let sqrtRecipm1AlphasCumprod: [Double]
    public let posteriorVariance: [Double]
    /// log of the posterior variance, its first entry replaced by the second's (it is 0).
    public let posteriorLogVarianceClipped: [Double]
    public let posteriorMeanCoefficient1: [Double]
    public let posteriorMeanCoefficient2: [Double]

    /// The number of retained steps.
    public var steps: Int { betas.count }

    /// DiT's linear schedule (`get_named_beta_schedule("linear", steps)`): betas from
    /// 1e-4 to 0.02 scaled by 1000 / steps, evenly spaced.
    public static func linearBetas(steps: Int) throws -> [Double] {
        guard steps >= 2 else { throw LoupeError("diffusion: a schedule needs at least 2 steps, got \(steps)") }
        let scale = 1000 / Double(steps)
        let start = scale * 0.0001, end = scale * 0.02
        // numpy's linspace: start + i * step, the last value exactly `end`.
        let step = (end - start) / Double(steps - 1)
        var betas = (0..<steps).map { start + Double($0) * step }
        betas[steps - 1] = end
        guard betas.allSatisfy({ $0 > 0 && $0 <= 1 }) else {
            throw LoupeError("diffusion: a linear schedule of \(steps) steps has betas outside (0, 1]")
        }
        return betas
    }

    /// The steps of an `originalSteps`-step process that a respacing keeps (DiT's
    /// `space_timesteps`): `"250"` or `"10,15,20"` (counts per equal section, each strided with
    /// rounding), or `"ddim50"` (one integer stride).
    public static func retainedSteps(originalSteps: Int, respacing: String) throws -> [Int] {
        let text = respacing.trimmingCharacters(in: .whitespaces)
        if text.hasPrefix("ddim") {
            guard let desired = Int(text.dropFirst(4)), desired > 0 else {
                throw LoupeError("diffusion: respacing '\(respacing)' is not ddimN with N a positive count")
            }
            for stride in 1..<originalSteps where Swift.stride(from: 0, to: originalSteps, by: stride).underestimatedCount == desired {
                return Array(Swift.stride(from: 0, to: originalSteps, by: stride))
            }
            throw LoupeError("diffusion: cannot take exactly \(desired) of \(originalSteps) steps with an integer stride")
        }
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        var counts: [Int] = []
        for part in parts {
            guard let count = Int(part), count > 0 else {
                throw LoupeError("diffusion: respacing '\(respacing)' must be step counts such as \"250\" or \"10,15,20\", or \"ddimN\"")
            }
            counts.append(count)
        }
        guard !counts.isEmpty else { throw LoupeError("diffusion: respacing is empty") }
        let sizePer = originalSteps / counts.count, extra = originalSteps % counts.count
        var start = 0
        var kept = Set<Int>()
        for (i, count) in counts.enumerated() {
            let size = sizePer + (i < extra ? 1 : 0)
            guard size >= count else {
                throw LoupeError("diffusion: cannot divide a section of \(size) steps into \(count)")
            }
            let stride = count <= 1 ? 1 : Double(size - 1) / Double(count - 1)
            var position = 0.0
            for _ in 0..<count {
                // Python's round: half to even.
                kept.insert(start + Int(position.rounded(.toNearestOrEven)))
                position += stride
            }
            start += size
        }
        return kept.sorted()
    }

    /// A schedule over `betas` (every step retained).
    public init(betas: [Double]) throws {
        try self.init(betas: betas, timestepMap: Array(betas.indices), originalSteps: betas.count)
    }

    /// DiT's `create_diffusion(respacing)` schedule: the linear schedule of `originalSteps`
    /// steps, respaced (`nil` or "" keeps every step) as DiT's `SpacedDiffusion` does, with betas
    /// recomputed so the retained steps' cumulative products are unchanged.
    public static func dit(respacing: String? = nil, originalSteps: Int = 1000) throws -> NoiseSchedule {
        let base = try NoiseSchedule(betas: linearBetas(steps: originalSteps))
        guard let respacing, !respacing.isEmpty else { return base }
        let kept = try retainedSteps(originalSteps: originalSteps, respacing: respacing)
        var betas: [Double] = [], map: [Int] = []
        var last = 1.0
        for (i, cumulative) in base.alphasCumprod.enumerated() where kept.contains(i) {
            betas.append(1 - cumulative / last)
            last = cumulative
            map.append(i)
        }
        return try NoiseSchedule(betas: betas, timestepMap: map, originalSteps: originalSteps)
    }

    init(betas: [Double], timestepMap: [Int], originalSteps: Int) throws {
        guard betas.count >= 2 else { throw LoupeError("diffusion: a schedule needs at least 2 steps, got \(betas.count)") }
        guard betas.allSatisfy({ $0 > 0 && $0 <= 1 }) else { throw LoupeError("diffusion: every beta must lie in (0, 1]") }
        self.betas = betas
        self.timestepMap = timestepMap
        self.originalSteps = originalSteps
        var cumulative: [Double] = []
        var product = 1.0
        for beta in betas {
            product *= 1 - beta
            cumulative.append(product)
        }
        alphasCumprod = cumulative
        alphasCumprodPrevious = [1] + cumulative.dropLast()
        sqrtAlphasCumprod = cumulative.map { $0.squareRoot() }
        sqrtOneMinusAlphasCumprod = cumulative.map { (1 - $0).squareRoot() }
        sqrtRecipAlphasCumprod = cumulative.map { (1 / $0).squareRoot() }
        sqrtRecipm1AlphasCumprod = cumulative.map { (1 / $0 - 1).squareRoot() }
        var variance: [Double] = [], coefficient1: [Double] = [], coefficient2: [Double] = []
        for t in betas.indices {
            let previous = alphasCumprodPrevious[t]
            variance.append(betas[t] * (1 - previous) / (1 - cumulative[t]))
            coefficient1.append(betas[t] * previous.squareRoot() / (1 - cumulative[t]))
            coefficient2.append((1 - previous) * (1 - betas[t]).squareRoot() / (1 - cumulative[t]))
        }
        posteriorVariance = variance
        posteriorLogVarianceClipped = ([variance[1]] + variance.dropFirst()).map { log($0) }
        posteriorMeanCoefficient1 = coefficient1
        posteriorMeanCoefficient2 = coefficient2
    }
}
