import Foundation
import LoupeTensor

/// Images with the objects annotated in each: `images [N, C, H, W]` in [0, 1] and, per image,
/// labels and boxes by their corners in pixels.
public struct DetectionDataset {
    /// `[N, C, H, W]`, values in [0, 1].
    public var images: Tensor
    /// The objects of each image, corners in pixels of that image.
    public var annotations: [LabeledBoxes]

    /// Checks that the images are `[N, C, H, W]` with one annotation each; errors name `op`.
    public init(images: Tensor, annotations: [LabeledBoxes], op: String = "train_detector") throws {
        guard images.rank == 4, images.shape[2] > 0, images.shape[3] > 0 else {
            throw LoupeError("\(op): images must be [N, C, H, W], got \(describe(shape: images.shape))")
        }
        guard images.shape[0] == annotations.count, !annotations.isEmpty else {
            throw LoupeError("\(op): \(images.shape[0]) images but \(annotations.count) targets")
        }
        self.images = images.detached().contiguous()
        self.annotations = annotations
    }

    /// The number of images.
    public var count: Int { annotations.count }
    /// Image height and width in pixels.
    public var imageSize: (height: Int, width: Int) { (images.shape[2], images.shape[3]) }
}

/// How `DetectorTrainer` trains a DETR; the defaults are detr/main.py's.
public struct DetectorTrainingOptions: Sendable, Equatable {
    /// Passes over the data set (DETR: 300 on COCO).
    public var epochs: Int
    /// Images per step (DETR: 2 per GPU).
    public var batchSize: Int
    /// AdamW's learning rate for every parameter outside the backbone (`lr`, 1e-4).
    public var learningRate: Double
    /// The learning rate of the parameters whose path starts with `backbone.` (`lr_backbone`,
    /// 1e-5); 0 keeps the backbone fixed (no gradients are computed for it).
    public var backboneLearningRate: Double
    /// AdamW's decoupled weight decay on every parameter (`weight_decay`, 1e-4).
    public var weightDecay: Double
    /// Maximum global gradient norm (`clip_max_norm`, 0.1); nil: no clipping.
    public var clipNorm: Double?
    /// Mirror each image and its boxes left-right with probability 1/2.
    public var horizontalFlip: Bool
    /// Multiply both learning rates by 0.1 every this many epochs (`lr_drop`, PyTorch's StepLR
    /// stepped once per epoch); nil: constant rates.
    public var learningRateDropEpochs: Int?
    /// Seed of the shuffling and flipping draws.
    public var seed: UInt64

    public init(epochs: Int = 10, batchSize: Int = 16, learningRate: Double = 1e-4, backboneLearningRate: Double = 1e-5,
                weightDecay: Double = 1e-4, clipNorm: Double? = 0.1, horizontalFlip: Bool = false,
                learningRateDropEpochs: Int? = nil, seed: UInt64 = 0) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.backboneLearningRate = backboneLearningRate
        self.weightDecay = weightDecay
        self.clipNorm = clipNorm
        self.horizontalFlip = horizontalFlip
        self.learningRateDropEpochs = learningRateDropEpochs
        self.seed = seed
    }

    /// Throws when a number is out of range; messages use the language's argument names.
    public func validate() throws {
        let op = "train_detector"
        guard epochs >= 1 else { throw LoupeError("\(op): epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 1 else { throw LoupeError("\(op): batch must be at least 1, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw LoupeError("\(op): lr must be positive, got \(learningRate)") }
        guard backboneLearningRate >= 0, backboneLearningRate.isFinite else {
            throw LoupeError("\(op): backbone_lr must be >= 0, got \(backboneLearningRate)")
        }
        guard weightDecay >= 0, weightDecay.isFinite else { throw LoupeError("\(op): weight_decay must be >= 0, got \(weightDecay)") }
        if let clipNorm, !(clipNorm > 0 && clipNorm.isFinite) {
            throw LoupeError("\(op): clip must be positive (or nil for no clipping), got \(clipNorm)")
        }
        if let drop = learningRateDropEpochs, drop < 1 {
            throw LoupeError("\(op): drop_at must be at least 1 epoch, got \(drop)")
        }
    }
}

/// What one epoch of detector training measured (means over its batches, weighted by images).
public struct DetectorEpochRecord: Sendable, Equatable {
    /// The criterion's total (every output, weighted).
    public var loss: Double
    /// The final output's cross-entropy (`loss_ce`, unweighted).
    public var classification: Double
    /// The final output's L1 box loss (`loss_bbox`, unweighted).
    public var box: Double
    /// The final output's GIoU loss (`loss_giou`, unweighted).
    public var giou: Double
    /// Wall time of the epoch, in seconds.
    public var seconds: Double
    /// The learning rate (outside the backbone) of the epoch's last step.
    public var learningRate: Double
}

/// Trains a DETR on a `DetectionDataset` as detr/main.py and engine.py do: shuffled
/// mini-batches, ImageNet normalisation (3-channel images, as `DETR.evaluationBatch`), targets
/// as normalised (cx, cy, w, h), an optional random horizontal flip of images and boxes,
/// `SetCriterion` with DETR's weights, AdamW with the backbone's own learning rate, clipping
/// of the global gradient norm and an optional step decay, and a progress bar (loss, ETA) on a
/// terminal. All images of the dataset have one size, so batches need no padding mask.
public final class DetectorTrainer {
    /// The model trained in place.
    public let model: Module
    /// DETR's criterion for the model's classes, with its default weights.
    public let criterion: SetCriterion
    public let options: DetectorTrainingOptions
    /// Called before every step; throw from it to stop (e.g. on Ctrl-C).
    public var checkStop: () throws -> Void = {}
    /// How far training has got: updated before every step.
    public private(set) var progress = TrainingProgress(epoch: 0, epochs: 0, completedSteps: 0, stepsPerEpoch: 0)
    /// The progress bar label.
    public var label = "train_detector"
    /// Called after every epoch with its record.
    public var onEpoch: (Int, DetectorEpochRecord) -> Void = { _, _ in }

    /// A trainer for `model` (a DETR, or an edited copy of one: any module taking images `x`
    /// and returning DETR's output record) predicting `classes` object classes.
    public init(model: Module, classes: Int, options: DetectorTrainingOptions) throws {
        try options.validate()
        self.model = model
        self.criterion = try SetCriterion(classes: classes)
        self.options = options
    }

    /// Runs `options.epochs` epochs over `data` and returns every epoch's record. The model's
    /// parameters are updated in place; it is left in evaluation mode with parameters detached.
    public func fit(_ data: DetectionDataset) throws -> [DetectorEpochRecord] {
        for (image, objects) in data.annotations.enumerated() {
            if let label = objects.labels.first(where: { $0 >= criterion.classes }) {
                throw LoupeError("train_detector: target \(image) has label \(label), but the model has \(criterion.classes) classes (0..<\(criterion.classes))")
            }
        }
        let stepsPerEpoch = (data.count + options.batchSize - 1) / options.batchSize
        let optimizers = try makeOptimizers(stepsPerEpoch: stepsPerEpoch)
        let parameters = optimizers.flatMap(\.parameters)
        defer {
            model.setTraining(false)
            model.parameters(trainable: false)
        }
        var generator = RandomGenerator(seed: options.seed, stream: 0x6465_7472)
        var records: [DetectorEpochRecord] = []
        for epoch in 0..<options.epochs {
            model.setTraining(true)
            let order = generator.permutation(data.count)
            let bar = ProgressBar("\(label) \(epoch + 1)/\(options.epochs)", total: stepsPerEpoch)
            defer { bar.finish() }
            let start = Date()
            var sums = (loss: 0.0, classification: 0.0, box: 0.0, giou: 0.0), seen = 0
            for step in 0..<stepsPerEpoch {
                progress = TrainingProgress(epoch: epoch + 1, epochs: options.epochs, completedSteps: step, stepsPerEpoch: stepsPerEpoch)
                try checkStop()
                let indices = Array(order[(step * options.batchSize)..<min(data.count, (step + 1) * options.batchSize)])
                let flips = indices.map { _ in options.horizontalFlip && generator.nextInt(below: 2) == 1 }
                let (images, targets) = try Self.batch(data, indices: indices, flips: flips)
                for optimizer in optimizers { optimizer.zeroGrad() }
                let output = try GradMode.withGrad { try ForwardContext().run(model, inputs: ModuleInputs([("x", .tensor(images))])) }
                let loss = try criterion.loss(output, targets: targets)
                let value = Double(try loss.total.item())
                guard value.isFinite else {
                    throw LoupeError("train_detector: the loss became \(value) at epoch \(epoch + 1), step \(step + 1) (try a lower lr or clip)")
                }
                try loss.total.backward()
                if let clip = options.clipNorm { try clipGradNorm(parameters, maxNorm: clip) }
                for optimizer in optimizers { try optimizer.step() }
                let n = Double(indices.count)
                sums.loss += value * n
                sums.classification += Double(loss.final.classification) * n
                sums.box += Double(loss.final.box) * n
                sums.giou += Double(loss.final.giou) * n
                seen += indices.count
                let elapsed = Date().timeIntervalSince(start)
                bar.update(step + 1, loss: sums.loss / Double(seen), metrics: [
                    ("ce", String(format: "%.3f", sums.classification / Double(seen))),
                    ("giou", String(format: "%.3f", sums.giou / Double(seen))),
                    ("img/s", String(format: "%.1f", Double(seen) / max(elapsed, 1e-9))),
                ])
            }
            bar.finish()
            let count = Double(seen)
            let record = DetectorEpochRecord(loss: sums.loss / count, classification: sums.classification / count,
                                             box: sums.box / count, giou: sums.giou / count,
                                             seconds: Date().timeIntervalSince(start), learningRate: optimizers[0].learningRate)
            records.append(record)
            onEpoch(epoch, record)
        }
        return records
    }

    // MARK: Pieces

    /// AdamW over the parameters outside the backbone and, at its own rate, the backbone's
    /// (detr/main.py's two parameter groups), each with the step decay when asked. With a
    /// backbone rate of 0 the backbone's parameters are detached and not optimised.
    private func makeOptimizers(stepsPerEpoch: Int) throws -> [Optimizer] {
        var head: [Tensor] = [], backbone: [Tensor] = []
        let trainBackbone = options.backboneLearningRate > 0
        for (path, parameter) in model.namedParameters() {
            let inBackbone = path.hasPrefix("backbone.")
            if inBackbone && !trainBackbone {
                parameter.value = parameter.value.detached()
                continue
            }
            let value = parameter.value.requiresGrad ? parameter.value : parameter.value.requiringGrad()
            parameter.value = value
            if inBackbone { backbone.append(value) } else { head.append(value) }
        }
        guard !head.isEmpty || !backbone.isEmpty else { throw LoupeError("train_detector: the model has no parameters to train") }
        func make(_ group: [Tensor], rate: Double) throws -> Optimizer {
            var schedule: LearningRateSchedule?
            if let drop = options.learningRateDropEpochs {
                schedule = try .step(rate, stepSize: drop * stepsPerEpoch, gamma: 0.1)
            }
            return try AdamW(parameters: group, learningRate: rate, weightDecay: options.weightDecay, schedule: schedule)
        }
        var result: [Optimizer] = []
        if !head.isEmpty { result.append(try make(head, rate: options.learningRate)) }
        if !backbone.isEmpty { result.append(try make(backbone, rate: options.backboneLearningRate)) }
        return result
    }

    /// The images at `indices` (mirrored where `flips` says), normalised with ImageNet's
    /// statistics when they have 3 channels, and their targets as normalised (cx, cy, w, h).
    static func batch(_ data: DetectionDataset, indices: [Int], flips: [Bool]) throws -> (images: Tensor, targets: [DetectionTarget]) {
        let shifts = flips.map { Trainer.ImageShift(dx: 0, dy: 0, flip: $0) }
        var images = Trainer.assemble(data.images, indices: indices, shifts: shifts)
        if images.shape[1] == 3 {
            let mean = try Tensor(shape: [1, 3, 1, 1], scalars: DETR.imageMean), std = try Tensor(shape: [1, 3, 1, 1], scalars: DETR.imageStd)
            images = try (images - mean) / std
        }
        let (height, width) = data.imageSize
        let targets = try zip(indices, flips).map { index, flip in
            try target(data.annotations[index], height: height, width: width, flip: flip)
        }
        return (images, targets)
    }

    /// One image's objects as DETR's training transforms leave them: mirrored when `flip`
    /// (`x0, x1 -> width - x1, width - x0`), then `box_xyxy_to_cxcywh` divided by
    /// `[width, height, width, height]`.
    static func target(_ objects: LabeledBoxes, height: Int, width: Int, flip: Bool) throws -> DetectionTarget {
        let w = Float(width), h = Float(height)
        var values: [Float] = []
        values.reserveCapacity(objects.count * 4)
        for box in objects.boxes {
            let corners = flip ? BoundingBox(x0: w - box.x1, y0: box.y0, x1: w - box.x0, y1: box.y1) : box
            let (cx, cy, bw, bh) = corners.centerForm
            values += [cx / w, cy / h, bw / w, bh / h]
        }
        return try DetectionTarget(labels: objects.labels, boxes: try Tensor(shape: [objects.count, 4], scalars: values))
    }
}
