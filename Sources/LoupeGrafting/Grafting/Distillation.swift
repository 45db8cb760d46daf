import Foundation
import LoupeModels
import LoupeTensor

/// The regression loss of activation distillation (the paper finds L1 best for attention).
public enum DistillationLoss: String, CaseIterable, Sendable {
    case l1, l2, huber
}

/// Settings of stage 1 of grafting, activation distillation.
public struct DistillationOptions {
    /// (input, output) pairs captured from the teacher per replaced operator (the paper: ~8000).
    public var samples = 8000
    /// Passes over the captured pairs.
    public var epochs = 10
    public var batchSize = 64
    /// AdamW on each new operator's parameters.
    public var learningRate = 1e-3
    public var weightDecay = 0.0
    public var loss = DistillationLoss.l1
    /// Huber's delta (torch's default 1).
    public var huberDelta: Float = 1
    /// Labels dropped to the null class while capturing, so the unconditional behaviour that
    /// classifier-free guidance uses is distilled too (DiT's training rate, 0.1).
    public var labelDropout = 0.1
    /// Images per teacher forward while capturing.
    public var captureBatch = 64
    public var seed: UInt64 = 0

    public init() {}
}

/// Stage 1 of grafting (Chandrasegaran et al.): the teacher runs on noised training images at
/// random timesteps (x_t = q_sample(x_0, t, noise), t uniform; not clean images, a bug of the
/// released code) with their labels (not swapped with the timesteps, another), the input and
/// output of each replaced operator are captured, and each new operator is regressed on its
/// pairs alone with AdamW. The student's other weights do not change.
public final class OperatorDistillation {
    /// The grafted model; its new operators are trained in place.
    public let student: ReplacedModel
    public let teacher: Module
    /// The replaced module paths distilled, in order.
    public let paths: [String]
    public let diffusion: GaussianDiffusion
    public let options: DistillationOptions
    let images: Tensor
    let labels: [Int]
    let nullClass: Int
    var random: RandomGenerator

    /// `paths` default to every replacement of `student`.
    public init(student: ReplacedModel, teacher: Module, paths: [String]? = nil, diffusion: GaussianDiffusion,
                images: Tensor, labels: [Int], nullClass: Int, options: DistillationOptions) throws {
        let chosen = paths ?? student.replacements.keys.sorted { Self.pathOrder($0, $1) }
        guard !chosen.isEmpty else { throw LoupeError("distill: the model has no grafted operators") }
        for path in chosen where student.replacements[path] == nil {
            throw LoupeError("distill: '\(path)' is not a grafted operator (grafted: \(student.replacements.keys.sorted().joined(separator: ", ")))")
        }
        guard images.rank == 4, images.shape[0] > 0, labels.count == images.shape[0] else {
            throw LoupeError("distill: images must be [N, C, H, W] with one label each, got \(describe(shape: images.shape)) and \(labels.count) labels")
        }
        guard options.samples >= 1, options.epochs >= 1, options.batchSize >= 1, options.captureBatch >= 1 else {
            throw LoupeError("distill: samples, epochs, batch and capture_batch must be positive")
        }
        self.student = student
        self.teacher = teacher
        self.paths = chosen
        self.diffusion = diffusion
        self.options = options
        self.images = images.contiguous()
        self.labels = labels
        self.nullClass = nullClass
        random = RandomGenerator(seed: options.seed, stream: 0x6772616674)
    }

    /// Block order: `blocks.3.attn` before `blocks.11.attn`.
    static func pathOrder(_ a: String, _ b: String) -> Bool {
        let pa = a.split(separator: "."), pb = b.split(separator: ".")
        for (x, y) in zip(pa, pb) where x != y {
            if let i = Int(x), let j = Int(y) { return i < j }
            return x < y
        }
        return pa.count < pb.count
    }

    /// The captured pairs of one operator: inputs and outputs, [samples, ...].
    public struct Pairs {
        public var inputs: Tensor
        public var outputs: Tensor
    }

    /// Runs the teacher on `options.samples` noised images and returns each path's pairs.
    public func capture(progress: ProgressBar? = nil) throws -> [String: Pairs] {
        let n = images.shape[0], total = options.samples
        var order: [Int] = []
        var inputs: [String: [Tensor]] = [:], outputs: [String: [Tensor]] = [:]
        var done = 0
        try GradMode.withoutGrad {
            while done < total {
                try Interrupt.checkpoint("distill")
                let count = min(options.captureBatch, total - done)
                var batch: [Int] = []
                for _ in 0..<count {
                    if order.isEmpty { order = random.permutation(n).reversed() }
                    batch.append(order.removeLast())
                }
                let x0 = try images.indexSelect(axis: 0, indices: batch)
                let y = batch.map { index -> Float in
                    Double(random.nextUniform()) < options.labelDropout ? Float(nullClass) : Float(labels[index])
                }
                let steps = (0..<count).map { _ in Int(random.nextUInt64() % UInt64(diffusion.schedule.steps)) }
                let noise = try Tensor.normal(x0.shape, generator: &random)
                let noisy = try diffusion.noised(x0, steps: steps, noise: noise)
                let moduleInputs = ModuleInputs([("x", .tensor(noisy)), ("t", .tensor(diffusion.modelTimesteps(steps))),
                                                 ("y", .tensor(Tensor(y)))])
                let sites = paths.flatMap { [$0 + ".input", $0] }
                let traced = try trace(teacher, inputs: moduleInputs, capture: sites)
                for path in paths {
                    guard let input = traced.activations[path + ".input"], let output = traced.activations[path] else {
                        throw LoupeError("distill: the teacher has no single-input operator at '\(path)' to capture")
                    }
                    inputs[path, default: []].append(input.contiguous())
                    outputs[path, default: []].append(output.contiguous())
                }
                done += count
                progress?.update(done)
            }
        }
        var pairs: [String: Pairs] = [:]
        for path in paths {
            pairs[path] = Pairs(inputs: try Tensor.concat(inputs[path] ?? [], axis: 0),
                                outputs: try Tensor.concat(outputs[path] ?? [], axis: 0))
        }
        return pairs
    }

    /// The regression loss between an operator's prediction and the teacher's output.
    func loss(_ prediction: Tensor, _ target: Tensor) throws -> Tensor {
        switch options.loss {
        case .l1: return try NN.l1(prediction, target)
        case .l2: return try NN.mse(prediction, target)
        case .huber: return try NN.huber(prediction, target, delta: options.huberDelta)
        }
    }

    /// Regresses each operator on its pairs; returns each path's mean loss per epoch.
    public func train(_ pairs: [String: Pairs], progress: ProgressBar? = nil,
                      onEpoch: (String, Int, Float) throws -> Void = { _, _, _ in }) throws -> [String: [Float]] {
        var history: [String: [Float]] = [:]
        var completed = 0
        for path in paths {
            guard let module = student.replacements[path], let data = pairs[path] else { continue }
            let count = data.inputs.shape[0]
            let leaves = module.parameters(trainable: true)
            guard !leaves.isEmpty else { throw LoupeError("distill: the operator at '\(path)' has no parameters") }
            let optimizer = try AdamW(parameters: leaves, learningRate: options.learningRate, weightDecay: options.weightDecay)
            module.setTraining(true)
            defer {
                module.parameters(trainable: false)
                module.setTraining(false)
            }
            for epoch in 1...options.epochs {
                let order = random.permutation(count)
                var total: Double = 0
                var batches = 0
                for start in stride(from: 0, to: count, by: options.batchSize) {
                    try Interrupt.checkpoint("distill")
                    let rows = Array(order[start..<min(start + options.batchSize, count)])
                    let input = try data.inputs.indexSelect(axis: 0, indices: rows)
                    let target = try data.outputs.indexSelect(axis: 0, indices: rows)
                    optimizer.zeroGrad()
                    let value = try GradMode.withGrad { try loss(try ForwardContext().run(module, input), target) }
                    try value.backward()
                    try optimizer.step()
                    let scalar = try value.item()
                    guard scalar.isFinite else {
                        throw LoupeError("distill: the loss of '\(path)' became \(scalar) in epoch \(epoch); lower the learning rate")
                    }
                    total += Double(scalar)
                    batches += 1
                    completed += 1
                    progress?.update(completed, loss: Double(scalar), metrics: [("op", path)])
                }
                let mean = Float(total / Double(max(batches, 1)))
                history[path, default: []].append(mean)
                try onEpoch(path, epoch, mean)
            }
        }
        return history
    }

    /// The number of optimizer steps `train` takes (for a progress bar).
    public var trainingSteps: Int {
        paths.count * options.epochs * ((options.samples + options.batchSize - 1) / options.batchSize)
    }
}
