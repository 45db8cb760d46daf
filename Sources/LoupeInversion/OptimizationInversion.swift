import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor
import LoupeModels

/// Options of optimisation-based inversion (see `invert`).
public struct InversionOptions {
    /// What the activation of the optimised image is compared with the target by.
    public enum Loss: String, Sendable { case mse, cosine }
    /// How the image is parameterised (see `ImageParameterization.Kind`).
    public typealias Parameterization = ImageParameterization.Kind

    public var steps = 200
    public var learningRate: Double = 0.05
    public var loss: Loss = .mse
    /// Weight of the total-variation penalty (see `Regularizers.totalVariation`).
    public var tv: Float = 0
    /// Weight of the L2 penalty on the model input (`mean(x^2)` of the normalised image).
    public var l2: Float = 0
    /// Each step rolls the image by a random shift in `-jitter...jitter` pixels per axis.
    public var jitter = 0
    public var parameterization: Parameterization = .pixel
    /// lucent's colour decorrelation (`to_valid_rgb(decorrelate=True)`): the parameters live in
    /// a decorrelated colour space, mapped to RGB by `ColorDecorrelation.matrix` before the
    /// sigmoid. nil: on for 3-channel images (lucent's default), off otherwise; true needs 3 channels.
    public var decorrelateColor: Bool?
    /// The starting image `[B, C, H, W]` (or `[C, H, W]`) in (0, 1); nil starts near gray
    /// (parameters normal with std 0.01, as lucent).
    public var initialImage: Tensor?
    public var seed: UInt64 = 0
    /// The model's input normalisation (nil: images go in unchanged).
    public var normalization: Normalization?
    /// Progress bar label.
    public var label = "invert"
    /// Called after every step with the step number (from 1) and its loss; throw to stop (the
    /// REPL checks for Ctrl-C here).
    public var onStep: ((Int, Float) throws -> Void)?

    public init() {}
}

/// The result of `invert`: the images in [0, 1] and the total loss before each step.
public struct InversionResult {
    public var images: Tensor
    public var losses: [Float]
}

/// Optimises images with Adam so that `model`'s activation at `layer` matches `target`
/// (`[B, ...]`, one row per image; batched targets invert several images at once). `imageShape`
/// is `[C, H, W]`. The total loss is the match loss (MSE, or 1 - mean cosine similarity per
/// image) plus `tv` times the total variation of the image plus `l2` times the mean square of
/// the normalised input. Each step rolls the image by a random jitter. The model is not
/// changed (evaluation mode during the run).
public func invert(_ model: Module, target: Tensor, layer: String, imageShape: [Int],
                   options: InversionOptions = InversionOptions()) throws -> InversionResult {
    guard imageShape.count == 3, imageShape.allSatisfy({ $0 > 0 }) else {
        throw LoupeError("invert: image shape must be [C, H, W], got \(describe(shape: imageShape))")
    }
    guard target.rank >= 1, target.shape[0] > 0 else {
        throw LoupeError("invert: target must be [B, ...] activations, got \(describe(shape: target.shape))")
    }
    guard options.steps >= 1, options.jitter >= 0, options.learningRate > 0 else {
        throw LoupeError("invert: steps (\(options.steps)) must be positive, jitter (\(options.jitter)) non-negative and lr (\(options.learningRate)) positive")
    }
    let batch = target.shape[0]
    let (c, h, w) = (imageShape[0], imageShape[1], imageShape[2])
    let shape = [batch, c, h, w]
    var generator = RandomGenerator(seed: options.seed)
    if options.decorrelateColor == true && c != 3 {
        throw LoupeError("invert: colour decorrelation needs 3-channel images, got \(c) channels")
    }
    let image = try ImageParameterization(options.parameterization, shape: shape, initial: options.initialImage,
                                          decorrelate: options.decorrelateColor ?? (c == 3), generator: &generator, op: "invert")
    let jitter = try RandomTransform.roll(options.jitter)
    let match = try matchObjective(layer: layer, target: target.detached(), loss: options.loss)
    let wasTraining = model.training
    model.setTraining(false)
    defer { model.setTraining(wasTraining) }

    func objective() throws -> Tensor {
        let pixels = try jitter(try image.render(), generator: &generator)
        let input = try options.normalization?.apply(pixels) ?? pixels
        var loss = try match.evaluate(model, input)
        if options.tv > 0 { loss = try loss + options.tv * Regularizers.totalVariation(pixels) }
        if options.l2 > 0 { loss = try loss + options.l2 * input.pow(2).mean() }
        return loss
    }

    let optimizer = try Adam(parameters: [image.parameter], learningRate: options.learningRate)
    let bar = ProgressBar(options.label, total: options.steps)
    defer { bar.finish() }
    var losses: [Float] = []
    losses.reserveCapacity(options.steps)
    for step in 0..<options.steps {
        optimizer.zeroGrad()
        let loss = try GradMode.withGrad { try objective() }
        try loss.backward()
        try optimizer.step()
        let value = try loss.item()
        guard value.isFinite else {
            throw LoupeError("invert: the loss became \(value) at step \(step + 1); lower lr (\(options.learningRate))")
        }
        losses.append(value)
        bar.update(step + 1, loss: Double(value))
        try options.onStep?(step + 1, value)
    }
    let images = try GradMode.withoutGrad { try image.render() }
    return InversionResult(images: images.detached(), losses: losses)
}

/// `invert` with the target taken from `images` (`[B, C, H, W]` in [0, 1]): the activation of
/// the (normalised) images at `layer`.
public func invert(_ model: Module, images: Tensor, layer: String,
                   options: InversionOptions = InversionOptions()) throws -> InversionResult {
    guard images.rank == 4 else {
        throw LoupeError("invert: target images must be [B, C, H, W], got \(describe(shape: images.shape))")
    }
    try checkSinglePath(layer)
    let target = try GradMode.withoutGrad {
        try activation(model, try options.normalization?.apply(images) ?? images, at: layer).detached()
    }
    return try invert(model, target: target, layer: layer, imageShape: Array(images.shape.dropFirst()), options: options)
}

/// The feature-matching objective of `invert`: MSE against `target`, or 1 - the mean cosine
/// similarity per image.
func matchObjective(layer: String, target goal: Tensor, loss: InversionOptions.Loss) throws -> Objective {
    try checkSinglePath(layer)
    switch loss {
    case .mse:
        return .meanSquaredError(layer, target: goal)
    case .cosine:
        return Objective(layer: layer, description: "Cosine(\(layer))") { produced in
            guard produced.shape == goal.shape else {
                throw LoupeError("invert: target \(describe(shape: goal.shape)) does not match the activation at '\(layer)' \(describe(shape: produced.shape))")
            }
            return try 1 - ImageMetrics.cosineSimilarity(produced, goal).mean()
        }
    }
}

func checkSinglePath(_ layer: String) throws {
    guard !layer.contains("*") else {
        throw LoupeError("invert: layer '\(layer)' must be one activation path, not a pattern")
    }
}
