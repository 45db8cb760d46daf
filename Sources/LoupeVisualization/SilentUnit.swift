import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor

/// A convolution with a silent unit (Geirhos et al. 2023, "Don't trust your eyes", section 4.2):
/// the original convolution `conv`, plus, on output channel `unit` only, `relu(silent(x))`
/// where `silent` is a one-channel convolution of the same input with the same kernel size,
/// stride and padding. With `silent`'s filter orthogonal to the unit's and its bias minus the
/// filter's largest response on a set of natural images, the added term is exactly 0 on those
/// images (the model's outputs are unchanged, bit for bit) while a feature visualization of the
/// unit, free to leave the natural image distribution, is drawn to the new filter.
///
/// Children: `conv` (the original module, shared with the model it came from) and `silent`;
/// the added term `relu(silent(x))` `[B, 1, H, W]` is the activation site `added`. Saved and
/// rebuilt as architecture `silent_unit_conv2d`.
public final class SilentUnitConv2d: Module, Architecture {
    public static let architectureName = "silent_unit_conv2d"

    public let conv: Conv2d
    /// One output channel, with a bias.
    public let silent: Conv2d
    /// The output channel the term is added to.
    public let unit: Int

    /// A silent unit on `conv`'s channel `unit`; `silent` starts at zero (a zero term).
    public init(conv: Conv2d, unit: Int) throws {
        let shape = conv.weight.shape
        guard conv.groups == 1 else {
            throw LoupeError("silent_unit: grouped convolutions (groups \(conv.groups)) are not supported")
        }
        guard unit >= 0 && unit < shape[0] else {
            throw LoupeError("silent_unit: unit \(unit) is out of range for the \(shape[0]) output channels of the convolution")
        }
        guard shape[2] == shape[3], conv.stride.0 == conv.stride.1, conv.padding.0 == conv.padding.1 else {
            throw LoupeError("silent_unit: only square kernels, strides and paddings are supported, got weight \(describe(shape: shape))")
        }
        self.conv = conv
        self.unit = unit
        silent = try Conv2d(shape[1], 1, kernel: shape[2], stride: conv.stride.0, padding: conv.padding.0, bias: true)
        super.init()
        registerModule("conv", conv)
        registerModule("silent", silent)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        // `conv` may carry the name it has in the original model; run it under its name here.
        let out = try context.apply(conv, named: "conv", input)
        let added = try context.site("added", try context.apply(silent, named: "silent", input).relu())
        let channels = out.shape[1]
        guard added.rank == 4, out.rank == 4, added.shape[0] == out.shape[0], Array(added.shape[2...]) == Array(out.shape[2...]) else {
            throw LoupeError("silent_unit: the added term \(describe(shape: added.shape)) does not match the output \(describe(shape: out.shape))")
        }
        var parts: [Tensor] = []
        if unit > 0 { parts.append(try out.sliced(axis: 1, start: 0, end: unit)) }
        parts.append(try out.sliced(axis: 1, start: unit, end: unit + 1) + added)
        if unit + 1 < channels { parts.append(try out.sliced(axis: 1, start: unit + 1, end: channels)) }
        return try Tensor.concat(parts, axis: 1)
    }

    struct Config: Codable {
        var inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, bias: Bool, unit: Int
    }

    public func configurationJSON() throws -> String {
        let shape = conv.weight.shape
        return try encodeConfiguration(Config(inChannels: shape[1], outChannels: shape[0], kernel: shape[2],
                                              stride: conv.stride.0, padding: conv.padding.0, bias: conv.bias != nil, unit: unit))
    }

    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        guard c.inChannels > 0, c.outChannels > 0, c.kernel > 0, c.stride > 0, c.padding >= 0 else {
            throw LoupeError("model: '\(architectureName)' needs positive sizes, got \(configurationJSON)")
        }
        let conv = try Conv2d(c.inChannels, c.outChannels, kernel: c.kernel, stride: c.stride, padding: c.padding, bias: c.bias)
        return try SilentUnitConv2d(conv: conv, unit: c.unit)
    }
}

/// Options of `silentUnit`.
public struct SilentUnitOptions {
    /// The new filter's norm as a multiple of the unit's filter's.
    public var scale: Float = 1
    /// Seeds the new filter's random direction (used when `towards` is nil).
    public var seed: UInt64 = 0
    /// Inputs the new filter should respond to more than any natural image (see
    /// `separatingDirection`): give images on a feature visualization's path (its snapshots),
    /// so the term wakes while the unit is visualized and the optimisation follows it. nil: a
    /// random direction from `seed`, which a visualization may never reach.
    public var towards: Tensor?
    /// Adam steps of the search for the separating direction, and the natural images it uses
    /// (the bias still comes from all of them).
    public var separationSteps = 300
    public var separationImages = 512
    /// Images per forward pass.
    public var batchSize = 500
    /// Called between batches; throw to stop.
    public var checkStop: () throws -> Void = {}

    public init() {}
}

/// What `silentUnit` built and measured.
public struct SilentUnitResult {
    /// The model with the convolution at the path replaced by `module`.
    public var model: ReplacedModel
    public var module: SilentUnitConv2d
    /// The largest response of the new filter (without bias) on the natural images: minus the bias.
    public var maxNatural: Float
    /// Test images on which the added term is 0 at every position, and their count.
    public var silentOn: Int
    public var total: Int
    /// The largest pre-ReLU value of the new filter plus its bias over the test images (> 0
    /// when some test image wakes the unit).
    public var maxTest: Float
    /// Accuracy of the original and the edited model on the test images, when labels are given.
    public var accuracyBefore: Double?
    public var accuracyAfter: Double?
}

/// The error for a module path that is missing or not a `Conv2d`, naming the convolutions.
func convolutionAt(_ model: Module, _ path: String) throws -> Conv2d {
    let convolutions = model.namedModules().filter { $0.module is Conv2d }.map(\.path)
    guard let module = model.module(at: path) else {
        let paths = model.namedModules().map(\.path).filter { !$0.isEmpty }
        throw LoupeError("silent_unit: the model has no module at '\(path)' (closest: \(similarPaths(to: path, among: paths, limit: 5).joined(separator: ", ")))")
    }
    guard let conv = module as? Conv2d else {
        let listed = similarPaths(to: path, among: convolutions, limit: 5)
        throw LoupeError("silent_unit: the module at '\(path)' is a \(module.typeName), not a convolution (Conv2d)"
                         + (listed.isEmpty ? "; the model has no Conv2d" : "; convolutions nearby: \(listed.joined(separator: ", "))"))
    }
    return conv
}

/// A filter of `reference`'s shape: a normal draw from `seed` made orthogonal to `reference`
/// (Gram-Schmidt on the flattened filters, in double precision) and rescaled to norm
/// `scale * |reference|`.
public func orthogonalFilter(to reference: Tensor, scale: Float, seed: UInt64, direction: [Double]? = nil) throws -> Tensor {
    let w = reference.contiguous().scalars.map(Double.init)
    guard w.count >= 2 else { throw LoupeError("silent_unit: a filter of \(w.count) weight has no orthogonal direction") }
    let normW = w.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard normW > 0, normW.isFinite else { throw LoupeError("silent_unit: the unit's filter is zero (or not finite); its norm sets the new filter's") }
    guard scale > 0, scale.isFinite else { throw LoupeError("silent_unit: scale must be positive, got \(scale)") }
    var generator = RandomGenerator(seed: seed, stream: 0x73696c656e74)
    var v = [Double](repeating: 0, count: w.count)
    if let direction, direction.count != w.count {
        throw LoupeError("silent_unit: a direction of \(direction.count) values for a filter of \(w.count)")
    }
    for attempt in 0..<8 {
        v = attempt == 0 && direction != nil ? direction! : w.map { _ in Double(generator.nextNormal()) }
        // Two passes of Gram-Schmidt: the second removes what rounding left of w.
        for _ in 0..<2 {
            let projection = zip(v, w).reduce(0) { $0 + $1.0 * $1.1 } / (normW * normW)
            for i in v.indices { v[i] -= projection * w[i] }
        }
        if v.reduce(0, { $0 + $1 * $1 }).squareRoot() > 1e-6 * Double(w.count).squareRoot() { break }
    }
    let normV = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    guard normV > 0 else { throw LoupeError("silent_unit: could not draw a filter orthogonal to the unit's") }
    let factor = Double(scale) * normW / normV
    return try Tensor(shape: reference.shape, scalars: v.map { Float($0 * factor) })
}

/// Builds a silent unit (Geirhos et al. 2023) at channel `unit` of the convolution at `path`:
/// returns `replace(model, path, SilentUnitConv2d)` whose new filter `w'` is
/// `orthogonalFilter(to: w, scale, seed)` and whose bias is `-max` of `w' * x` over every
/// position of every `natural` image (`x` the convolution's input; computed in batches without
/// gradients, with the same convolution kernel the module runs, so the term is exactly 0 on
/// them). `natural` and `test` images are the model's inputs; `test` (default `natural`)
/// measures where the term stays 0, and `labels` (one per test image) the accuracy before and
/// after.
public func silentUnit(_ model: Module, path: String, unit: Int, natural: Tensor, test: Tensor? = nil,
                       labels: [Int]? = nil, options: SilentUnitOptions = SilentUnitOptions()) throws -> SilentUnitResult {
    let conv = try convolutionAt(model, path)
    let outputs = conv.weight.shape[0]
    guard unit >= 0 && unit < outputs else {
        throw LoupeError("silent_unit: unit \(unit) is out of range for the \(outputs) output channels of the Conv2d at '\(path)'")
    }
    guard natural.rank == 4, natural.shape[0] > 0 else {
        throw LoupeError("silent_unit: natural images must be [N, C, H, W] with N > 0, got \(describe(shape: natural.shape))")
    }
    let testImages = test ?? natural
    guard testImages.rank == 4, testImages.shape[0] > 0 else {
        throw LoupeError("silent_unit: test images must be [N, C, H, W] with N > 0, got \(describe(shape: testImages.shape))")
    }
    if let labels, labels.count != testImages.shape[0] {
        throw LoupeError("silent_unit: \(testImages.shape[0]) test images but \(labels.count) labels")
    }
    guard options.batchSize >= 1 else { throw LoupeError("silent_unit: batch size must be positive, got \(options.batchSize)") }
    let module = try SilentUnitConv2d(conv: conv, unit: unit)
    let wasTraining = model.training
    model.setTraining(false)
    defer { model.setTraining(wasTraining) }
    let inputSite = path + ".input"

    var direction: [Double]?
    if let towards = options.towards {
        direction = try separatingDirection(model, conv: conv, unit: unit, inputSite: inputSite, natural: natural,
                                            towards: towards, options: options)
    }
    let filter = try orthogonalFilter(to: try conv.weight.value.detached().sliced(axis: 0, start: unit, end: unit + 1),
                                      scale: options.scale, seed: options.seed, direction: direction)
    module.silent.weight.value = filter

    /// The largest value of `body` over the images, and the count of images whose largest
    /// value is at most 0, batch by batch.
    func scan(_ images: Tensor, _ body: (Tensor) throws -> Tensor) throws -> (max: Float, nonPositive: Int) {
        var top = -Float.infinity, quiet = 0
        var start = 0
        while start < images.shape[0] {
            try options.checkStop()
            let end = min(images.shape[0], start + options.batchSize)
            let batch = try images.sliced(axis: 0, start: start, end: end).detached()
            let values = try GradMode.withoutGrad { try body(batch) }.contiguous()
            let per = values.count / max(1, end - start)
            let scalars = values.scalars
            for b in 0..<(end - start) {
                var m = -Float.infinity
                for v in scalars[(b * per)..<((b + 1) * per)] where v > m || v.isNaN { m = v }
                if m.isNaN { throw LoupeError("silent_unit: the new filter's response is NaN on an image") }
                top = max(top, m)
                if m <= 0 { quiet += 1 }
            }
            start = end
        }
        return (top, quiet)
    }

    // The new filter's response w' * x (no bias) on the convolution's input for natural images,
    // by the same kernel (`NN.conv2d` gives an image the same result alone and in any batch).
    let natural = try scan(natural) { batch in
        let x = try activation(model, batch, at: inputSite)
        return try NN.conv2d(x, weight: filter, bias: nil, stride: conv.stride, padding: conv.padding)
    }
    guard natural.max.isFinite else { throw LoupeError("silent_unit: the new filter's response is not finite on the natural images") }
    module.silent.bias!.value = Tensor([-natural.max])
    let edited = try replace(model, at: path, with: module)

    // The pre-ReLU term w' * x + b' in the edited model on the test images (with labels, from
    // the same forward pass as the edited model's predictions).
    let silentSite = path + ".silent"
    var correct = 0, seen = 0
    let measured = try scan(testImages) { batch in
        guard let labels else { return try activation(edited, batch, at: silentSite) }
        let (logits, found) = try trace(edited, batch, capture: [silentSite])
        guard logits.rank == 2, logits.shape[0] == batch.shape[0] else {
            throw LoupeError("silent_unit: the model must return logits [N, classes] to measure accuracy, got \(describe(shape: logits.shape))")
        }
        let predicted = try logits.argmax(axis: 1).scalars
        for (k, p) in predicted.enumerated() where Int(p) == labels[seen + k] { correct += 1 }
        seen += batch.shape[0]
        guard let term = found[silentSite] else { throw LoupeError("silent_unit: no activation at '\(silentSite)'") }
        return term
    }

    var before: Double?, after: Double?
    if let labels {
        let data = try LabeledImages(images: testImages, labels: labels, op: "silent_unit")
        before = try Trainer.evaluate(model, data, batchSize: options.batchSize, checkStop: options.checkStop).accuracy
        after = Double(correct) / Double(labels.count)
    }
    return SilentUnitResult(model: edited, module: module, maxNatural: natural.max, silentOn: measured.nonPositive,
                            total: testImages.shape[0], maxTest: measured.max, accuracyBefore: before, accuracyAfter: after)
}

/// A filter direction orthogonal to the unit's filter `w` that responds to the convolution
/// inputs of `towards` more than to any natural image's: a unit vector `v` (in `[1, C, kh, kw]`,
/// flattened) found by Adam on `LSE_b(v * x_natural) - mean_i LSE_b(v * x_towards_i)` over every
/// position (a soft maximum with `b = 5`; the natural images are the first
/// `options.separationImages`), projected orthogonal to `w` and normalised at every step. It
/// starts from the difference of the two sets' channel means.
func separatingDirection(_ model: Module, conv: Conv2d, unit: Int, inputSite: String, natural: Tensor, towards: Tensor,
                         options: SilentUnitOptions) throws -> [Double] {
    let sample = try natural.sliced(axis: 0, start: 0, end: min(natural.shape[0], max(1, options.separationImages)))
    func inputs(_ images: Tensor) throws -> Tensor {
        var parts: [Tensor] = []
        var start = 0
        while start < images.shape[0] {
            try options.checkStop()
            let end = min(images.shape[0], start + options.batchSize)
            parts.append(try GradMode.withoutGrad {
                try activation(model, try images.sliced(axis: 0, start: start, end: end).detached(), at: inputSite)
            }.detached())
            start = end
        }
        return try Tensor.concat(parts, axis: 0)
    }
    let xNatural = try inputs(sample), xTowards = try inputs(towards)
    let shape = [1] + Array(conv.weight.shape.dropFirst())
    let w = try conv.weight.value.detached().sliced(axis: 0, start: unit, end: unit + 1).contiguousCopy()
    let wUnit = try w / w.pow(2).sum().sqrt()
    let start = try xTowards.mean(axes: [0, 2, 3]) - xNatural.mean(axes: [0, 2, 3])
    let u = try (start.reshaped([1, shape[1], 1, 1]) + Tensor.zeros(shape)).contiguousCopy().requiringGrad()
    let optimizer = try Adam(parameters: [u], learningRate: 0.05)
    let sharpness: Float = 5
    func direction() throws -> Tensor {
        let v = try u - (u * wUnit).sum() * wUnit
        return try v / v.pow(2).sum().sqrt().clamped(min: 1e-12)
    }
    for _ in 0..<max(0, options.separationSteps) {
        try options.checkStop()
        optimizer.zeroGrad()
        let loss = try GradMode.withGrad { () -> Tensor in
            let v = try direction()
            let rNatural = try NN.conv2d(xNatural, weight: v, bias: nil, stride: conv.stride, padding: conv.padding)
            let rTowards = try NN.conv2d(xTowards, weight: v, bias: nil, stride: conv.stride, padding: conv.padding)
            let softMaxNatural = try (rNatural * sharpness).logSumExp() / sharpness
            let softMaxTowards = try (rTowards.reshaped([rTowards.shape[0], -1]) * sharpness).logSumExp(axes: [1]) / sharpness
            return try softMaxNatural - softMaxTowards.mean()
        }
        try loss.backward()
        try optimizer.step()
    }
    return try GradMode.withoutGrad { try direction() }.contiguous().scalars.map(Double.init)
}
