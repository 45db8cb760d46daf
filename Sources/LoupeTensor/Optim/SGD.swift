/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2
/// weight decay, exactly as `torch.optim.SGD`:
///
///     d = g + weightDecay * p
///     b = d                                  (first step)
///     b = momentum * b + (1 - dampening) * d (later steps)
///     d = nesterov ? d + momentum * b : b    (when momentum != 0)
///     p = p - learningRate * d
///
/// Parameters are updated in place (see `Optimizer`).
public final class SGD: Optimizer {
    public private(set) var momentum: Double
    public private(set) var dampening: Double
    public private(set) var nesterov: Bool
    public private(set) var weightDecay: Double
    /// Momentum buffers, created on a parameter's first update when `momentum != 0`.
    private var buffers: [Tensor?]

    /// Throws when a hyperparameter is negative or not finite, when Nesterov momentum is asked
    /// for without momentum or with dampening, or when a parameter is not a contiguous leaf.
    public init(parameters: [Tensor], learningRate: Double, momentum: Double = 0, dampening: Double = 0,
                nesterov: Bool = false, weightDecay: Double = 0, schedule: LearningRateSchedule? = nil) throws {
        try SGD.validate(momentum: momentum, dampening: dampening, nesterov: nesterov, weightDecay: weightDecay)
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.buffers = Array(repeating: nil, count: parameters.count)
        try super.init(name: "SGD", parameters: parameters, learningRate: learningRate, schedule: schedule)
    }

    private static func validate(momentum: Double, dampening: Double, nesterov: Bool, weightDecay: Double) throws {
        try Optimizer.check(momentum, "momentum", in: "SGD")
        guard dampening.isFinite else {
            throw LoupeError("SGD: invalid dampening \(dampening); expected a finite value")
        }
        try Optimizer.check(weightDecay, "weight decay", in: "SGD")
        if nesterov && (momentum <= 0 || dampening != 0) {
            throw LoupeError("SGD: Nesterov momentum requires momentum > 0 and zero dampening (momentum \(momentum), dampening \(dampening))")
        }
    }

    override func update(index: Int, parameter p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int) throws {
        let lr = Float(learningRate), wd = Float(weightDecay)
        let mu = Float(momentum), keep = Float(1 - dampening)
        if momentum == 0 {
            Parallel.forRanges(count) { start, end in
                if wd == 0 {
                    for i in start..<end { p[i] -= lr * g[i] }
                } else {
                    for i in start..<end { p[i] -= lr * (g[i] + wd * p[i]) }
                }
            }
            return
        }
        let first = buffers[index] == nil
        let buffer = buffers[index] ?? Tensor.uninitialized([count])
        buffers[index] = buffer
        let b = buffer.storage.pointer
        let nesterov = self.nesterov
        // The loop-invariant choices are separate loops so each one vectorizes.
        let decay = wd != 0
        Parallel.forRanges(count) { start, end in
            let p = p + start, g = g + start, b = b + start, n = end - start
            switch (decay, first) {
            case (true, false):
                for i in 0..<n {
                    let d = g[i] + wd * p[i], buffer = mu * b[i] + keep * d
                    b[i] = buffer
                    p[i] -= lr * (nesterov ? d + mu * buffer : buffer)
                }
            case (false, false):
                for i in 0..<n {
                    let d = g[i], buffer = mu * b[i] + keep * d
                    b[i] = buffer
                    p[i] -= lr * (nesterov ? d + mu * buffer : buffer)
                }
            case (true, true):
                for i in 0..<n {
                    let d = g[i] + wd * p[i]
                    b[i] = d
                    p[i] -= lr * (nesterov ? d + mu * d : d)
                }
            case (false, true):
                for i in 0..<n {
                    let d = g[i]
                    b[i] = d
                    p[i] -= lr * (nesterov ? d + mu * d : d)
                }
            }
        }
    }

    override func hyperparameters() -> [String: Double] {
        ["momentum": momentum, "dampening": dampening, "nesterov": nesterov ? 1 : 0, "weight_decay": weightDecay]
    }

    override func validateHyperparameters(_ values: [String: Double]) throws {
        try SGD.validate(momentum: values["momentum", default: 0], dampening: values["dampening", default: 0],
                         nesterov: values["nesterov", default: 0] != 0, weightDecay: values["weight_decay", default: 0])
    }

    override func setHyperparameters(_ values: [String: Double]) {
        momentum = values["momentum", default: 0]
        dampening = values["dampening", default: 0]
        nesterov = values["nesterov", default: 0] != 0
        weightDecay = values["weight_decay", default: 0]
    }

    override var perParameterTensorKeys: [String] { ["momentum_buffer"] }

    override func parameterState(_ index: Int) -> [String: Tensor] {
        guard let buffer = buffers[index] else { return [:] }
        return ["momentum_buffer": (try? buffer.reshaped(parameters[index].shape)) ?? buffer]
    }

    override func makeParameterState(_ index: Int, tensors: [String: Tensor], scalars: [String: Double]) throws -> Any {
        guard let buffer = tensors["momentum_buffer"] else { return Optional<Tensor>.none as Any }
        return Optional(try buffer.contiguousCopy().reshaped([buffer.count])) as Any
    }

    override func setParameterState(_ index: Int, _ state: Any) {
        buffers[index] = state as? Tensor
    }
}
