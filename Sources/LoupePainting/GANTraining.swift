import Foundation
import LoupeModels
import LoupeTensor

/// Settings of `trainGAN`, with StyleGAN2-ADA's names and its `auto` configuration's defaults.
public struct GANTrainingOptions {
    /// Generator updates (each also updates the discriminator once).
    public var steps = 1000
    public var batchSize = 32
    /// Adam learning rates and betas (NVlabs: 0.0025, betas (0, 0.99), eps 1e-8).
    public var generatorLearningRate = 0.0025
    public var discriminatorLearningRate = 0.0025
    public var betas = (0.0, 0.99)
    /// R1 weight gamma (NVlabs' auto: 0.0002 resolution^2 / batch).
    public var r1Gamma: Double?
    /// Steps between lazy R1 updates (NVlabs: 16; the penalty is scaled by it, and the
    /// discriminator's lr and betas by interval / (interval + 1)).
    public var r1Interval = 16
    /// Half-life of the generator's moving average in thousands of images (NVlabs' auto:
    /// batch * 10 / 32) and its ramp-up (the half-life is at most ramp x images seen).
    public var emaKimg: Double?
    public var emaRampup: Double? = 0.05
    /// Mirror real images left-right at random (NVlabs' `--mirror`).
    public var mirror = false
    public var seed: UInt64 = 0
    /// Steps after which a copy of the moving average is kept (`GANTrainer.snapshots`).
    public var snapshotSteps: Set<Int> = []
    /// Called after each step with the step (1-based) and the losses; throw to stop.
    public var onStep: (Int, GANStepLosses) throws -> Void = { _, _ in }

    public init() {}
}

/// The losses of one step (means over the batch).
public struct GANStepLosses {
    /// Non-saturating generator loss softplus(-D(G(z))).
    public var generator: Float
    /// softplus(D(G(z))) + softplus(-D(x)).
    public var discriminator: Float
    /// The last R1 penalty |grad_x D(x)|^2 (averaged over the batch).
    public var r1: Float
}

/// Adversarial training of a StyleGAN2 generator and discriminator as StyleGAN2-ADA's training
/// loop does it without augmentation, style mixing or path-length regularisation: non-saturating
/// logistic loss, lazy R1 on real images, and a moving average of the generator (`ema`, the model
/// to sample from). The R1 term's gradient with respect to the discriminator's weights,
/// grad_theta |g|^2 / 2 with g = grad_x D(x), is the directional derivative
/// (D(x + eps g) - D(x - eps g)) / (2 eps) differentiated with g held fixed (a central finite
/// difference of a Hessian-vector product; Loupe's autograd is first order), with eps scaled so the
/// step moves the images by 1e-4 in RMS. The step must cross few leaky-ReLU kinks: against finite
/// differences of the penalty itself, a 1e-3 step is 12% off on the first layer's weights and
/// 1e-4 within 2% on every layer checked; float32 still resolves it.
public final class GANTrainer {
    public let generator: StyleGAN2
    public let discriminator: StyleGAN2Discriminator
    /// The moving average of `generator`.
    public let ema: StyleGAN2
    public let options: GANTrainingOptions
    /// Real images `[N, C, R, R]` in [-1, 1].
    let images: Tensor
    var random: RandomGenerator
    var imagesSeen = 0
    /// Copies of the moving average after the steps in `options.snapshotSteps`, in order.
    public private(set) var snapshots: [(step: Int, generator: StyleGAN2)] = []

    public init(generator: StyleGAN2, discriminator: StyleGAN2Discriminator, images: Tensor,
                options: GANTrainingOptions) throws {
        let r = generator.config.resolution, c = generator.config.channels
        guard images.rank == 4, images.shape[1] == c, images.shape[2] == r, images.shape[3] == r, images.shape[0] > 0 else {
            throw LoupeError("train_gan: images must be [N, \(c), \(r), \(r)] for this generator, got \(describe(shape: images.shape))")
        }
        guard discriminator.config.resolution == r, discriminator.config.channels == c else {
            throw LoupeError("train_gan: the discriminator takes \(discriminator.config.channels)x\(discriminator.config.resolution)px images, the generator makes \(c)x\(r)px")
        }
        guard generator.config.classes == 0 else { throw LoupeError("train_gan: conditional generators are not supported") }
        guard options.batchSize >= 1, options.steps >= 1, options.r1Interval >= 1 else {
            throw LoupeError("train_gan: steps, batch and r1_interval must be positive")
        }
        guard options.batchSize % min(discriminator.config.mbstdGroupSize, options.batchSize) == 0 else {
            throw LoupeError("train_gan: batch \(options.batchSize) must be a multiple of the discriminator's mbstd group size \(discriminator.config.mbstdGroupSize)")
        }
        self.generator = generator
        self.discriminator = discriminator
        self.images = images.contiguous()
        self.options = options
        random = RandomGenerator(seed: options.seed, stream: 0x67616e)
        ema = try StyleGAN2(generator.config)
        try copyState(from: generator, to: ema, op: "train_gan")
    }

    /// The leaves of a module's parameters, switched on (the module's forward records gradients to
    /// them) or off (its forward does not).
    struct Leaves {
        var parameters: [Parameter]
        var leaves: [Tensor]
        init(_ module: Module) {
            parameters = module.namedParameters().map(\.parameter)
            leaves = module.parameters(trainable: true)
        }
        func set(_ on: Bool) {
            for (p, leaf) in zip(parameters, leaves) { p.value = on ? leaf : leaf.detached() }
        }
    }

    /// Runs the training and returns the losses of every step.
    @discardableResult
    public func train(progress: ProgressBar? = nil) throws -> [GANStepLosses] {
        let r = generator.config.resolution
        let batch = options.batchSize
        let gamma = options.r1Gamma ?? 0.0002 * Double(r * r) / Double(batch)
        let ratio = Double(options.r1Interval) / Double(options.r1Interval + 1)
        let gLeaves = Leaves(generator), dLeaves = Leaves(discriminator)
        let gOptimizer = try Adam(parameters: gLeaves.leaves, learningRate: options.generatorLearningRate,
                                  betas: options.betas, eps: 1e-8)
        let dOptimizer = try Adam(parameters: dLeaves.leaves, learningRate: options.discriminatorLearningRate * ratio,
                                  betas: (pow(options.betas.0, ratio), pow(options.betas.1, ratio)), eps: 1e-8)
        generator.setTraining(true)
        discriminator.setTraining(true)
        defer {
            gLeaves.set(false)
            dLeaves.set(false)
            generator.setTraining(false)
            discriminator.setTraining(false)
        }
        let savedNoise = generator.noiseMode
        defer { generator.noiseMode = savedNoise }
        var history: [GANStepLosses] = []
        var lastR1: Float = 0
        for step in 1...options.steps {
            // Generator: non-saturating logistic loss, through a discriminator that records nothing.
            gLeaves.set(true); dLeaves.set(false)
            gOptimizer.zeroGrad()
            generator.noiseMode = .random(seed: random.nextUInt64())
            let fakes = try GradMode.withGrad { try generator(inputs: ModuleInputs([("z", .tensor(try latents(batch)))])).tensor("images") }
            let gLoss = try GradMode.withGrad { try discriminator(fakes).negated().softplus().mean() }
            try gLoss.backward()
            try gOptimizer.step()

            // Discriminator: softplus(D(G(z))) + softplus(-D(x)).
            gLeaves.set(false); dLeaves.set(true)
            dOptimizer.zeroGrad()
            generator.noiseMode = .random(seed: random.nextUInt64())
            let moreFakes = try GradMode.withoutGrad {
                try generator(inputs: ModuleInputs([("z", .tensor(try latents(batch)))])).tensor("images")
            }
            let reals = try realBatch(batch)
            let dLoss = try GradMode.withGrad {
                try discriminator(moreFakes).softplus().mean() + discriminator(reals).negated().softplus().mean()
            }
            try dLoss.backward()
            try dOptimizer.step()

            // Lazy R1 on real images.
            if step % options.r1Interval == 0, gamma > 0 {
                dOptimizer.zeroGrad()
                lastR1 = try r1Step(reals, weight: Float(gamma / 2 * Double(options.r1Interval)), discriminatorLeaves: dLeaves)
                try dOptimizer.step()
            }
            imagesSeen += batch
            gLeaves.set(false)
            try updateEMA()
            let losses = GANStepLosses(generator: try gLoss.item(), discriminator: try dLoss.item(), r1: lastR1)
            guard losses.generator.isFinite, losses.discriminator.isFinite else {
                throw LoupeError("train_gan: the losses became \(losses.generator) / \(losses.discriminator) at step \(step); lower the learning rates")
            }
            history.append(losses)
            if options.snapshotSteps.contains(step) {
                let copy = try StyleGAN2(generator.config)
                try copyState(from: ema, to: copy, op: "train_gan")
                snapshots.append((step, copy))
            }
            progress?.update(step, loss: Double(losses.discriminator), metrics: [("G", String(format: "%.3f", losses.generator))])
            try options.onStep(step, losses)
        }
        return history
    }

    /// One R1 update's gradient: returns the mean penalty |grad_x D(x)|^2 and accumulates
    /// `weight` x its gradient into the discriminator's leaves.
    func r1Step(_ reals: Tensor, weight: Float, discriminatorLeaves: Leaves, stepSize: Float = 1e-4) throws -> Float {
        let x = reals.detached().requiringGrad()
        let gradient = try GradMode.withGrad { () throws -> Tensor in
            discriminatorLeaves.set(false)
            defer { discriminatorLeaves.set(true) }
            let logits = try discriminator(x).sum()
            return try Autograd.gradients(of: logits, wrt: [x])[0]
        }
        let g = gradient.detached()
        let batch = Float(reals.shape[0])
        let penalty = try (g * g).sum() / batch
        let rms = try (g * g).mean().sqrt().item()
        guard rms > 0, rms.isFinite else { return try penalty.item() }
        let eps = stepSize / rms
        // d/dtheta of mean |g|^2 / 2 = d/dtheta (D(x + eps g) - D(x - eps g)).sum() / (2 eps B).
        let difference = try GradMode.withGrad {
            let plus = try discriminator(reals + g * eps).sum()
            let minus = try discriminator(reals - g * eps).sum()
            return try (plus - minus) * (weight * 2 / (2 * eps * batch))
        }
        try difference.backward()
        return try penalty.item()
    }

    func latents(_ count: Int) throws -> Tensor {
        try Tensor.normal([count, generator.config.zDim], generator: &random)
    }

    func realBatch(_ count: Int) throws -> Tensor {
        let n = images.shape[0]
        let indices = (0..<count).map { _ in Int(random.nextUInt64() % UInt64(n)) }
        var batch = try images.indexSelect(axis: 0, indices: indices)
        if options.mirror {
            let flips = (0..<count).map { _ in random.nextUInt64() & 1 == 1 }
            if flips.contains(true) {
                let flipped = try batch.flipped(axes: [3])
                let mask = try Tensor(shape: [count, 1, 1, 1], scalars: flips.map { $0 ? 1 : 0 })
                batch = try batch + (flipped - batch) * mask
            }
        }
        return batch
    }

    /// G_ema <- G + (G_ema - G) beta, beta = 0.5^(batch / half-life); buffers copied.
    func updateEMA() throws {
        var halfLife = (options.emaKimg ?? Double(options.batchSize) * 10 / 32) * 1000
        if let ramp = options.emaRampup { halfLife = min(halfLife, Double(imagesSeen) * ramp) }
        let beta = Float(pow(0.5, Double(options.batchSize) / max(halfLife, 1e-8)))
        try updateMovingAverage(ema, toward: generator, beta: beta)
    }
}
