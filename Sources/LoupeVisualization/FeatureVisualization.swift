import LoupeInputOptimization
import LoupeModels
import LoupeTensor

/// Options of `visualize`: lucent's `render_vis` settings.
public struct VisualizationOptions {
    /// Adam steps (lucent's `thresholds=(512,)`).
    public var steps = 512
    /// Adam's learning rate (lucent: 0.05, betas 0.9 and 0.999).
    public var learningRate: Double = 0.05
    /// Images optimised together (`[B, C, H, W]`); objectives such as `diversity` compare them.
    public var batch = 1
    /// How the image is parameterised (lucent: Fourier).
    public var parameterization: ImageParameterization.Kind = .fourier
    /// lucent's colour decorrelation; applies to 3-channel images only.
    public var decorrelate = true
    /// The random transforms applied before every step (lucent's `standard_transforms`); nil
    /// applies none.
    public var transforms: RandomTransform? = try? RandomTransform.standard()
    /// The model's input normalisation, applied after the transforms (lucent's `normalize()`).
    public var normalization: Normalization?
    /// The size `[H, W]` images are resized to (bilinear, `align_corners=True`) after the
    /// transforms and the normalisation, as lucent's upsampling to 224; nil keeps their size.
    public var inputSize: [Int]?
    /// The optimised leaf's starting value (see `ImageParameterization.init(_:shape:parameter:)`);
    /// nil draws it from `seed` (normal, std 0.01).
    public var initialParameter: Tensor?
    /// Seeds the starting parameters and every transform's random choices.
    public var seed: UInt64 = 0
    /// Steps after which a snapshot of the images is kept (lucent's `thresholds`).
    public var snapshots: [Int] = []
    /// Progress bar label.
    public var label = "visualize"
    /// Called after every step with the step number (from 1) and its loss; throw to stop.
    public var onStep: ((Int, Float) throws -> Void)?

    public init() {}
}

extension VisualizationOptions {
    /// Images in [0, 1] as the model receives them during a visualization: normalised, then
    /// resized (bilinear, `align_corners=True`) to `inputSize` when that differs.
    public func modelInput(_ images: Tensor) throws -> Tensor {
        var x = try normalization?.apply(images) ?? images
        if let target = inputSize, x.shape[2] != target[0] || x.shape[3] != target[1] {
            x = try NN.upsampleBilinear2d(x, size: (target[0], target[1]), alignCorners: true)
        }
        return x
    }
}

/// What `visualize` made: the images, the objective before each step, and the snapshots.
public struct VisualizationResult {
    /// `[B, C, H, W]` in (0, 1).
    public var images: Tensor
    /// The objective (the loss minimised) at each step, before the update.
    public var losses: [Float]
    /// The images after each step listed in `VisualizationOptions.snapshots`, by step.
    public var snapshots: [(step: Int, images: Tensor)]
}

/// Feature visualization with lucent's `render_vis` numerics: images of `channels` x `size`
/// (`[H, W]`) parameterised as `options.parameterization` (Fourier with decorrelated colour by
/// default) are optimised with Adam to minimise `objective` on `model`, each step seeing the
/// rendered images through the random transforms, the normalisation and the resize to the
/// model's input size. The model is evaluated in inference mode and left unchanged.
public func visualize(_ model: Module, objective: Objective, channels: Int, size: [Int],
                      options: VisualizationOptions = VisualizationOptions()) throws -> VisualizationResult {
    guard channels >= 1, size.count == 2, size.allSatisfy({ $0 >= 1 }) else {
        throw LoupeError("visualize: image size must be [H, W] with positive sides and at least one channel, got \(channels) channels of \(size)")
    }
    guard options.steps >= 1, options.batch >= 1, options.learningRate > 0, options.learningRate.isFinite else {
        throw LoupeError("visualize: steps (\(options.steps)) and batch (\(options.batch)) must be positive and lr (\(options.learningRate)) positive")
    }
    if let inputSize = options.inputSize, inputSize.count != 2 || inputSize.contains(where: { $0 < 1 }) {
        throw LoupeError("visualize: input size must be [H, W] with positive sides, got \(inputSize)")
    }
    let shape = [options.batch, channels, size[0], size[1]]
    var generator = RandomGenerator(seed: options.seed)
    let image: ImageParameterization
    if let start = options.initialParameter {
        image = try ImageParameterization(options.parameterization, shape: shape, parameter: start,
                                          decorrelate: options.decorrelate, op: "visualize")
    } else {
        image = try ImageParameterization(options.parameterization, shape: shape, decorrelate: options.decorrelate,
                                          generator: &generator, op: "visualize")
    }
    let wasTraining = model.training
    model.setTraining(false)
    defer { model.setTraining(wasTraining) }

    /// lucent's `transform_f(image_f())`: transforms, normalisation, resize.
    func modelInput() throws -> Tensor {
        var x = try image.render()
        if let transforms = options.transforms { x = try transforms(x, generator: &generator) }
        return try options.modelInput(x)
    }

    let optimizer = try Adam(parameters: [image.parameter], learningRate: options.learningRate)
    let bar = ProgressBar(options.label, total: options.steps)
    defer { bar.finish() }
    var losses: [Float] = []
    losses.reserveCapacity(options.steps)
    var snapshots: [(step: Int, images: Tensor)] = []
    let snapshotSteps = Set(options.snapshots)
    for step in 1...options.steps {
        optimizer.zeroGrad()
        let loss = try GradMode.withGrad { try objective.evaluate(model, try modelInput()) }
        try loss.backward()
        try optimizer.step()
        let value = try loss.item()
        guard value.isFinite else {
            throw LoupeError("visualize: the objective became \(value) at step \(step); lower lr (\(options.learningRate))")
        }
        losses.append(value)
        bar.update(step, loss: Double(value))
        if snapshotSteps.contains(step) {
            snapshots.append((step, try GradMode.withoutGrad { try image.render() }.detached()))
        }
        try options.onStep?(step, value)
    }
    let images = try GradMode.withoutGrad { try image.render() }.detached()
    return VisualizationResult(images: images, losses: losses, snapshots: snapshots)
}
