import Foundation
import LoupeTensor
import LoupeModels

/// How a model's input images are normalised: `(image - mean[c]) / std[c]` per channel.
public struct Normalization: Codable, Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// No normalisation for `channels` channels (mean 0, std 1).
    public static func identity(channels: Int) -> Normalization {
        Normalization(mean: [Float](repeating: 0, count: channels), std: [Float](repeating: 1, count: channels))
    }

    /// Normalises `[B, C, H, W]` images with tensor ops (differentiable).
    public func apply(_ images: Tensor) throws -> Tensor {
        let (m, s) = try constants(images, op: "normalize")
        return try (images - m) / s
    }

    /// Maps normalised `[B, C, H, W]` inputs back to images (differentiable).
    public func invert(_ inputs: Tensor) throws -> Tensor {
        let (m, s) = try constants(inputs, op: "denormalize")
        return try inputs * s + m
    }

    private func constants(_ x: Tensor, op: String) throws -> (Tensor, Tensor) {
        guard x.rank == 4, x.shape[1] == mean.count, std.count == mean.count else {
            throw LoupeError("\(op): images \(describe(shape: x.shape)) do not match the normalisation's \(mean.count) channels")
        }
        guard std.allSatisfy({ $0 != 0 && $0.isFinite }) else {
            throw LoupeError("\(op): std \(std) must be finite and non-zero")
        }
        return (try Tensor(shape: [1, mean.count, 1, 1], scalars: mean), try Tensor(shape: [1, std.count, 1, 1], scalars: std))
    }
}

/// Options of optimisation-based inversion (see `invert`).
public struct InversionOptions {
    /// What the activation of the optimised image is compared with the target by.
    public enum Loss: String, Sendable { case mse, cosine }
    /// How the image is parameterised.
    public enum Parameterization: String, Sendable {
        /// One logit per pixel; the image is `sigmoid(logits)`, so it stays in (0, 1).
        case pixel
        /// lucent's `fft_image`: a spectrum scaled by `1 / max(f, 1 / max(h, w))` (decay power
        /// 1), `irfft2` with orthonormal scaling, divided by 4, then the sigmoid. Low
        /// frequencies dominate, which regularises the image.
        case fourier
    }

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

/// Regularisers for inversion.
public enum Regularizers {
    /// Total variation with squared differences: `mean((x[.., i+1, j] - x[.., i, j])^2) +
    /// mean((x[.., i, j+1] - x[.., i, j])^2)` over `[B, C, H, W]`. Differentiable.
    public static func totalVariation(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4, x.shape[2] > 1, x.shape[3] > 1 else {
            throw LoupeError("tv: expected images [B, C, H, W] with H, W > 1, got \(describe(shape: x.shape))")
        }
        let h = x.shape[2], w = x.shape[3]
        let dy = try x.sliced(axis: 2, start: 1) - x.sliced(axis: 2, start: 0, end: h - 1)
        let dx = try x.sliced(axis: 3, start: 1) - x.sliced(axis: 3, start: 0, end: w - 1)
        return try dy.pow(2).mean() + dx.pow(2).mean()
    }
}

/// The activation of `model` at `path` for `input`, stopping the forward pass there.
/// Differentiable with respect to `input`. Throws when the path does not exist.
public func activation(_ model: Module, _ input: Tensor, at path: String) throws -> Tensor {
    struct Stop: Error {}
    guard !path.contains("*") else {
        throw LoupeError("invert: layer '\(path)' must be one activation path, not a pattern")
    }
    var captured: Tensor?
    do {
        _ = try trace(model, input, patches: [path: .transform { value in captured = value; throw Stop() }])
    } catch is Stop {}
    guard let captured else {
        // Not visited: let `capture` produce its error naming similar paths.
        _ = try GradMode.withoutGrad { try capture(model, input, [path]) }
        throw LoupeError("invert: no activation at path '\(path)'")
    }
    return captured
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
                                          decorrelate: options.decorrelateColor ?? (c == 3), generator: &generator)
    let goal = target.detached()
    let wasTraining = model.training
    model.setTraining(false)
    defer { model.setTraining(wasTraining) }

    func objective() throws -> Tensor {
        var pixels = try image.render()
        if options.jitter > 0 {
            let span = 2 * options.jitter + 1
            let dy = generator.nextInt(below: span) - options.jitter, dx = generator.nextInt(below: span) - options.jitter
            pixels = try pixels.rolled(shifts: [dy, dx], axes: [2, 3])
        }
        let input = try options.normalization?.apply(pixels) ?? pixels
        let produced = try activation(model, input, at: layer)
        guard produced.shape == goal.shape else {
            throw LoupeError("invert: target \(describe(shape: goal.shape)) does not match the activation at '\(layer)' \(describe(shape: produced.shape))")
        }
        var loss: Tensor
        switch options.loss {
        case .mse: loss = try NN.mse(produced, goal)
        case .cosine: loss = try 1 - ImageMetrics.cosineSimilarity(produced, goal).mean()
        }
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
    let target = try GradMode.withoutGrad {
        try activation(model, try options.normalization?.apply(images) ?? images, at: layer).detached()
    }
    return try invert(model, target: target, layer: layer, imageShape: Array(images.shape.dropFirst()), options: options)
}

/// lucent's fixed colour decorrelation: the square root of ImageNet's colour correlation
/// (`color_correlation_svd_sqrt`), divided by its largest column norm.
public enum ColorDecorrelation {
    static let svdSquareRoot: [[Float]] = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]

    /// The normalised `[3, 3]` matrix, row per RGB output channel.
    public static let matrix: [[Float]] = {
        let norms = (0..<3).map { k in (0..<3).map { svdSquareRoot[$0][k] * svdSquareRoot[$0][k] }.reduce(0, +).squareRoot() }
        let largest = norms.max() ?? 1
        return svdSquareRoot.map { row in row.map { $0 / largest } }
    }()

    /// Maps `[B, 3, H, W]` from the decorrelated space to RGB (`matrix` or its inverse applied
    /// per pixel). Differentiable.
    public static func apply(_ x: Tensor, inverse: Bool = false) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == 3 else {
            throw LoupeError("decorrelate: expected [B, 3, H, W], got \(describe(shape: x.shape))")
        }
        let m = inverse ? inverted(matrix) : matrix
        let channels = try (0..<3).map { try x.sliced(axis: 1, start: $0, end: $0 + 1) }
        return try Tensor.concat(try (0..<3).map { c in
            try channels[0] * m[c][0] + channels[1] * m[c][1] + channels[2] * m[c][2]
        }, axis: 1)
    }

    /// The inverse of a 3x3 matrix by cofactors.
    static func inverted(_ m: [[Float]]) -> [[Float]] {
        func cofactor(_ r: Int, _ c: Int) -> Float {
            let r1 = (r + 1) % 3, r2 = (r + 2) % 3, c1 = (c + 1) % 3, c2 = (c + 2) % 3
            return m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
        }
        let determinant = (0..<3).map { m[0][$0] * cofactor(0, $0) }.reduce(0, +)
        return (0..<3).map { r in (0..<3).map { c in cofactor(c, r) / determinant } }
    }
}

/// The optimised leaf and how it becomes an image in (0, 1).
struct ImageParameterization {
    let kind: InversionOptions.Parameterization
    let shape: [Int]
    let parameter: Tensor
    let scale: Tensor?
    let decorrelate: Bool

    static let fourierMagic: Float = 4

    init(_ kind: InversionOptions.Parameterization, shape: [Int], initial: Tensor?, decorrelate: Bool = false,
         generator: inout RandomGenerator) throws {
        self.kind = kind
        self.shape = shape
        self.decorrelate = decorrelate && shape[1] == 3
        let h = shape[2], w = shape[3]
        var logits: Tensor?
        if let initial {
            var start = initial
            if start.rank == 3 { start = try start.unsqueezed(axis: 0) }
            if start.shape[0] == 1 && shape[0] > 1 { start = try start.expanded(to: shape) }
            guard start.shape == shape else {
                throw LoupeError("invert: initial image \(describe(shape: initial.shape)) does not match the images \(describe(shape: shape))")
            }
            let p = try start.detached().clamped(min: 1e-3, max: 1 - 1e-3)
            logits = try (p / (1 - p)).log()
            if self.decorrelate, let rgb = logits { logits = try ColorDecorrelation.apply(rgb, inverse: true) }
        }
        switch kind {
        case .pixel:
            scale = nil
            parameter = try (logits ?? Tensor.normal(shape, std: 0.01, generator: &generator)).contiguousCopy().requiringGrad()
        case .fourier:
            // lucent rfft2d_freqs: sqrt(fx^2 + fy^2) with numpy's fftfreq.
            let wf = w / 2 + 1
            var values = [Float](repeating: 0, count: h * wf * 2)
            for y in 0..<h {
                let fy = Float(y <= (h - 1) / 2 ? y : y - h) / Float(h)
                for x in 0..<wf {
                    let fx = Float(x) / Float(w)
                    let s = 1 / max((fx * fx + fy * fy).squareRoot(), 1 / Float(max(h, w)))
                    values[(y * wf + x) * 2] = s
                    values[(y * wf + x) * 2 + 1] = s
                }
            }
            let scale = try Tensor(shape: [1, 1, h, wf, 2], scalars: values)
            self.scale = scale
            if let logits {
                let spectrum = try NN.rfft2(try logits * ImageParameterization.fourierMagic, norm: .ortho)
                parameter = try (spectrum / scale).contiguousCopy().requiringGrad()
            } else {
                parameter = try Tensor.normal([shape[0], shape[1], h, wf, 2], std: 0.01, generator: &generator).requiringGrad()
            }
        }
    }

    /// The images in (0, 1).
    func render() throws -> Tensor {
        var logits: Tensor
        switch kind {
        case .pixel:
            logits = parameter
        case .fourier:
            let spatial = try NN.irfft2(try parameter * scale!, size: (shape[2], shape[3]), norm: .ortho)
            logits = try spatial / ImageParameterization.fourierMagic
        }
        if decorrelate { logits = try ColorDecorrelation.apply(logits) }
        return logits.sigmoid()
    }
}
