import Foundation
import LoupeIO
import LoupeInputOptimization
import LoupeModels
import LoupeTensor

// Geirhos et al. (2023), "Don't trust your eyes: on the (un)reliability of feature
// visualizations", section 5: a feature visualization is only a faithful picture of what a unit
// responds to if the network processes it like the natural images that drive the unit. The
// sanity check compares, layer by layer along the path to the unit, how similar the network's
// activations are for visualizations and for the unit's top natural images, against the
// similarity of top natural images with each other (the baseline) and with random natural
// images (the floor).

/// Options of `sanityCheck`.
public struct SanityCheckOptions {
    /// Activation paths to compare at, in order; nil: `defaultSanityLayers`.
    public var layers: [String]?
    /// Top-activating natural images (and as many random natural images).
    public var topK = 16
    /// Feature visualizations of the unit, made together as one batch.
    public var visualizations = 8
    /// How the visualizations are made (steps, lr, transforms, normalisation, input size, seed);
    /// `batch` is set to `visualizations`. The normalisation and input size also apply to the
    /// natural images, so both reach the model the same way.
    public var visualization = VisualizationOptions()
    /// Seeds the draw of the random natural images (the visualizations use `visualization.seed`).
    public var seed: UInt64 = 0
    /// Natural images per forward pass.
    public var batchSize = 250
    /// Called between batches and before the visualizations; throw to stop.
    public var checkStop: () throws -> Void = {}

    public init() {}
}

/// The activation vectors one layer gives the three sets of images, and their similarities.
public struct SanityLayer {
    /// The activation path.
    public var path: String
    /// One vector per image (channel means over positions, or over tokens for `[B, T, D]`).
    public var visualizations: [[Float]]
    public var topNatural: [[Float]]
    public var randomNatural: [[Float]]
    /// Mean Spearman correlation of every visualization with every top natural image.
    public var visualizationToNatural: Double
    /// Mean over pairs i != j of top natural images (the baseline).
    public var naturalToNatural: Double
    /// Mean of every top natural image with every random natural image, pairs of one image
    /// left out (the floor).
    public var naturalToRandom: Double
}

/// What `sanityCheck` measured and made.
public struct SanityCheckResult {
    /// One entry per compared layer, in order.
    public var layers: [SanityLayer]
    /// The feature visualizations `[n, C, H, W]` in (0, 1), as made.
    public var visualizations: Tensor
    /// The top natural images `[k, C, H, W]` (as given), highest first, and their indices.
    public var topNatural: Tensor
    public var topIndices: [Int]
    /// The random natural images and their indices.
    public var randomNatural: Tensor
    public var randomIndices: [Int]
    /// The unit's value (its channel mean) on each top natural image and each visualization.
    public var topUnitValues: [Float]
    public var visualizationUnitValues: [Float]

    /// One row per layer: the layer and its three similarities.
    public var table: String {
        let width = max(5, layers.map(\.path.count).max() ?? 0)
        func pad(_ text: String, _ n: Int, right: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(0, n - text.count))
            return right ? fill + text : text + fill
        }
        func number(_ value: Double) -> String { value.isFinite ? String(format: "%.3f", value) : "nan" }
        var lines = [pad("layer", width) + "  viz-to-natural  natural-to-natural  natural-to-random"]
        for layer in layers {
            lines.append(pad(layer.path, width) + "  " + pad(number(layer.visualizationToNatural), 14, right: true)
                         + "  " + pad(number(layer.naturalToNatural), 18, right: true)
                         + "  " + pad(number(layer.naturalToRandom), 17, right: true))
        }
        return lines.joined(separator: "\n")
    }

    /// The three similarities over the layers (x = 1 is the first layer) as a `[3, H, W]` line
    /// plot.
    public func plot() throws -> Tensor {
        func values(_ key: KeyPath<SanityLayer, Double>) -> [Float] { layers.map { Float($0[keyPath: key]) } }
        let first = layers.first?.path ?? "", last = layers.last?.path ?? ""
        let chart = LinePlot(panels: [LinePlot.Panel(ylabel: "Spearman", series: [
            LinePlot.Series(name: "viz-to-natural", values: values(\.visualizationToNatural)),
            LinePlot.Series(name: "natural-to-natural", values: values(\.naturalToNatural)),
            LinePlot.Series(name: "natural-to-random", values: values(\.naturalToRandom)),
        ])], title: "sanity check", xlabel: "layer (1 = \(first), \(layers.count) = \(last))")
        return try chart.render()
    }
}

/// One vector per image from an activation: `[B, C]` as it is, `[B, T, D]` averaged over the
/// tokens, `[B, C, H, W]` (and higher ranks) averaged over every axis after the channels.
public func channelVectors(_ activation: Tensor, path: String) throws -> Tensor {
    switch activation.rank {
    case 2: return activation
    case 3: return try activation.mean(axes: [1])
    case let rank where rank >= 4: return try activation.mean(axes: Array(2..<rank))
    default:
        throw LoupeError("fv_sanity: the activation at '\(path)' is \(describe(shape: activation.shape)); expected [B, C], [B, T, D] or [B, C, H, W]")
    }
}

/// The three similarities of the sanity check from activation vectors (Spearman correlations;
/// non-finite ones, from constant vectors, are left out of the means; NaN when none is left):
/// visualizations with top images, top images with each other (i != j), top images with
/// random images (the pairs where both are the same natural image, `topIndices[i] ==
/// randomIndices[j]`, are left out).
public func sanitySimilarities(visualizations: [[Float]], topNatural: [[Float]], randomNatural: [[Float]],
                               topIndices: [Int]? = nil, randomIndices: [Int]? = nil)
    -> (visualizationToNatural: Double, naturalToNatural: Double, naturalToRandom: Double) {
    func mean(_ pairs: [(Int, Int)], _ a: [[Float]], _ b: [[Float]]) -> Double {
        var total = 0.0, count = 0
        for (i, j) in pairs {
            let r = spearmanCorrelation(a[i], b[j])
            if r.isFinite { total += r; count += 1 }
        }
        return count > 0 ? total / Double(count) : .nan
    }
    let v = visualizations.indices, t = topNatural.indices, r = randomNatural.indices
    let vizPairs = v.flatMap { i in t.map { (i, $0) } }
    let naturalPairs = t.flatMap { i in t.filter { $0 != i }.map { (i, $0) } }
    let randomPairs = t.flatMap { i in r.compactMap { j -> (Int, Int)? in
        if let topIndices, let randomIndices, topIndices[i] == randomIndices[j] { return nil }
        return (i, j)
    } }
    return (mean(vizPairs, visualizations, topNatural), mean(naturalPairs, topNatural, topNatural),
            mean(randomPairs, topNatural, randomNatural))
}

/// The layers the sanity check compares at by default: every block output up to the unit's
/// activation `path` in execution order (a ResNet's stem output, `relu`, or `maxpool` with the
/// ImageNet stem, and its blocks `layerS.B`; a ViT's `blocks.N`; another model's top-level
/// modules), then `path` itself. A block whose output is `path`'s own value
/// (the last block of a stage `path = "layer3"`) is left out, so no row is repeated. `probe`
/// is one model input `[1, C, H, W]`.
public func defaultSanityLayers(_ model: Module, path: String, probe: Tensor) throws -> [String] {
    let root = (model as? ReplacedModel)?.base ?? model
    let modules = model.namedModules().map(\.path).filter { !$0.isEmpty }
    let candidates: [String]
    func matches(_ text: String, _ parts: [(String) -> Bool]) -> Bool {
        let segments = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        return segments.count == parts.count && zip(segments, parts).allSatisfy { $1($0) }
    }
    let isNumber: (String) -> Bool = { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
    switch root {
    case let resnet as ResNet:
        candidates = [resnet.maxpool == nil ? "relu" : "maxpool"]
            + modules.filter { matches($0, [{ $0.hasPrefix("layer") && isNumber(String($0.dropFirst(5))) }, isNumber]) }
    case is VisionTransformer:
        candidates = modules.filter { matches($0, [{ $0 == "blocks" }, isNumber]) }
    default:
        candidates = model.children.map(\.name)
    }
    let order = try GradMode.withoutGrad { try activationPaths(model, probe) }
    var position: [String: Int] = [:]
    for (index, site) in order.enumerated() where position[site] == nil { position[site] = index }
    guard let end = position[path] else {
        throw LoupeError("fv_sanity: the model has no activation at '\(path)' (closest: \(similarPaths(to: path, among: order).joined(separator: ", ")))")
    }
    var layers = candidates.filter { $0 != path && (position[$0] ?? .max) < end }.sorted { position[$0]! < position[$1]! }
    if let last = layers.last, last.hasPrefix(path + ".") {
        let values = try GradMode.withoutGrad { try capture(model, probe, [last, path]) }
        if let a = values[last], let b = values[path], a.shape == b.shape, a.contiguous().scalars == b.contiguous().scalars {
            layers.removeLast()
        }
    }
    return layers + [path]
}

/// Geirhos et al.'s sanity check for channel `unit` of the activation at `path`: finds the
/// `topK` natural images on which the unit's channel mean is highest, makes
/// `options.visualizations` feature visualizations of `Objective.channel(path, unit)` (one
/// batch, `channels` x `size`), draws `topK` random natural images (outside the top when there
/// are at least 2 k images; otherwise the rest of the images and then top ones), and compares,
/// at every layer, the activation vectors of the three sets by Spearman rank correlation (see
/// `sanitySimilarities`). `natural` images `[N, C, H, W]` are in the visualizations' range
/// ([0, 1]); both pass the options' normalisation and resize to the input size.
public func sanityCheck(_ model: Module, path: String, unit: Int, natural: Tensor, channels: Int, size: [Int],
                        options: SanityCheckOptions = SanityCheckOptions()) throws -> SanityCheckResult {
    let k = options.topK, n = options.visualizations
    guard k >= 2 else { throw LoupeError("fv_sanity: k must be at least 2 (pairs of top images), got \(k)") }
    guard n >= 1 else { throw LoupeError("fv_sanity: n must be at least 1, got \(n)") }
    guard options.batchSize >= 1 else { throw LoupeError("fv_sanity: batch size must be positive, got \(options.batchSize)") }
    guard natural.rank == 4, natural.shape[1] == channels else {
        throw LoupeError("fv_sanity: natural images must be [N, \(channels), H, W], got \(describe(shape: natural.shape))")
    }
    let count = natural.shape[0]
    guard count >= k + 1 else {
        throw LoupeError("fv_sanity: \(count) natural images are too few for the top \(k) and random ones; give at least \(k + 1)")
    }
    let inputSize = options.visualization.inputSize ?? size
    var inputOptions = options.visualization
    inputOptions.inputSize = inputSize
    // The model's input for images in [0, 1]: normalised, resized.
    func asInput(_ images: Tensor) throws -> Tensor { try inputOptions.modelInput(images) }
    let wasTraining = model.training
    model.setTraining(false)
    defer { model.setTraining(wasTraining) }

    // The unit and the layers, checked on one image.
    let probe = try asInput(try natural.sliced(axis: 0, start: 0, end: 1).detached())
    let unitActivation = try GradMode.withoutGrad { try activation(model, probe, at: path) }
    let unitChannels = try channelVectors(unitActivation, path: path).shape[1]
    guard unit >= 0 && unit < unitChannels else {
        throw LoupeError("fv_sanity: unit \(unit) is out of range for the \(unitChannels) channels of the activation \(describe(shape: unitActivation.shape)) at '\(path)'")
    }
    let layers = try options.layers ?? defaultSanityLayers(model, path: path, probe: probe)
    guard !layers.isEmpty else { throw LoupeError("fv_sanity: give at least one layer to compare at") }
    let wanted = Array(Set(layers + [path])).sorted()

    /// Channel vectors `[B, C]` by path for images (in [0, 1]), in batches, without gradients.
    func vectors(_ images: Tensor) throws -> [String: Tensor] {
        var parts: [String: [Tensor]] = [:]
        var start = 0
        while start < images.shape[0] {
            try options.checkStop()
            let end = min(images.shape[0], start + options.batchSize)
            let batch = try asInput(try images.sliced(axis: 0, start: start, end: end).detached())
            let found = try GradMode.withoutGrad { try activations(model, batch, at: wanted) }
            for name in wanted {
                guard let value = found[name] else { throw LoupeError("fv_sanity: no activation at '\(name)'") }
                parts[name, default: []].append(try channelVectors(value, path: name).contiguous())
            }
            start = end
        }
        return try parts.mapValues { try Tensor.concat($0, axis: 0).contiguous() }
    }
    func rows(_ t: Tensor, _ indices: [Int]) -> [[Float]] {
        let values = t.scalars, width = t.shape[1]
        return indices.map { Array(values[($0 * width)..<(($0 + 1) * width)]) }
    }

    // 1. Top-k and random natural images.
    let all = try vectors(natural)
    let unitValues = rows(all[path]!, Array(0..<count)).map { $0[unit] }
    let ranked = unitValues.indices.sorted { unitValues[$0] > unitValues[$1] || (unitValues[$0] == unitValues[$1] && $0 < $1) }
    let topIndices = Array(ranked.prefix(k))
    var generator = RandomGenerator(seed: options.seed, stream: 0x73616e6974)
    let top = Set(topIndices)
    var pool = generator.permutation(count).filter { !top.contains($0) }
    if pool.count < k { pool += generator.permutation(k).map { topIndices[$0] } }
    let randomIndices = Array(pool.prefix(k))

    // 2. The unit's visualizations, one batch.
    try options.checkStop()
    var settings = options.visualization
    settings.batch = n
    let made = try visualize(model, objective: .channel(path, unit, channelAxis: Objective.automaticChannelAxis),
                             channels: channels, size: size, options: settings)
    let shown = try vectors(made.images)

    // 3. Similarities per layer.
    var results: [SanityLayer] = []
    for layer in layers {
        guard let naturalVectors = all[layer], let vizVectors = shown[layer] else { continue }
        let viz = rows(vizVectors, Array(0..<n))
        let topRows = rows(naturalVectors, topIndices), randomRows = rows(naturalVectors, randomIndices)
        let s = sanitySimilarities(visualizations: viz, topNatural: topRows, randomNatural: randomRows,
                                   topIndices: topIndices, randomIndices: randomIndices)
        results.append(SanityLayer(path: layer, visualizations: viz, topNatural: topRows, randomNatural: randomRows,
                                   visualizationToNatural: s.visualizationToNatural, naturalToNatural: s.naturalToNatural,
                                   naturalToRandom: s.naturalToRandom))
    }
    return SanityCheckResult(layers: results, visualizations: made.images,
                             topNatural: try natural.indexSelect(axis: 0, indices: topIndices).detached(), topIndices: topIndices,
                             randomNatural: try natural.indexSelect(axis: 0, indices: randomIndices).detached(),
                             randomIndices: randomIndices, topUnitValues: topIndices.map { unitValues[$0] },
                             visualizationUnitValues: rows(shown[path]!, Array(0..<n)).map { $0[unit] })
}
