import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor

/// Options of `foolingCircuit`.
public struct FoolingCircuitOptions {
    /// Activation paths whose channels the detector's training visualizations are drawn from
    /// (each run visualizes one random channel of one of them).
    public var layers: [String] = []
    /// Visualization runs made to train and test the detector; the last `heldOutFraction` of
    /// them (other units and seeds) are held out.
    public var runs = 48
    /// Images per run (one batch, optimised together).
    public var batch = 8
    /// Steps of each run, and the steps after which its images are kept as training examples.
    public var steps = 512
    public var snapshots = [32, 128]
    public var heldOutFraction = 0.25
    /// Runs visualizing the target response on the input (the images the fooled unit's
    /// visualization becomes), added to the detector's training visualizations; nil: a
    /// quarter of `runs` (at least 1).
    public var targetRuns: Int?
    /// The detector: a ResNet-10 of this width with two outputs, trained with AdamW.
    public var detectorWidth = 8
    public var detectorEpochs = 4
    public var detectorLearningRate = 1e-3
    /// Scale of the target response that replaces the unit.
    public var gain: Float = 1
    /// How visualizations are made (transforms, normalisation, input size, parameterisation).
    public var visualization = VisualizationOptions()
    public var seed: UInt64 = 0
    /// Called between steps of the long work; throw to stop.
    public var checkStop: () throws -> Void = {}

    public init() {}
}

/// What `foolingCircuit` built and measured.
public struct FoolingCircuitResult {
    /// The model with the unit's module replaced by a `FoolingUnit`.
    public var model: ReplacedModel
    public var detector: Module
    /// Detector accuracy on held-out visualizations as the model sees them while they are
    /// optimised (transformed, normalised, resized), on the same images untransformed, and on
    /// the natural test images (the fraction called natural).
    public var heldOutTransformedAccuracy: Double
    public var heldOutAccuracy: Double
    public var naturalAccuracy: Double
    /// Natural test images the detector calls visualizations (their unit is rerouted).
    public var naturalFlagged: Int
    public var naturalCount: Int
    /// Classification accuracy on the labelled test images before and after.
    public var testAccuracyBefore: Double?
    public var testAccuracyAfter: Double?
    /// Training examples of the detector: visualizations (with their transformed copies) and
    /// natural images.
    public var trainingVisualizations: Int
    public var trainingNatural: Int
}

/// Builds Geirhos et al.'s fooling circuit for channel `unit` of the module at `path`: makes
/// feature visualizations of random units of `options.layers` (many seeds), trains a small CNN
/// to tell them (and their transformed copies, as the model sees them during optimisation)
/// from `natural` images, and returns `replace(model, path, FoolingUnit)`: natural inputs give
/// the original outputs, visualizations see the unit follow `target` (an image `[C, H, W]` of
/// the model's input size, used centred and at unit norm as a filter on the input). `test` measures the detector and the accuracy before and after.
public func foolingCircuit(_ model: Module, path: String, unit: Int, target: Tensor, natural: Tensor,
                           test: LabeledImages, channels: Int, size: [Int],
                           options: FoolingCircuitOptions) throws -> FoolingCircuitResult {
    guard let original = model.module(at: path) else {
        throw LoupeError("fooling_circuit: model has no module at '\(path)'")
    }
    guard !options.layers.isEmpty else { throw LoupeError("fooling_circuit: give at least one layer to draw visualization units from") }
    guard options.runs >= 2, options.batch >= 1, options.steps >= 1 else {
        throw LoupeError("fooling_circuit: runs (\(options.runs)) must be at least 2, batch (\(options.batch)) and steps (\(options.steps)) positive")
    }
    guard options.heldOutFraction > 0, options.heldOutFraction < 1 else {
        throw LoupeError("fooling_circuit: held-out fraction \(options.heldOutFraction) must be between 0 and 1")
    }
    guard natural.rank == 4, natural.shape[0] > 0, natural.shape[1] == channels else {
        throw LoupeError("fooling_circuit: natural images must be [N, \(channels), H, W], got \(describe(shape: natural.shape))")
    }
    let inputSize = options.visualization.inputSize ?? size
    let inputShape = [channels, inputSize[0], inputSize[1]]
    guard target.shape == inputShape else {
        throw LoupeError("fooling_circuit: target must be an image \(describe(shape: inputShape)) (the model's input), got \(describe(shape: target.shape))")
    }
    var generator = RandomGenerator(seed: options.seed, stream: 0x666f6f6c)
    var inputOptions = options.visualization
    inputOptions.inputSize = inputSize
    // The model's input for images in [0, 1]: normalised, resized.
    func asInput(_ images: Tensor) throws -> Tensor { try inputOptions.modelInput(images) }
    func asSeenWhileOptimised(_ images: Tensor) throws -> Tensor {
        var x = images
        if let transforms = options.visualization.transforms { x = try transforms(x, generator: &generator) }
        return try asInput(x)
    }

    // The target as a filter on the model's input: centred, unit norm, so the response is
    // largest for an input bright where the target is bright and dark where it is dark.
    let filter = try asInput(target.unsqueezed(axis: 0)).squeezed(axes: [0])
    let centred = try filter - filter.mean()
    let norm = try centred.pow(2).sum().sqrt().item()
    guard norm > 0, norm.isFinite else { throw LoupeError("fooling_circuit: the target image is constant; it needs a pattern to draw") }
    let targetFilter = try centred / norm

    // 1. Visualizations of random units, and of the target response itself (what the fooled
    // unit's visualization turns into: without them the detector may call a visualization that
    // has come to look like a natural target natural, and hand the unit back mid-way).
    let targetObjective = Objective(layer: "input", description: "Target") { input in
        try -(input * targetFilter.unsqueezed(axis: 0)).sum(axes: Array(1..<input.rank)).mean()
    }
    let targetRuns = options.targetRuns ?? max(1, options.runs / 4)
    let probe = try natural.sliced(axis: 0, start: 0, end: 1)
    let unitCounts = try GradMode.withoutGrad {
        try activations(model, try asInput(probe), at: options.layers)
    }.mapValues { $0.rank == 3 ? $0.shape[2] : $0.shape[1] }
    let heldOutRuns = max(1, Int((Double(options.runs) * options.heldOutFraction).rounded()))
    var trainingImages: [Tensor] = [], heldOut: [Tensor] = []
    for run in 0..<(options.runs + targetRuns) {
        try options.checkStop()
        let layer = options.layers[generator.nextInt(below: options.layers.count)]
        let channel = generator.nextInt(below: unitCounts[layer] ?? 1)
        let isTarget = run >= options.runs
        var settings = options.visualization
        settings.batch = options.batch
        settings.steps = options.steps
        settings.snapshots = options.snapshots.filter { $0 < options.steps }
        settings.seed = generator.nextUInt64()
        settings.label = "visualizations \(run + 1)/\(options.runs + targetRuns)"
        let objective = isTarget ? targetObjective : .channel(layer, channel, channelAxis: Objective.automaticChannelAxis)
        let made = try visualize(model, objective: objective, channels: channels, size: size, options: settings)
        let images = [made.images] + made.snapshots.map(\.images)
        if isTarget || run < options.runs - heldOutRuns {
            trainingImages += images
        } else {
            heldOut.append(made.images)
        }
    }

    // 2. The detector: visualizations (as made, and as the model sees them) against natural images.
    let visualizations = try Tensor.concat(trainingImages, axis: 0)
    let positives = try Tensor.concat([try asInput(visualizations), try asSeenWhileOptimised(visualizations)], axis: 0)
    let negatives = try asInput(natural)
    let detector = try ResNet(ResNetConfig(depth: 10, classes: 2, channels: channels, width: options.detectorWidth,
                                           stem: max(inputSize[0], inputSize[1]) <= 64 ? .small : .imagenet))
    try detector.initialize(generator: &generator)
    let training = try LabeledImages(images: try Tensor.concat([positives, negatives], axis: 0),
                                     labels: [Int](repeating: 1, count: positives.shape[0]) + [Int](repeating: 0, count: negatives.shape[0]),
                                     op: "fooling_circuit")
    let trainer = try Trainer(model: detector, options: TrainingOptions(epochs: options.detectorEpochs, batchSize: 64,
                                                                       learningRate: options.detectorLearningRate,
                                                                       seed: generator.nextUInt64()))
    trainer.label = "detector"
    trainer.checkStop = options.checkStop
    _ = try trainer.fit(training)

    // 3. The circuit, and what it does.
    let fooling = try FoolingUnit(original: original, detector: detector, target: targetFilter,
                                  unit: unit, gain: options.gain)
    let fooled = try replace(model, at: path, with: fooling)
    let held = try Tensor.concat(heldOut, axis: 0)
    func flaggedFraction(_ inputs: Tensor) throws -> (Double, Int) {
        var flagged = 0
        var start = 0
        while start < inputs.shape[0] {
            try options.checkStop()
            let end = min(inputs.shape[0], start + 500)
            flagged += try fooling.visualizationFlags(try inputs.sliced(axis: 0, start: start, end: end)).filter { $0 }.count
            start = end
        }
        return (Double(flagged) / Double(inputs.shape[0]), flagged)
    }
    let transformedAccuracy = try flaggedFraction(try asSeenWhileOptimised(held)).0
    let rawAccuracy = try flaggedFraction(try asInput(held)).0
    let naturalFlags = try flaggedFraction(try asInput(test.images))
    var before: Double?, after: Double?
    if !test.labels.isEmpty {
        let inputs = try LabeledImages(images: try asInput(test.images), labels: test.labels, op: "fooling_circuit")
        before = try Trainer.evaluate(model, inputs, checkStop: options.checkStop).accuracy
        after = try Trainer.evaluate(fooled, inputs, checkStop: options.checkStop).accuracy
    }
    return FoolingCircuitResult(model: fooled, detector: detector, heldOutTransformedAccuracy: transformedAccuracy,
                                heldOutAccuracy: rawAccuracy, naturalAccuracy: 1 - naturalFlags.0,
                                naturalFlagged: naturalFlags.1, naturalCount: test.images.shape[0],
                                testAccuracyBefore: before, testAccuracyAfter: after,
                                trainingVisualizations: positives.shape[0], trainingNatural: negatives.shape[0])
}
