import Foundation
import LoupeModels
import LoupeTensor

/// Settings of `DiffusionTrainer`, with DiT's `train.py` defaults where it has them.
public struct DiffusionTrainingOptions {
    /// Optimizer updates.
    public var steps = 1000
    public var batchSize = 32
    /// AdamW (DiT: lr 1e-4, no weight decay, betas (0.9, 0.999)).
    public var learningRate = 1e-4
    public var weightDecay = 0.0
    /// Linear warm-up of the learning rate over this many steps (DiT: none).
    public var warmupSteps = 0
    /// Clip the gradient's global norm to this value (nil: no clipping, as DiT).
    public var gradientClip: Double?
    /// The moving average kept for sampling: ema <- decay ema + (1 - decay) model (DiT: 0.9999).
    public var emaDecay = 0.9999
    /// The probability that a label is replaced by the null class, which teaches the
    /// unconditional model classifier-free guidance needs (DiT: 0.1).
    public var labelDropout = 0.1
    /// Mirror images left-right at random (DiT's data loader does).
    public var mirror = false
    public var seed: UInt64 = 0
    /// Steps after which a copy of the moving average is kept (`DiffusionTrainer.snapshots`).
    public var snapshotSteps: Set<Int> = []
    /// Called after each step with the step (1-based) and the batch's mean loss; throw to stop.
    public var onStep: (Int, Float) throws -> Void = { _, _ in }

    public init() {}
}

/// Trains a class-conditional diffusion model (inputs `x`, `t`, `y`, as DiT) as DiT's
/// `train.py` does: images and labels drawn in shuffled epochs, labels dropped to the null class
/// at random, a uniform timestep per image, DiT's training loss (epsilon MSE plus the
/// variational-bound term for a learned variance), AdamW, and a moving average of the weights.
/// The model is trained in place; `ema` is the model to sample from.
public final class DiffusionTrainer {
    public let model: Module
    /// The moving average of `model`'s weights.
    public let ema: Module
    public let diffusion: GaussianDiffusion
    public let options: DiffusionTrainingOptions
    /// The null class (the number of classes).
    public let nullClass: Int
    let images: Tensor
    let labels: [Int]
    let trainable: [(path: String, parameter: Parameter)]
    var random: RandomGenerator
    var order: [Int] = []
    var position = 0
    /// Copies of the moving average after the steps in `options.snapshotSteps`, in order.
    public private(set) var snapshots: [(step: Int, model: Module)] = []
    let architectures: ArchitectureCatalog

    /// `images` are [N, C, H, W] in the model's data range ([-1, 1] for pixels, VAE latents times
    /// the scaling factor), `labels` their classes in 0..<nullClass. Only parameters whose paths
    /// `train` accepts are updated (all by default).
    public init(model: Module, diffusion: GaussianDiffusion, images: Tensor, labels: [Int], nullClass: Int,
                options: DiffusionTrainingOptions, architectures: ArchitectureCatalog,
                train: (String) -> Bool = { _ in true }, op: String = "train_diffusion") throws {
        guard images.rank == 4, images.shape[0] > 0 else {
            throw LoupeError("\(op): images must be [N, C, H, W], got \(describe(shape: images.shape))")
        }
        guard labels.count == images.shape[0] else {
            throw LoupeError("\(op): \(labels.count) labels for \(images.shape[0]) images")
        }
        if let bad = labels.first(where: { $0 < 0 || $0 >= nullClass }) {
            throw LoupeError("\(op): label \(bad) outside 0..<\(nullClass)")
        }
        guard options.steps >= 1, options.batchSize >= 1 else {
            throw LoupeError("\(op): steps and batch must be positive")
        }
        guard options.emaDecay >= 0, options.emaDecay < 1, options.labelDropout >= 0, options.labelDropout <= 1 else {
            throw LoupeError("\(op): ema must lie in [0, 1) and label_dropout in [0, 1]")
        }
        self.model = model
        self.diffusion = diffusion
        self.images = images.contiguous()
        self.labels = labels
        self.nullClass = nullClass
        self.options = options
        self.architectures = architectures
        trainable = model.namedParameters().filter { train($0.path) }
        guard !trainable.isEmpty else { throw LoupeError("\(op): no parameters to train") }
        random = RandomGenerator(seed: options.seed, stream: 0x64696666)
        ema = try copyModel(model, architectures: architectures)
    }

    /// Runs the training and returns each step's mean loss.
    @discardableResult
    public func train(progress: ProgressBar? = nil) throws -> [Float] {
        let frozen = model.namedParameters().filter { entry in !trainable.contains { $0.parameter === entry.parameter } }
        for (_, parameter) in frozen { parameter.value = parameter.value.detached() }
        let leaves = trainable.map { entry -> Tensor in
            let leaf = entry.parameter.value.requiresGrad ? entry.parameter.value : entry.parameter.value.detached().contiguous().requiringGrad()
            entry.parameter.value = leaf
            return leaf
        }
        let optimizer = try AdamW(parameters: leaves, learningRate: options.learningRate, weightDecay: options.weightDecay)
        model.setTraining(true)
        defer {
            for entry in trainable { entry.parameter.value = entry.parameter.value.detached() }
            model.setTraining(false)
        }
        var history: [Float] = []
        for step in 1...options.steps {
            try Interrupt.checkpoint("train_diffusion")
            if options.warmupSteps > 0 {
                optimizer.learningRate = options.learningRate * min(1, Double(step) / Double(options.warmupSteps))
            }
            let (x0, y) = try nextBatch()
            let steps = (0..<x0.shape[0]).map { _ in Int(random.nextUInt64() % UInt64(diffusion.schedule.steps)) }
            let noise = try Tensor.normal(x0.shape, generator: &random)
            let labelTensor = Tensor(y.map(Float.init))
            optimizer.zeroGrad()
            let loss = try GradMode.withGrad { () -> Tensor in
                let denoiser: Denoiser = { x, t in try ConditionalDenoiser.output(self.model, x: x, timesteps: t, labels: labelTensor) }
                return try diffusion.trainingTerms(denoiser, start: x0, steps: steps, noise: noise).loss.mean()
            }
            try loss.backward()
            if let clip = options.gradientClip { _ = try clipGradNorm(leaves, maxNorm: clip) }
            try optimizer.step()
            try updateEMA()
            let value = try loss.item()
            guard value.isFinite else {
                throw LoupeError("train_diffusion: the loss became \(value) at step \(step); lower the learning rate")
            }
            history.append(value)
            if options.snapshotSteps.contains(step) {
                snapshots.append((step, try copyModel(ema, architectures: architectures)))
            }
            progress?.update(step, loss: Double(value))
            try options.onStep(step, value)
        }
        return history
    }

    /// The next batch of images (mirrored at random when asked) and labels (dropped to the null
    /// class at random), walking a fresh permutation each epoch.
    func nextBatch() throws -> (Tensor, [Int]) {
        let n = images.shape[0], batch = options.batchSize
        var indices: [Int] = []
        indices.reserveCapacity(batch)
        while indices.count < batch {
            if position == order.count {
                order = Array(0..<n)
                for i in stride(from: n - 1, to: 0, by: -1) {
                    order.swapAt(i, Int(random.nextUInt64() % UInt64(i + 1)))
                }
                position = 0
            }
            indices.append(order[position])
            position += 1
        }
        var shifts: [Trainer.ImageShift] = []
        var labelsOut: [Int] = []
        for index in indices {
            shifts.append(Trainer.ImageShift(dx: 0, dy: 0, flip: options.mirror && random.nextUniform() < 0.5))
            let drop = options.labelDropout > 0 && Double(random.nextUniform()) < options.labelDropout
            labelsOut.append(drop ? nullClass : labels[index])
        }
        return (Trainer.assemble(images, indices: indices, shifts: shifts), labelsOut)
    }

    /// DiT's `update_ema`: ema <- decay ema + (1 - decay) model; buffers copied.
    func updateEMA() throws {
        try updateMovingAverage(ema, toward: model, beta: Float(options.emaDecay))
    }
}
