import Foundation
import LoupeInputOptimization
import LoupeTensor
import LoupeModels

/// Options of `trainInverse`.
public struct InverseTrainingOptions {
    public var layout: InverseLayout = .blocks
    public var patch: PatchInverseKind = .linear
    public var epochs = 5
    public var batchSize = 64
    public var learningRate: Double = 1e-3
    /// Learning rate over each module's steps: cosine decay to 0 (the default) or constant.
    public var cosineSchedule = true
    /// Train the whole chain jointly on pixel MSE (the baseline) instead of module by module.
    public var endToEnd = false
    public var seed: UInt64 = 0
    /// The source model's input normalisation (nil: none).
    public var normalization: Normalization?
    /// Images per forward pass of the frozen model when capturing activations.
    public var captureBatchSize = 128
    /// Called after every optimiser step; throw to stop (the REPL checks for Ctrl-C here).
    public var onStep: (() throws -> Void)?

    public init() {}
}

/// A trained chain and its training curves: the mean loss of each epoch, per stage (by
/// `from -> to`), or under `end_to_end`.
public struct InverseTrainingResult {
    public var chain: InverseChain
    public var history: [(stage: String, losses: [Float])]
}

/// The activations of `model` on the (normalised) input `x` at `paths` and its output. Besides
/// capture paths, a DETR gives its `predictions` (see `DETR.predictions(from:)`).
public func representations(_ model: Module, _ x: Tensor, _ paths: [String]) throws -> (activations: [String: Tensor], output: ModuleValue) {
    let wantsPredictions = paths.contains(DETR.predictionsPath) && model is DETR
    let captured = paths.filter { !(wantsPredictions && $0 == DETR.predictionsPath) }
    let inputName = model.inputSignature.first?.name ?? "x"
    var (output, activations) = try trace(model, inputs: ModuleInputs([(inputName, .tensor(x))]), capture: captured)
    if wantsPredictions { activations[DETR.predictionsPath] = try DETR.predictions(from: output) }
    return (activations, output)
}

/// Captures `paths` of the frozen `model` on `images` (`[N, C, H, W]` in [0, 1]; a DETR's
/// `predictions` too), batch by batch without gradients, each path written straight into one
/// `[N, ...]` tensor (no second copy of the activations is ever held).
public func captureActivations(_ model: Module, images: Tensor, paths: [String], normalization: Normalization?,
                               batchSize: Int = 128) throws -> [String: Tensor] {
    guard images.rank == 4, images.shape[0] > 0 else {
        throw LoupeError("capture: images must be [N, C, H, W], got \(describe(shape: images.shape))")
    }
    let wasTraining = model.training
    model.setTraining(false)
    defer { model.setTraining(wasTraining) }
    let count = images.shape[0]
    var results: [String: Tensor] = [:]
    try GradMode.withoutGrad {
        var start = 0
        while start < count {
            try Interrupt.checkpoint("capture")
            let end = min(start + max(batchSize, 1), count)
            let batch = try images.sliced(axis: 0, start: start, end: end)
            let captured = try representations(model, try normalization?.apply(batch) ?? batch, paths).activations
            for path in paths {
                guard let value = captured[path], value.rank >= 1, value.shape[0] == end - start else {
                    throw LoupeError("capture: the activation at '\(path)' does not keep the batch axis of \(end - start) images")
                }
                let rowShape = Array(value.shape.dropFirst())
                if results[path] == nil { results[path] = Tensor.uninitialized([count] + rowShape) }
                guard let destination = results[path], Array(destination.shape.dropFirst()) == rowShape else {
                    throw LoupeError("capture: the activation at '\(path)' changed shape between batches")
                }
                let rowCount = rowShape.reduce(1, *)
                value.withContiguousPointer { source in
                    (destination.storage.pointer + start * rowCount).update(from: source, count: (end - start) * rowCount)
                }
            }
            start = end
        }
    }
    return results
}

/// Trains an inverse chain for the ViT `model` on `images` (`[N, C, H, W]` in [0, 1]).
///
/// Activations are captured once from the frozen model. Modular training (the default) trains
/// each module alone with Adam (cosine decay unless `cosineSchedule` is off) and MSE against
/// the representation one stage earlier, captured
/// from the model; the patch inverse is trained on image-level MSE between its output and the
/// input, both normalised like the model's input. The analytic patch inverse is computed, not
/// trained. With `endToEnd`, the whole chain from the deepest stage is trained jointly on that
/// pixel MSE instead. The activations at every stage boundary are held in memory (N x T x D
/// floats each; 2000 Fashion-MNIST images on a dim-96 ViT take 38 MB per boundary).
public func trainInverse(_ model: VisionTransformer, images: Tensor,
                         options: InverseTrainingOptions = InverseTrainingOptions()) throws -> InverseTrainingResult {
    guard images.rank == 4, images.shape[0] > 0,
          Array(images.shape.dropFirst()) == [model.config.channels, model.config.imageSize, model.config.imageSize] else {
        throw LoupeError("train_inverse: images must be [N, \(model.config.channels), \(model.config.imageSize), \(model.config.imageSize)] for this model, got \(describe(shape: images.shape))")
    }
    try checkTrainingOptions(options)
    var generator = RandomGenerator(seed: options.seed)
    let normalization = options.normalization ?? .identity(channels: model.config.channels)
    let chain = try InverseChain(model: model, layout: options.layout, patch: options.patch,
                                 normalization: normalization, generator: &generator)
    return try trainChain(chain, of: model, images: images, options: options, generator: &generator)
}

/// Trains an inverse chain for the DETR `model` on `images` (`[N, C, H, W]` in [0, 1], all one
/// size; see `InverseChainConfig.detr`) as `trainInverse` does for a ViT: activations captured
/// once from the frozen model (normalised with ImageNet's statistics unless
/// `options.normalization` says otherwise), then each module trained alone on MSE against the
/// representation one stage earlier, the backbone inverse on image-level MSE. Inverse encoder
/// and decoder depths default to the model's.
public func trainInverse(_ model: DETR, images: Tensor, options: InverseTrainingOptions = InverseTrainingOptions(),
                         encoderDepth: Int? = nil, decoderDepth: Int? = nil) throws -> InverseTrainingResult {
    guard images.rank == 4, images.shape[0] > 0, images.shape[1] == model.config.channels, images.shape[2] > 0, images.shape[3] > 0 else {
        throw LoupeError("train_inverse: images must be [N, \(model.config.channels), H, W] for this DETR, got \(describe(shape: images.shape))")
    }
    try checkTrainingOptions(options)
    var generator = RandomGenerator(seed: options.seed)
    let chain = try DETRInverseChain(model: model, height: images.shape[2], width: images.shape[3], encoderDepth: encoderDepth,
                                     decoderDepth: decoderDepth, normalization: options.normalization, generator: &generator)
    return try trainChain(chain, of: model, images: images, options: options, generator: &generator)
}

func checkTrainingOptions(_ options: InverseTrainingOptions) throws {
    guard options.epochs >= 1, options.batchSize >= 1, options.learningRate > 0 else {
        throw LoupeError("train_inverse: epochs (\(options.epochs)) and batch (\(options.batchSize)) must be positive, lr (\(options.learningRate)) positive")
    }
}

/// Captures the representations at every stage boundary of `chain` from the frozen `model` and
/// trains the chain's learned modules (see `trainInverse`).
func trainChain(_ chain: InverseChain, of model: Module, images: Tensor, options: InverseTrainingOptions,
                generator: inout RandomGenerator) throws -> InverseTrainingResult {
    let normalization = chain.config.normalization
    let stages = chain.config.stages
    let paths = Array(Set(stages.flatMap { [$0.from, $0.to] }).subtracting([InverseChainConfig.pixels])).sorted()
    let activations = try captureActivations(model, images: images, paths: paths, normalization: normalization,
                                             batchSize: options.captureBatchSize)
    let normalizedImages = try normalization.apply(images).contiguous()
    let count = images.shape[0]
    let batches = (count + options.batchSize - 1) / options.batchSize
    var history: [(stage: String, losses: [Float])] = []

    /// Runs `epochs` of Adam over shuffled batches; `loss(indices)` builds the batch loss.
    func fit(_ modules: [Module], label: String, loss: ([Int]) throws -> Tensor) throws -> [Float] {
        let parameters = modules.flatMap { $0.parameters(trainable: true) }
        for module in modules { module.setTraining(true) }
        defer {
            for module in modules {
                module.setTraining(false)
                module.parameters(trainable: false)
            }
        }
        let steps = options.epochs * batches
        let schedule = options.cosineSchedule
            ? try LearningRateSchedule.cosine(options.learningRate, total: steps)
            : try LearningRateSchedule.constant(options.learningRate)
        let optimizer = try Adam(parameters: parameters, learningRate: options.learningRate, schedule: schedule)
        let bar = ProgressBar(label, total: options.epochs * batches)
        defer { bar.finish() }
        var epochLosses: [Float] = []
        for epoch in 0..<options.epochs {
            let order = generator.permutation(count)
            var total = 0.0
            for b in 0..<batches {
                let indices = Array(order[(b * options.batchSize)..<min(count, (b + 1) * options.batchSize)])
                optimizer.zeroGrad()
                let value = try GradMode.withGrad { () -> Float in
                    let l = try loss(indices)
                    try l.backward()
                    return try l.item()
                }
                guard value.isFinite else {
                    throw LoupeError("train_inverse: \(label) loss became \(value) in epoch \(epoch + 1); lower lr (\(options.learningRate))")
                }
                try optimizer.step()
                total += Double(value) * Double(indices.count)
                bar.update(epoch * batches + b + 1, loss: Double(value))
                try options.onStep?()
            }
            epochLosses.append(Float(total / Double(count)))
        }
        return epochLosses
    }

    func pixelLoss(_ output: Tensor, _ indices: [Int]) throws -> Tensor {
        try NN.mse(try normalization.apply(output), try normalizedImages.indexSelect(axis: 0, indices: indices))
    }

    if options.endToEnd {
        let learned = chain.stageModules.filter { !($0 is AnalyticPatchInverse) }
        let start = stages[0].from
        let losses = try fit(learned, label: "train_inverse end-to-end") { indices in
            let x = try activations[start]!.indexSelect(axis: 0, indices: indices)
            return try pixelLoss(try chain.reconstruct(x, from: start), indices)
        }
        history.append(("end_to_end", losses))
    } else {
        for (index, stage) in stages.enumerated() where !(chain.stageModules[index] is AnalyticPatchInverse) {
            let name = "\(stage.from) -> \(stage.to)"
            let losses = try fit([chain.stageModules[index]], label: "train_inverse \(name)") { indices in
                let x = try activations[stage.from]!.indexSelect(axis: 0, indices: indices)
                let output = try chain.runStage(index, x)
                if stage.to == InverseChainConfig.pixels { return try pixelLoss(output, indices) }
                return try NN.mse(output, try activations[stage.to]!.indexSelect(axis: 0, indices: indices))
            }
            history.append((name, losses))
        }
    }
    return InverseTrainingResult(chain: chain, history: history)
}
