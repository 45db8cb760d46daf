import Foundation
import LoupeTensor

/// Images with integer class labels: `images` is `[N, C, H, W]`, `labels` has N entries.
public struct LabeledImages {
    public var images: Tensor
    public var labels: [Int]

    /// Checks that the images are `[N, C, H, W]` with one label each; errors name `op`.
    public init(images: Tensor, labels: [Int], op: String = "train") throws {
        guard images.rank == 4 else {
            throw LoupeError("\(op): images must be [N, C, H, W], got \(describe(shape: images.shape))")
        }
        guard images.shape[0] == labels.count, !labels.isEmpty else {
            throw LoupeError("\(op): \(images.shape[0]) images but \(labels.count) labels")
        }
        self.images = images.contiguous()
        self.labels = labels
    }

    public var count: Int { labels.count }
}

/// Random augmentation of training images, drawn from the trainer's seeded generator.
public struct Augmentation: Sendable, Equatable {
    /// Mirror each image left-right with probability 1/2.
    public var horizontalFlip: Bool
    /// Pad each side with this many zero pixels and crop back to the original size at a
    /// random offset (0: no cropping).
    public var cropPadding: Int

    public init(horizontalFlip: Bool = false, cropPadding: Int = 0) {
        self.horizontalFlip = horizontalFlip
        self.cropPadding = cropPadding
    }

    public static let none = Augmentation()
    /// Flip and a 2-pixel random crop, the usual choice for 28x28 images.
    public static let standard = Augmentation(horizontalFlip: true, cropPadding: 2)

    public var isNone: Bool { !horizontalFlip && cropPadding == 0 }
}

/// How `Trainer` optimises a classifier.
public struct TrainingOptions {
    public enum OptimizerKind: String, Sendable { case sgd, adam, adamw }
    public enum ScheduleKind: String, Sendable { case constant, cosine, step }

    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Double
    public var optimizer: OptimizerKind
    /// Decoupled (AdamW) or L2 (Adam, SGD) weight decay, applied to weights of rank 2 and
    /// above only (biases, norms, class token and position embeddings are not decayed, as timm).
    public var weightDecay: Double
    /// SGD momentum (Nesterov when `nesterov`).
    public var momentum: Double
    public var nesterov: Bool
    /// Learning-rate schedule over all steps: cosine to 0, or x0.1 at each third.
    public var schedule: ScheduleKind
    /// Linear warm-up, in epochs (fractions allowed).
    public var warmupEpochs: Double
    public var labelSmoothing: Float
    /// Maximum gradient norm (nil: no clipping).
    public var clipNorm: Double?
    public var augmentation: Augmentation
    /// Seed of the shuffling and augmentation draws.
    public var seed: UInt64
    /// Batch size used for evaluation.
    public var evaluationBatchSize: Int

    public init(epochs: Int, batchSize: Int = 128, learningRate: Double = 1e-3, optimizer: OptimizerKind = .adamw,
                weightDecay: Double = 0.05, momentum: Double = 0.9, nesterov: Bool = false,
                schedule: ScheduleKind = .cosine, warmupEpochs: Double = 0, labelSmoothing: Float = 0,
                clipNorm: Double? = nil, augmentation: Augmentation = .none, seed: UInt64 = 0,
                evaluationBatchSize: Int = 500) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.optimizer = optimizer
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.nesterov = nesterov
        self.schedule = schedule
        self.warmupEpochs = warmupEpochs
        self.labelSmoothing = labelSmoothing
        self.clipNorm = clipNorm
        self.augmentation = augmentation
        self.seed = seed
        self.evaluationBatchSize = evaluationBatchSize
    }

    /// Throws when a number is out of range.
    public func validate() throws {
        guard epochs >= 1 else { throw LoupeError("train: epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw LoupeError("train: batch must be at least 1, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw LoupeError("train: lr must be positive, got \(learningRate)") }
        guard weightDecay >= 0 else { throw LoupeError("train: weight_decay must be >= 0, got \(weightDecay)") }
        guard warmupEpochs >= 0 else { throw LoupeError("train: warmup must be >= 0 epochs, got \(warmupEpochs)") }
        guard augmentation.cropPadding >= 0 else { throw LoupeError("train: crop padding must be >= 0, got \(augmentation.cropPadding)") }
        guard evaluationBatchSize >= 1 else { throw LoupeError("train: evaluation batch must be at least 1") }
    }
}

/// What one epoch of training measured.
public struct EpochRecord: Sendable {
    /// Mean cross-entropy over the epoch's training batches.
    public var loss: Double
    /// Fraction of training images classified correctly during the epoch (augmented, as seen).
    public var accuracy: Double
    public var testLoss: Double?
    public var testAccuracy: Double?
    /// Wall time of the epoch's training steps (without evaluation), in seconds.
    public var seconds: Double
    public var imagesPerSecond: Double
    /// Learning rate at the epoch's last step.
    public var learningRate: Double
}

/// Trains a classifier with cross-entropy: shuffled mini-batches, augmentation, an optimizer
/// with a schedule, evaluation after every epoch, and a progress bar on a terminal.
public final class Trainer {
    public let model: Module
    public let options: TrainingOptions
    /// Called before every step; throw from it to stop (e.g. on Ctrl-C). `progress` says how far
    /// the work got, for the message.
    public var checkStop: () throws -> Void = {}
    /// How far training has got: updated before every step.
    public private(set) var progress = TrainingProgress(epoch: 0, epochs: 0, completedSteps: 0, stepsPerEpoch: 0)
    /// The progress bar label.
    public var label = "train"
    /// Called after every epoch with its record (for logging).
    public var onEpoch: (Int, EpochRecord) -> Void = { _, _ in }

    public init(model: Module, options: TrainingOptions) throws {
        try options.validate()
        self.model = model
        self.options = options
    }

    /// Runs `options.epochs` epochs over `train`, evaluating on `test` after each, and returns
    /// every epoch's record. The model's parameters are updated in place; it is left in
    /// evaluation mode with parameters detached from autograd.
    public func fit(_ train: LabeledImages, test: LabeledImages? = nil) throws -> [EpochRecord] {
        let stepsPerEpoch = (train.count + options.batchSize - 1) / options.batchSize
        let totalSteps = stepsPerEpoch * options.epochs
        let optimizers = try makeOptimizers(totalSteps: totalSteps, stepsPerEpoch: stepsPerEpoch)
        let parameters = optimizers.flatMap(\.parameters)
        defer {
            model.setTraining(false)
            model.parameters(trainable: false)
        }
        var generator = RandomGenerator(seed: options.seed, stream: 0x747261696e)
        var records: [EpochRecord] = []
        for epoch in 0..<options.epochs {
            model.setTraining(true)
            let order = generator.permutation(train.count)
            let bar = ProgressBar("\(label) \(epoch + 1)/\(options.epochs)", total: stepsPerEpoch)
            // An error (Ctrl-C, a diverging loss) ends the bar's line before it is reported.
            defer { bar.finish() }
            let start = Date()
            var lossSum = 0.0, correct = 0, seen = 0
            for step in 0..<stepsPerEpoch {
                progress = TrainingProgress(epoch: epoch + 1, epochs: options.epochs, completedSteps: step, stepsPerEpoch: stepsPerEpoch)
                try checkStop()
                let indices = Array(order[(step * options.batchSize)..<min(train.count, (step + 1) * options.batchSize)])
                let batch = try Trainer.batch(train, indices: indices, augmentation: options.augmentation, generator: &generator)
                for optimizer in optimizers { optimizer.zeroGrad() }
                let logits = try GradMode.withGrad { try ForwardContext().run(model, batch.images) }
                let loss = try NN.crossEntropy(logits: logits, targets: batch.targets, labelSmoothing: options.labelSmoothing)
                try loss.backward()
                if let clip = options.clipNorm { _ = try clipGradNorm(parameters, maxNorm: clip) }
                for optimizer in optimizers { try optimizer.step() }
                let value = Double(try loss.item())
                guard value.isFinite else {
                    throw LoupeError("train: the loss became \(value) at epoch \(epoch + 1), step \(step + 1) (try a lower lr or clip)")
                }
                lossSum += value * Double(indices.count)
                correct += try Trainer.correctCount(logits.detached(), indices.map { train.labels[$0] })
                seen += indices.count
                let elapsed = Date().timeIntervalSince(start)
                bar.update(step + 1, loss: lossSum / Double(seen), metrics: [
                    ("acc", ProgressBar.formatPercent(Double(correct) / Double(seen))),
                    ("img/s", String(Int((Double(seen) / max(elapsed, 1e-9)).rounded()))),
                ])
            }
            let seconds = Date().timeIntervalSince(start)
            bar.finish()
            var record = EpochRecord(loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                     testLoss: nil, testAccuracy: nil, seconds: seconds,
                                     imagesPerSecond: Double(seen) / max(seconds, 1e-9),
                                     learningRate: optimizers[0].learningRate)
            if let test {
                model.setTraining(false)
                let result = try Trainer.evaluate(model, test, batchSize: options.evaluationBatchSize, checkStop: checkStop)
                record.testLoss = result.loss
                record.testAccuracy = result.accuracy
            }
            records.append(record)
            onEpoch(epoch, record)
        }
        return records
    }

    /// Mean cross-entropy and accuracy of `model` (in its current mode) on `data`, without
    /// gradients.
    public static func evaluate(_ model: Module, _ data: LabeledImages, batchSize: Int = 500,
                                checkStop: () throws -> Void = {}) throws -> (loss: Double, accuracy: Double) {
        try GradMode.withoutGrad {
            var lossSum = 0.0, correct = 0
            var start = 0
            while start < data.count {
                try checkStop()
                let indices = Array(start..<min(data.count, start + batchSize))
                let images = try data.images.sliced(axis: 0, start: indices[0], end: indices[indices.count - 1] + 1)
                let targets = try Tensor(shape: [indices.count], scalars: indices.map { Float(data.labels[$0]) })
                let logits = try ForwardContext().run(model, images)
                guard logits.rank == 2, logits.shape[0] == indices.count else {
                    throw LoupeError("train: the model must return logits [N, classes], got \(describe(shape: logits.shape))")
                }
                let loss = try NN.crossEntropy(logits: logits, targets: targets, reduction: .sum)
                lossSum += Double(try loss.item())
                correct += try correctCount(logits, indices.map { data.labels[$0] })
                start += batchSize
            }
            return (lossSum / Double(data.count), Double(correct) / Double(data.count))
        }
    }

    // MARK: Pieces

    /// AdamW/Adam/SGD over the decayed weights (rank >= 2) and, separately, the rest.
    private func makeOptimizers(totalSteps: Int, stepsPerEpoch: Int) throws -> [Optimizer] {
        let named = model.namedParameters()
        let values = model.parameters(trainable: true)
        var decayed: [Tensor] = [], plain: [Tensor] = []
        for ((path, _), value) in zip(named, values) {
            let exempt = value.rank < 2 || path.hasSuffix("pos_embed") || path.hasSuffix("cls_token")
            if exempt || options.weightDecay == 0 { plain.append(value) } else { decayed.append(value) }
        }
        guard !values.isEmpty else { throw LoupeError("train: the model has no parameters") }
        let rate = options.learningRate
        // The schedule runs over the steps after the warm-up (as PyTorch's SequentialLR), so a
        // cosine reaches 0 at the last step.
        let warmup = min(Int((options.warmupEpochs * Double(stepsPerEpoch)).rounded()), totalSteps - 1)
        let remaining = totalSteps - max(warmup, 0)
        var schedule: LearningRateSchedule
        switch options.schedule {
        case .constant: schedule = try .constant(rate)
        case .cosine: schedule = try .cosine(rate, total: remaining)
        case .step: schedule = try .step(rate, stepSize: max(1, remaining / 3), gamma: 0.1)
        }
        if warmup > 0 { schedule = try schedule.withWarmup(steps: warmup) }
        func make(_ group: [Tensor], decay: Double) throws -> Optimizer {
            switch options.optimizer {
            case .adamw: return try AdamW(parameters: group, learningRate: rate, weightDecay: decay, schedule: schedule)
            case .adam: return try Adam(parameters: group, learningRate: rate, weightDecay: decay, schedule: schedule)
            case .sgd:
                return try SGD(parameters: group, learningRate: rate, momentum: options.momentum,
                               nesterov: options.nesterov, weightDecay: decay, schedule: schedule)
            }
        }
        var result: [Optimizer] = []
        if !decayed.isEmpty { result.append(try make(decayed, decay: options.weightDecay)) }
        if !plain.isEmpty { result.append(try make(plain, decay: 0)) }
        return result
    }

    /// The images at `indices` (augmented) and their labels as a float tensor.
    static func batch(_ data: LabeledImages, indices: [Int], augmentation: Augmentation,
                      generator: inout RandomGenerator) throws -> (images: Tensor, targets: Tensor) {
        let pad = augmentation.cropPadding
        // Draw every random number first, in sample order, so the batch does not depend on threads.
        var draws: [ImageShift] = []
        draws.reserveCapacity(indices.count)
        for _ in indices {
            let dx = pad > 0 ? generator.nextInt(below: 2 * pad + 1) - pad : 0
            let dy = pad > 0 ? generator.nextInt(below: 2 * pad + 1) - pad : 0
            let flip = augmentation.horizontalFlip ? generator.nextInt(below: 2) == 1 : false
            draws.append(ImageShift(dx: dx, dy: dy, flip: flip))
        }
        let targets = try Tensor(shape: [indices.count], scalars: indices.map { Float(data.labels[$0]) })
        return (assemble(data.images, indices: indices, shifts: draws), targets)
    }

    /// One image's augmentation: output pixel (y, x) reads source pixel (y + dy, x' + dx), where
    /// x' is x or, with `flip`, width - 1 - x; pixels outside the source are 0. (A shift by
    /// (dx, dy) in -p...p is a random crop of the image zero-padded by p.)
    public struct ImageShift: Equatable, Sendable {
        public var dx: Int, dy: Int, flip: Bool

        public init(dx: Int, dy: Int, flip: Bool) {
            self.dx = dx
            self.dy = dy
            self.flip = flip
        }
    }

    /// The images `[N, C, H, W]` at `indices`, each moved by its shift.
    public static func assemble(_ images: Tensor, indices: [Int], shifts: [ImageShift]) -> Tensor {
        let shape = images.shape
        let (channels, height, width) = (shape[1], shape[2], shape[3])
        let plane = height * width, stride = channels * plane
        var result = Tensor.uninitialized([indices.count, channels, height, width])
        images.withContiguousPointer { source in
            result.withMutablePointer { destination in
                Parallel.forEach(indices.count) { i in
                    let src = source + indices[i] * stride, dst = destination + i * stride
                    let shift = shifts[i]
                    if shift.dx == 0 && shift.dy == 0 && !shift.flip {
                        dst.update(from: src, count: stride)
                        return
                    }
                    for c in 0..<channels {
                        for y in 0..<height {
                            let sy = y + shift.dy
                            let row = dst + c * plane + y * width
                            guard sy >= 0 && sy < height else {
                                row.update(repeating: 0, count: width)
                                continue
                            }
                            let sourceRow = src + c * plane + sy * width
                            for x in 0..<width {
                                let sx = (shift.flip ? width - 1 - x : x) + shift.dx
                                row[x] = sx >= 0 && sx < width ? sourceRow[sx] : 0
                            }
                        }
                    }
                }
            }
        }
        return result
    }

    /// How many rows of `logits` have their largest value at the label.
    static func correctCount(_ logits: Tensor, _ labels: [Int]) throws -> Int {
        let predicted = try logits.argmax(axis: 1).scalars
        guard predicted.count == labels.count else {
            throw LoupeError("train: the model must return logits [N, classes], got \(describe(shape: logits.shape))")
        }
        return zip(predicted, labels).reduce(0) { $0 + (Int($1.0) == $1.1 ? 1 : 0) }
    }
}

extension ProgressBar {
    /// 0.9123 -> "91.23%".
    public static func formatPercent(_ fraction: Double) -> String {
        String(format: "%.2f%%", fraction * 100)
    }
}

/// How far a `Trainer` has got: the epoch running (from 1), and the steps of it already done
/// (the model holds the weights after the last of them).
public struct TrainingProgress: Sendable, Equatable {
    public var epoch: Int
    public var epochs: Int
    public var completedSteps: Int
    public var stepsPerEpoch: Int
}
