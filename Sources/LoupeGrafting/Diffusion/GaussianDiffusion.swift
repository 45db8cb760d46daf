import Foundation
import LoupeTensor

/// A denoising network as the diffusion process calls it: the noisy batch x_t [N, C, ...] and
/// the timesteps of the original process [N] (DiT's `_WrappedModel` has already mapped respaced
/// steps), returning [N, C, ...] (epsilon) or [N, 2C, ...] (epsilon, then the learned-range
/// variance values). Conditioning such as class labels is captured by the closure.
public typealias Denoiser = (_ x: Tensor, _ timesteps: Tensor) throws -> Tensor

/// Gaussian diffusion as DiT's `create_diffusion` builds it (`gaussian_diffusion.py`,
/// `respace.py`): the model predicts epsilon and, with a learned range, where its variance lies
/// between the posterior variance and beta; sampling by DDPM (`p_sample`) or DDIM
/// (`ddim_sample`); the training loss is the epsilon MSE plus the variational-bound term that
/// trains the variance. Coefficients are taken from the double-precision schedule and applied
/// in float32, as DiT's `_extract_into_tensor` does.
public struct GaussianDiffusion: Sendable {
    /// What the model's variance output means.
    public enum VarianceType: String, Sendable {
        /// DiT's `learn_sigma=True`: the second half of the output channels interpolates the log
        /// variance between the clipped posterior variance and beta.
        case learnedRange = "learned_range"
        /// The posterior variance (`sigma_small=True`).
        case fixedSmall = "fixed_small"
        /// beta, with the first step's posterior variance (`learn_sigma=False`, DiT's default then).
        case fixedLarge = "fixed_large"
    }

    public let schedule: NoiseSchedule
    public let varianceType: VarianceType

    public init(schedule: NoiseSchedule, varianceType: VarianceType = .learnedRange) {
        self.schedule = schedule
        self.varianceType = varianceType
    }

    /// DiT's `create_diffusion(respacing, learn_sigma:)`.
    public static func dit(respacing: String? = nil, learnSigma: Bool = true) throws -> GaussianDiffusion {
        GaussianDiffusion(schedule: try NoiseSchedule.dit(respacing: respacing),
                          varianceType: learnSigma ? .learnedRange : .fixedLarge)
    }

    /// The distribution p(x_{t-1} | x_t) one reverse step uses.
    public struct ReverseStep {
        public var mean: Tensor
        public var variance: Tensor
        public var logVariance: Tensor
        /// The model's prediction of x_0.
        public var predictedStart: Tensor
    }

    // MARK: - Coefficients

    func checkSteps(_ steps: [Int], batch: Int, op: String) throws {
        guard steps.count == batch else {
            throw LoupeError("\(op): \(steps.count) timesteps for a batch of \(batch)")
        }
        for t in steps where t < 0 || t >= schedule.steps {
            throw LoupeError("\(op): timestep \(t) outside 0..<\(schedule.steps)")
        }
    }

    /// `_extract_into_tensor`: one float32 value per sample, shaped [N, 1, ..., 1] to broadcast.
    func coefficient(_ values: [Double], _ steps: [Int], rank: Int) -> Tensor {
        let shape = [steps.count] + Array(repeating: 1, count: max(rank - 1, 0))
        // Cannot fail: the scalar count equals the shape's.
        return (try? Tensor(shape: shape, scalars: steps.map { Float(values[$0]) })) ?? Tensor(0)
    }

    /// The timesteps the model is called with for retained steps `steps` ([N], float).
    public func modelTimesteps(_ steps: [Int]) -> Tensor {
        Tensor(steps.map { Float(schedule.timestepMap[$0]) })
    }

    // MARK: - Forward process

    /// q(x_t | x_0) sampled with the given noise (`q_sample`).
    public func noised(_ start: Tensor, steps: [Int], noise: Tensor) throws -> Tensor {
        guard noise.shape == start.shape else {
            throw LoupeError("diffusion: noise \(describe(shape: noise.shape)) differs from the input \(describe(shape: start.shape))")
        }
        try checkSteps(steps, batch: start.shape.first ?? 0, op: "diffusion")
        let rank = start.shape.count
        return try coefficient(schedule.sqrtAlphasCumprod, steps, rank: rank) * start
            + coefficient(schedule.sqrtOneMinusAlphasCumprod, steps, rank: rank) * noise
    }

    /// q(x_{t-1} | x_t, x_0): mean, variance and clipped log variance (`q_posterior_mean_variance`).
    public func posterior(start: Tensor, noisy: Tensor, steps: [Int]) throws -> (mean: Tensor, variance: Tensor, logVariance: Tensor) {
        let rank = noisy.shape.count
        let mean = try coefficient(schedule.posteriorMeanCoefficient1, steps, rank: rank) * start
            + coefficient(schedule.posteriorMeanCoefficient2, steps, rank: rank) * noisy
        let shape = noisy.shape
        let variance = try coefficient(schedule.posteriorVariance, steps, rank: rank) + Tensor.zeros(shape)
        let logVariance = try coefficient(schedule.posteriorLogVarianceClipped, steps, rank: rank) + Tensor.zeros(shape)
        return (mean, variance, logVariance)
    }

    /// x_0 from x_t and a predicted epsilon.
    public func predictedStart(noisy: Tensor, steps: [Int], epsilon: Tensor) throws -> Tensor {
        let rank = noisy.shape.count
        return try coefficient(schedule.sqrtRecipAlphasCumprod, steps, rank: rank) * noisy
            - coefficient(schedule.sqrtRecipm1AlphasCumprod, steps, rank: rank) * epsilon
    }

    /// epsilon from x_t and a predicted x_0.
    public func predictedEpsilon(noisy: Tensor, steps: [Int], start: Tensor) throws -> Tensor {
        let rank = noisy.shape.count
        return try (coefficient(schedule.sqrtRecipAlphasCumprod, steps, rank: rank) * noisy - start)
            / coefficient(schedule.sqrtRecipm1AlphasCumprod, steps, rank: rank)
    }

    // MARK: - Reverse process

    /// The number of channels a model must output for inputs of `channels` channels.
    public func outputChannels(forInput channels: Int) -> Int {
        varianceType == .learnedRange ? 2 * channels : channels
    }

    /// p(x_{t-1} | x_t) from the model's output at x_t (`p_mean_variance`): the output is split
    /// into epsilon and variance values when the variance is learned; x_0 is clipped to [-1, 1]
    /// when `clip` is set.
    public func reverseStep(modelOutput: Tensor, noisy: Tensor, steps: [Int], clip: Bool) throws -> ReverseStep {
        let shape = noisy.shape
        guard shape.count >= 2 else {
            throw LoupeError("diffusion: x_t must be [N, C, ...], got \(describe(shape: shape))")
        }
        try checkSteps(steps, batch: shape[0], op: "diffusion")
        let channels = shape[1], rank = shape.count
        var expected = shape
        expected[1] = outputChannels(forInput: channels)
        guard modelOutput.shape == expected else {
            throw LoupeError("diffusion: the model returned \(describe(shape: modelOutput.shape)) for x_t \(describe(shape: shape)); expected \(describe(shape: expected))")
        }
        let epsilon: Tensor, variance: Tensor, logVariance: Tensor
        switch varianceType {
        case .learnedRange:
            let parts = try modelOutput.split(sizes: [channels, channels], axis: 1)
            epsilon = parts[0]
            let minLog = try coefficient(schedule.posteriorLogVarianceClipped, steps, rank: rank) + Tensor.zeros(shape)
            let maxLog = try coefficient(schedule.betas.map { log($0) }, steps, rank: rank) + Tensor.zeros(shape)
            let fraction = try (parts[1] + 1) / 2
            logVariance = try fraction * maxLog + (1 - fraction) * minLog
            variance = logVariance.exp()
        case .fixedSmall:
            epsilon = modelOutput
            variance = try coefficient(schedule.posteriorVariance, steps, rank: rank) + Tensor.zeros(shape)
            logVariance = try coefficient(schedule.posteriorLogVarianceClipped, steps, rank: rank) + Tensor.zeros(shape)
        case .fixedLarge:
            epsilon = modelOutput
            let large = [schedule.posteriorVariance[1]] + schedule.betas.dropFirst()
            variance = try coefficient(large, steps, rank: rank) + Tensor.zeros(shape)
            logVariance = try coefficient(large.map { log($0) }, steps, rank: rank) + Tensor.zeros(shape)
        }
        var start = try predictedStart(noisy: noisy, steps: steps, epsilon: epsilon)
        if clip { start = try start.clamped(min: -1, max: 1) }
        let mean = try posterior(start: start, noisy: noisy, steps: steps).mean
        return ReverseStep(mean: mean, variance: variance, logVariance: logVariance, predictedStart: start)
    }

    /// One DDPM step (`p_sample`): x_{t-1} = mean + exp(log variance / 2) noise, without noise
    /// at the last step (t = 0).
    public func ddpmStep(_ denoiser: Denoiser, noisy: Tensor, step: Int, clip: Bool,
                         generator: inout RandomGenerator) throws -> (sample: Tensor, predictedStart: Tensor) {
        let steps = Array(repeating: step, count: noisy.shape[0])
        let output = try denoiser(noisy, modelTimesteps(steps))
        let p = try reverseStep(modelOutput: output, noisy: noisy, steps: steps, clip: clip)
        let noise = try Tensor.normal(noisy.shape, generator: &generator)
        guard step != 0 else { return (p.mean, p.predictedStart) }
        return (try p.mean + (p.logVariance * 0.5).exp() * noise, p.predictedStart)
    }

    /// One DDIM step (`ddim_sample`) with stochasticity `eta` (0: deterministic).
    public func ddimStep(_ denoiser: Denoiser, noisy: Tensor, step: Int, clip: Bool, eta: Float,
                         generator: inout RandomGenerator) throws -> (sample: Tensor, predictedStart: Tensor) {
        let steps = Array(repeating: step, count: noisy.shape[0])
        let output = try denoiser(noisy, modelTimesteps(steps))
        let p = try reverseStep(modelOutput: output, noisy: noisy, steps: steps, clip: clip)
        let epsilon = try predictedEpsilon(noisy: noisy, steps: steps, start: p.predictedStart)
        let rank = noisy.shape.count
        let alphaBar = coefficient(schedule.alphasCumprod, steps, rank: rank)
        let alphaBarPrevious = coefficient(schedule.alphasCumprodPrevious, steps, rank: rank)
        let sigma = try eta * ((1 - alphaBarPrevious) / (1 - alphaBar)).sqrt() * (1 - alphaBar / alphaBarPrevious).sqrt()
        let noise = try Tensor.normal(noisy.shape, generator: &generator)
        let mean = try p.predictedStart * alphaBarPrevious.sqrt() + (1 - alphaBarPrevious - sigma * sigma).sqrt() * epsilon
        guard step != 0 else { return (mean, p.predictedStart) }
        return (try mean + sigma * noise, p.predictedStart)
    }

    /// How to walk the reverse process.
    public enum Sampler: Equatable, Sendable {
        case ddpm
        case ddim(eta: Float)
    }

    /// Samples from pure noise `noise` [N, C, ...] through every retained step, last to first
    /// (`p_sample_loop` / `ddim_sample_loop`). `progress` is told each completed step.
    public func sample(_ denoiser: Denoiser, noise: Tensor, sampler: Sampler = .ddpm, clip: Bool,
                       generator: inout RandomGenerator,
                       progress: ((_ completed: Int, _ total: Int) -> Void)? = nil) throws -> Tensor {
        var x = noise
        try GradMode.withoutGrad {
            for (done, step) in (0..<schedule.steps).reversed().enumerated() {
                try Interrupt.checkpoint("sample")
                switch sampler {
                case .ddpm: x = try ddpmStep(denoiser, noisy: x, step: step, clip: clip, generator: &generator).sample
                case .ddim(let eta): x = try ddimStep(denoiser, noisy: x, step: step, clip: clip, eta: eta, generator: &generator).sample
                }
                progress?(done + 1, schedule.steps)
            }
        }
        return x
    }

    // MARK: - Training loss

    /// The per-sample training terms (each [N]).
    public struct TrainingTerms {
        /// mean over non-batch dimensions of (noise - predicted epsilon)^2.
        public var mse: Tensor
        /// The variational-bound term in bits per dimension (nil unless the variance is learned).
        public var vb: Tensor?
        /// mse + vb: DiT's `loss_type` MSE with a learned variance.
        public var loss: Tensor
    }

    /// DiT's `training_losses` for x_0 `start` at retained steps `steps` with the given noise:
    /// the model sees q_sample(x_0, t, noise); the MSE trains epsilon; with a learned variance,
    /// the variational-bound term trains the variance values with the mean frozen (epsilon
    /// detached), the discretised decoder likelihood at t = 0 and the posterior KL elsewhere.
    public func trainingTerms(_ denoiser: Denoiser, start: Tensor, steps: [Int], noise: Tensor) throws -> TrainingTerms {
        let noisy = try noised(start, steps: steps, noise: noise)
        let output = try denoiser(noisy, modelTimesteps(steps))
        return try trainingTerms(modelOutput: output, start: start, noisy: noisy, steps: steps, noise: noise)
    }

    /// The training terms from a model output already computed at `noisy`.
    public func trainingTerms(modelOutput: Tensor, start: Tensor, noisy: Tensor, steps: [Int], noise: Tensor) throws -> TrainingTerms {
        let channels = start.shape[1]
        var expected = start.shape
        expected[1] = outputChannels(forInput: channels)
        guard modelOutput.shape == expected else {
            throw LoupeError("diffusion: the model returned \(describe(shape: modelOutput.shape)) for x_t \(describe(shape: start.shape)); expected \(describe(shape: expected))")
        }
        let nonBatch = Array(1..<start.shape.count)
        guard varianceType == .learnedRange else {
            let mse = try (noise - modelOutput).pow(2).mean(axes: nonBatch)
            return TrainingTerms(mse: mse, vb: nil, loss: mse)
        }
        let parts = try modelOutput.split(sizes: [channels, channels], axis: 1)
        let frozen = try Tensor.concat([parts[0].detached(), parts[1]], axis: 1)
        let vb = try variationalBound(modelOutput: frozen, start: start, noisy: noisy, steps: steps)
        let mse = try (noise - parts[0]).pow(2).mean(axes: nonBatch)
        return TrainingTerms(mse: mse, vb: vb, loss: try mse + vb)
    }

    /// `_vb_terms_bpd` without clipping: per sample, in bits per dimension.
    func variationalBound(modelOutput: Tensor, start: Tensor, noisy: Tensor, steps: [Int]) throws -> Tensor {
        let nonBatch = Array(1..<start.shape.count)
        let truth = try GradMode.withoutGrad { try posterior(start: start, noisy: noisy, steps: steps) }
        let p = try reverseStep(modelOutput: modelOutput, noisy: noisy, steps: steps, clip: false)
        let ln2 = Float(log(2.0))
        // normal_kl(true mean, true log variance, model mean, model log variance).
        let kl = try 0.5 * (-1.0 + p.logVariance - truth.logVariance + (truth.logVariance - p.logVariance).exp()
                            + (truth.mean - p.mean).pow(2) * p.logVariance.negated().exp())
        let klBits = try kl.mean(axes: nonBatch) / ln2
        guard steps.contains(0) else { return klBits }
        let nll = try Self.discretizedGaussianLogLikelihood(start, means: p.mean, logScales: p.logVariance * 0.5).negated()
        let nllBits = try nll.mean(axes: nonBatch) / ln2
        let first = Tensor(steps.map { $0 == 0 ? 1 : 0 })
        return try Tensor.where(first, nllBits, klBits)
    }

    /// The log likelihood of x (images in [-1, 1] from 8-bit values) under a Gaussian
    /// discretised to bins of width 2/255 (`discretized_gaussian_log_likelihood`), with DiT's
    /// tanh approximation of the normal CDF.
    public static func discretizedGaussianLogLikelihood(_ x: Tensor, means: Tensor, logScales: Tensor) throws -> Tensor {
        guard x.shape == means.shape, x.shape == logScales.shape else {
            throw LoupeError("discretized_gaussian_log_likelihood: shapes differ: \(describe(shape: x.shape)), \(describe(shape: means.shape)), \(describe(shape: logScales.shape))")
        }
        func cdf(_ v: Tensor) throws -> Tensor {
            try 0.5 * (1.0 + (Float((2.0 / Double.pi).squareRoot()) * (v + 0.044715 * v.pow(3))).tanh())
        }
        let centered = try x - means
        let inverseStd = logScales.negated().exp()
        let cdfPlus = try cdf(inverseStd * (centered + 1.0 / 255.0))
        let cdfMin = try cdf(inverseStd * (centered - 1.0 / 255.0))
        let logCdfPlus = try cdfPlus.clamped(min: 1e-12).log()
        let logOneMinusCdfMin = try (1 - cdfMin).clamped(min: 1e-12).log()
        let logDelta = try (cdfPlus - cdfMin).clamped(min: 1e-12).log()
        return try Tensor.where(x.less(Tensor(-0.999)), logCdfPlus,
                                Tensor.where(x.greater(Tensor(0.999)), logOneMinusCdfMin, logDelta))
    }
}
