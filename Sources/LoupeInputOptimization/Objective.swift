import LoupeModels
import LoupeTensor

/// A scalar loss on a model's activations that input optimisation minimises (lucent's
/// `Objective`). The unit objectives are negated activations, so minimising maximises the
/// unit; objectives add, subtract, negate and scale like numbers. Activations are `[B, ...]`
/// with channels on `channelAxis` (1 for `[B, C, H, W]` maps, -1 for `[B, T, D]` tokens).
public struct Objective {
    /// The activation paths the objective reads, in first-use order.
    public let layers: [String]
    /// A readable description, e.g. `Channel(blocks.3, 7)`.
    public let description: String
    let body: ([String: Tensor]) throws -> Tensor

    /// An objective on the activations at `layers` (given by path to `body`).
    public init(layers: [String], description: String, _ body: @escaping ([String: Tensor]) throws -> Tensor) {
        var seen = Set<String>()
        self.layers = layers.filter { seen.insert($0).inserted }
        self.description = description
        self.body = body
    }

    /// An objective on the activation at one `layer`.
    public init(layer: String, description: String, _ body: @escaping (Tensor) throws -> Tensor) {
        self.init(layers: [layer], description: description) { activations in
            guard let value = activations[layer] else {
                throw LoupeError("objective \(description): no activation for layer '\(layer)'")
            }
            return try body(value)
        }
    }

    /// The loss for activations by path (they must include `layers`). Differentiable.
    public func callAsFunction(_ activations: [String: Tensor]) throws -> Tensor {
        let loss = try body(activations)
        guard loss.count == 1 else {
            throw LoupeError("objective \(description): expected a scalar loss, got shape \(describe(shape: loss.shape))")
        }
        return loss.rank == 0 ? loss : try loss.reshaped([])
    }

    /// The loss of `model` on `input` (the forward pass stops after the last layer needed).
    /// Differentiable with respect to `input`.
    public func evaluate(_ model: Module, _ input: Tensor) throws -> Tensor {
        try self(try activations(model, input, at: layers))
    }

    // MARK: Unit objectives

    /// Minus the mean of channel `channel` (over the batch, or image `batch` only, and every
    /// position): lucent's `channel`.
    public static func channel(_ layer: String, _ channel: Int, channelAxis: Int = 1, batch: Int? = nil) -> Objective {
        Objective(layer: layer, description: "Channel(\(layer), \(channel))") { a in
            let unit = try selectChannel(try selectBatch(a, batch, layer: layer), channel, axis: channelAxis, layer: layer)
            return try -unit.mean()
        }
    }

    /// Minus the mean over the batch (or image `batch`) of one unit: channel `channel` at
    /// `position` (one index per axis after the batch other than the channel axis; nil: the
    /// centre, `size / 2` on each axis, as lucent's `neuron` on square maps; lucent takes the
    /// row from the width and the column from the height).
    public static func neuron(_ layer: String, _ channel: Int, position: [Int]? = nil, channelAxis: Int = 1,
                              batch: Int? = nil) -> Objective {
        let at = position.map { "\($0)" } ?? "centre"
        return Objective(layer: layer, description: "Neuron(\(layer), \(channel), \(at))") { a in
            var unit = try selectChannel(try selectBatch(a, batch, layer: layer), channel, axis: channelAxis, layer: layer)
            // The channel axis is gone: the remaining axes after the batch are positions.
            let sizes = Array(unit.shape.dropFirst())
            let spot = position ?? sizes.map { $0 / 2 }
            guard spot.count == sizes.count else {
                throw LoupeError("neuron: position \(spot) needs \(sizes.count) indices for activation \(describe(shape: a.shape)) at '\(layer)'")
            }
            for (k, index) in spot.enumerated() {
                guard index >= -sizes[k] && index < sizes[k] else {
                    throw LoupeError("neuron: position \(spot) is out of range for activation \(describe(shape: a.shape)) at '\(layer)'")
                }
                let i = index < 0 ? index + sizes[k] : index
                unit = try unit.sliced(axis: 1 + k, start: i, end: i + 1)
            }
            return try -unit.mean()
        }
    }

    /// Minus the mean (over the batch, or image `batch`, and every position) of the dot product
    /// of the channel vector with `vector` (`[C]`): lucid's `direction` with `cossim_pow = 0`.
    public static func direction(_ layer: String, _ vector: Tensor, channelAxis: Int = 1, batch: Int? = nil) -> Objective {
        let v = vector.detached()
        return Objective(layer: layer, description: "Direction(\(layer), \(describe(shape: v.shape)))") { a in
            let x = try selectBatch(a, batch, layer: layer)
            let axis = try channelAxisIndex(channelAxis, x, layer: layer)
            guard v.rank == 1, v.count == x.shape[axis] else {
                throw LoupeError("direction: vector \(describe(shape: v.shape)) does not match the \(x.shape[axis]) channels of activation \(describe(shape: a.shape)) at '\(layer)'")
            }
            var shape = [Int](repeating: 1, count: x.rank)
            shape[axis] = v.count
            return try -(x * v.reshaped(shape)).sum(axes: [axis]).mean()
        }
    }

    /// Minus logit `k` of `[B, K]` outputs at `layer` (the classifier head), averaged over the
    /// batch or taken at image `batch`: lucent's `channel` on the logits.
    public static func logit(_ layer: String, _ k: Int, batch: Int? = nil) -> Objective {
        Objective(layer: layer, description: "Logit(\(k))") { a in
            guard a.rank == 2 else {
                throw LoupeError("logit: expected [B, K] logits at '\(layer)', got \(describe(shape: a.shape))")
            }
            return try -selectChannel(try selectBatch(a, batch, layer: layer), k, axis: 1, layer: layer).mean()
        }
    }

    /// lucent's `diversity(layer)`: minus the mean over images of the summed similarity of
    /// each image's Gram matrix (channels by channels, over positions, L2-normalised as a whole)
    /// with every other image's. It is negative, and more so the more alike the images are, so
    /// objectives subtract it (`channel - 100 * diversity`) to push a batch apart. Needs a batch
    /// of at least 2.
    public static func diversity(_ layer: String, channelAxis: Int = 1) -> Objective {
        Objective(layer: layer, description: "Diversity(\(layer))") { a in
            let axis = try channelAxisIndex(channelAxis, a, layer: layer)
            let batch = a.shape[0]
            guard batch >= 2 else {
                throw LoupeError("diversity: needs a batch of at least 2 images, got activation \(describe(shape: a.shape)) at '\(layer)'")
            }
            let channels = a.shape[axis]
            var order = Array(0..<a.rank)
            order.remove(at: axis)
            order.insert(axis, at: 1)
            let flattened = try a.permuted(order).contiguous().reshaped([batch, channels, -1])
            let grams = try flattened.matmul(flattened.transposed(1, 2))
            let norms = try grams.pow(2).sum(axes: [1, 2], keepDims: true).sqrt().clamped(min: 1e-12)
            let normalized = try grams / norms
            // sum over i != j of <g_i, g_j> = |sum_i g_i|^2 - sum_i |g_i|^2.
            let total = try normalized.sum(axes: [0]).pow(2).sum()
            let own = try normalized.pow(2).sum()
            return try -(total - own) / Float(batch)
        }
    }

    /// Minus the mean square of the whole activation (lucid's `deepdream` layer objective).
    public static func layer(_ layer: String, batch: Int? = nil) -> Objective {
        Objective(layer: layer, description: "Layer(\(layer))") { a in
            try -selectBatch(a, batch, layer: layer).pow(2).mean()
        }
    }

    /// The mean squared difference between the activation and `target` (same shape): feature
    /// matching, as optimisation-based inversion uses it.
    public static func meanSquaredError(_ layer: String, target: Tensor) -> Objective {
        let goal = target.detached()
        return Objective(layer: layer, description: "MSE(\(layer))") { a in
            guard a.shape == goal.shape else {
                throw LoupeError("objective: target \(describe(shape: goal.shape)) does not match the activation at '\(layer)' \(describe(shape: a.shape))")
            }
            return try NN.mse(a, goal)
        }
    }

    // MARK: Combinations

    /// The sum of `objectives` (0 for none).
    public static func sum(_ objectives: [Objective]) -> Objective {
        Objective(layers: objectives.flatMap(\.layers),
                  description: "Sum(" + objectives.map(\.description).joined(separator: ", ") + ")") { activations in
            var total = Tensor(0)
            for objective in objectives { total = try total + objective(activations) }
            return total
        }
    }

    public static func + (lhs: Objective, rhs: Objective) -> Objective { sum([lhs, rhs]) }

    public static func - (lhs: Objective, rhs: Objective) -> Objective { sum([lhs, -rhs]) }

    public static prefix func - (objective: Objective) -> Objective { -1 * objective }

    public static func * (weight: Float, objective: Objective) -> Objective {
        Objective(layers: objective.layers, description: "\(weight) * \(objective.description)") { activations in
            try weight * objective(activations)
        }
    }

    public static func * (objective: Objective, weight: Float) -> Objective { weight * objective }

    public static func / (objective: Objective, divisor: Float) -> Objective { (1 / divisor) * objective }

    public static func + (objective: Objective, constant: Float) -> Objective {
        Objective(layers: objective.layers, description: "\(objective.description) + \(constant)") { activations in
            try objective(activations) + constant
        }
    }

    // MARK: Selection

    static func selectBatch(_ a: Tensor, _ batch: Int?, layer: String) throws -> Tensor {
        guard a.rank >= 2 else {
            throw LoupeError("objective: activation at '\(layer)' is \(describe(shape: a.shape)); expected [B, ...] with channels")
        }
        guard let batch else { return a }
        guard batch >= 0 && batch < a.shape[0] else {
            throw LoupeError("objective: batch index \(batch) is out of range for activation \(describe(shape: a.shape)) at '\(layer)'")
        }
        return try a.sliced(axis: 0, start: batch, end: batch + 1)
    }

    /// The channel axis value that picks the axis from the activation: the last axis of
    /// `[B, T, D]` token activations, axis 1 of everything else (`[B, C, H, W]` maps, `[B, C]`).
    public static let automaticChannelAxis = 0

    static func channelAxisIndex(_ axis: Int, _ a: Tensor, layer: String) throws -> Int {
        if axis == automaticChannelAxis { return a.rank == 3 ? 2 : 1 }
        let resolved = axis < 0 ? axis + a.rank : axis
        guard resolved >= 1 && resolved < a.rank else {
            throw LoupeError("objective: channel axis \(axis) is not a non-batch axis of activation \(describe(shape: a.shape)) at '\(layer)'")
        }
        return resolved
    }

    /// The activation without its channel axis, at `channel`.
    static func selectChannel(_ a: Tensor, _ channel: Int, axis: Int, layer: String) throws -> Tensor {
        let resolved = try channelAxisIndex(axis, a, layer: layer)
        let n = a.shape[resolved]
        guard channel >= -n && channel < n else {
            throw LoupeError("objective: channel \(channel) is out of range for the \(n) channels of activation \(describe(shape: a.shape)) at '\(layer)'")
        }
        let c = channel < 0 ? channel + n : channel
        return try a.indexed([IndexSpec](repeating: .all, count: resolved) + [.index(c)])
    }
}
