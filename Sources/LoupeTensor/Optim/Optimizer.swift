/// Saved optimizer state: tensors (momentum buffers, moment estimates) and scalars (step
/// counts, learning rate, hyperparameters), keyed like `"0.exp_avg"` or `"learning_rate"`, so
/// it can be written to a safetensors file as tensors plus metadata.
public typealias OptimizerState = (tensors: [String: Tensor], scalars: [String: Double])

/// The shared machinery of first-order optimizers over leaf tensors.
///
/// An optimizer holds the leaves it updates (tensors returned by `requiringGrad()`). After
/// `backward()`, `step()` reads each leaf's `grad` and updates the leaf's values **in place**:
/// the new values are written into the leaf's storage, which is shared by every copy of that
/// leaf (and by views made from it), just as PyTorch updates parameters in place under
/// `no_grad`. Keep using the same tensors in the next forward pass; there is nothing to copy
/// back. Leaves without a gradient are skipped, as in PyTorch. Call `zeroGrad()` before the
/// next `backward()`, since gradients accumulate. Do not step while a graph that still needs
/// the old values for its backward pass is alive (the values it saved are overwritten).
///
///     let w = try Tensor.zeros([3, 2]).requiringGrad()
///     let optimizer = try AdamW(parameters: [w], learningRate: 1e-3,
///                               schedule: try .cosine(1e-3, total: 1000).withWarmup(steps: 50))
///     for (x, y) in batches {
///         optimizer.zeroGrad()
///         try loss(x.matmul(w), y).backward()
///         try clipGradNorm(optimizer.parameters, maxNorm: 1)
///         try optimizer.step()          // w now holds the new values
///     }
///
/// PyTorch's parameter groups (say, no weight decay on biases and norms) are one optimizer per
/// group here: updates are per parameter, so stepping each optimizer is equivalent. Clip over
/// the union of their parameters first.
public class Optimizer {
    /// The leaves this optimizer updates, in the order given.
    public let parameters: [Tensor]
    /// The learning rate used by the next `step()` (set from `schedule` when there is one).
    public var learningRate: Double
    /// When set, `step()` first sets `learningRate` to `schedule.rate(atStep: stepCount)`.
    public var schedule: LearningRateSchedule?
    /// The number of `step()` calls so far.
    public internal(set) var stepCount: Int = 0
    /// The optimizer's name in error messages, e.g. `SGD`.
    public let name: String

    init(name: String, parameters: [Tensor], learningRate: Double, schedule: LearningRateSchedule?) throws {
        self.name = name
        guard !parameters.isEmpty else {
            throw LoupeError("\(name): got an empty parameter list")
        }
        var seen = Set<ObjectIdentifier>()
        var storages: [ObjectIdentifier: Int] = [:]
        for (index, parameter) in parameters.enumerated() {
            guard let node = parameter.node, node.isLeaf else {
                throw LoupeError("\(name): parameter \(index) of shape \(describe(shape: parameter.shape)) is not a leaf that requires a gradient; pass tensors made by requiringGrad()")
            }
            guard parameter.isContiguous else {
                throw LoupeError("\(name): parameter \(index) of shape \(describe(shape: parameter.shape)) is a non-contiguous view; make it contiguous before requiringGrad()")
            }
            guard seen.insert(ObjectIdentifier(node)).inserted else {
                throw LoupeError("\(name): parameter \(index) of shape \(describe(shape: parameter.shape)) appears more than once")
            }
            if let other = storages.updateValue(index, forKey: ObjectIdentifier(parameter.storage)) {
                throw LoupeError("\(name): parameters \(other) and \(index) share storage (shapes \(describe(shape: parameters[other].shape)) and \(describe(shape: parameter.shape))); each update would be applied to the same memory")
            }
        }
        try Optimizer.check(learningRate, "learning rate", in: name)
        self.parameters = parameters
        self.learningRate = learningRate
        self.schedule = schedule
    }

    /// Updates every parameter that has a gradient, in place, then counts the step.
    public func step() throws {
        if let schedule { learningRate = schedule.rate(atStep: stepCount) }
        try Optimizer.check(learningRate, "learning rate", in: name)
        for (index, parameter) in parameters.enumerated() {
            guard let grad = parameter.grad else { continue }
            guard grad.shape == parameter.shape else {
                throw LoupeError("\(name): gradient of shape \(describe(shape: grad.shape)) does not match parameter \(index) of shape \(describe(shape: parameter.shape))")
            }
            let target = parameter.storage.pointer + parameter.offset
            try withExtendedLifetime(parameter.storage) {
                try grad.withContiguousPointer { gradient in
                    try update(index: index, parameter: target, gradient: gradient, count: parameter.count)
                }
            }
        }
        stepCount += 1
    }

    /// Clears the accumulated gradient of every parameter (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGrad() {
        for parameter in parameters { parameter.node?.zeroGrad() }
    }

    /// A copy of the optimizer's state; later steps do not change it.
    public func state() -> OptimizerState {
        var tensors: [String: Tensor] = [:]
        var scalars: [String: Double] = [
            "parameter_count": Double(parameters.count),
            "step_count": Double(stepCount),
            "learning_rate": learningRate,
        ]
        for (key, value) in hyperparameters() { scalars[key] = value }
        for index in parameters.indices {
            for (key, tensor) in parameterState(index) { tensors["\(index).\(key)"] = tensor.contiguousCopy() }
            for (key, value) in parameterScalars(index) { scalars["\(index).\(key)"] = value }
        }
        return (tensors, scalars)
    }

    /// Restores a state made by `state()` of an optimizer of the same kind over parameters of
    /// the same shapes. Throws, changing nothing, when a key is unknown or missing or a tensor's
    /// shape differs from its parameter's. A `schedule` is not part of the state: give the new
    /// optimizer the same schedule and it continues from the restored `stepCount`.
    public func load(_ state: OptimizerState) throws {
        let tensorKeys = Set(perParameterTensorKeys), scalarKeys = Set(perParameterScalarKeys)
        func scalar(_ key: String) throws -> Double {
            guard let value = state.scalars[key] else {
                throw LoupeError("\(name).load: missing scalar '\(key)'")
            }
            guard value.isFinite else {
                throw LoupeError("\(name).load: scalar '\(key)' is not finite (\(value))")
            }
            return value
        }
        let count = try scalar("parameter_count")
        guard count == Double(parameters.count) else {
            throw LoupeError("\(name).load: state is for \(count) parameters, this optimizer has \(parameters.count)")
        }
        let steps = try scalar("step_count")
        guard steps >= 0, steps == steps.rounded(), steps < 1e15 else {
            throw LoupeError("\(name).load: scalar 'step_count' is not a step count (\(steps))")
        }
        let rate = try scalar("learning_rate")
        try Optimizer.check(rate, "learning rate", in: "\(name).load")
        var hyper: [String: Double] = [:]
        for key in hyperparameters().keys { hyper[key] = try scalar(key) }
        var perTensors = [[String: Tensor]](repeating: [:], count: parameters.count)
        var perScalars = [[String: Double]](repeating: [:], count: parameters.count)
        for (key, tensor) in state.tensors {
            let (index, field) = try splitKey(key, known: tensorKeys, what: "tensor")
            guard tensor.shape == parameters[index].shape else {
                throw LoupeError("\(name).load: tensor '\(key)' has shape \(describe(shape: tensor.shape)), parameter \(index) has shape \(describe(shape: parameters[index].shape))")
            }
            perTensors[index][field] = tensor.contiguousCopy()
        }
        let global = Set(["parameter_count", "step_count", "learning_rate"]).union(hyperparameters().keys)
        for (key, value) in state.scalars where !global.contains(key) {
            let (index, field) = try splitKey(key, known: scalarKeys, what: "scalar")
            guard value.isFinite else {
                throw LoupeError("\(name).load: scalar '\(key)' is not finite (\(value))")
            }
            perScalars[index][field] = value
        }
        do {
            try validateHyperparameters(hyper)
        } catch let error as LoupeError {
            throw LoupeError("\(name).load: invalid saved hyperparameter: \(error.message)")
        }
        var restored: [Any] = []
        for index in parameters.indices {
            restored.append(try makeParameterState(index, tensors: perTensors[index], scalars: perScalars[index]))
        }
        // Everything validated: commit.
        setHyperparameters(hyper)
        for index in parameters.indices { setParameterState(index, restored[index]) }
        learningRate = rate
        stepCount = Int(steps)
    }

    private func splitKey(_ key: String, known: Set<String>, what: String) throws -> (Int, String) {
        let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
        guard parts.count == 2, let index = Int(parts[0]), known.contains(parts[1]) else {
            throw LoupeError("\(name).load: unknown \(what) key '\(key)'")
        }
        guard parameters.indices.contains(index) else {
            throw LoupeError("\(name).load: \(what) '\(key)' names parameter \(index), this optimizer has \(parameters.count)")
        }
        return (index, parts[1])
    }

    static func check(_ value: Double, _ what: String, in name: String) throws {
        guard value.isFinite, value >= 0 else {
            throw LoupeError("\(name): invalid \(what) \(value); expected a finite value >= 0")
        }
    }

    // MARK: Subclass hooks

    /// Updates one parameter's `count` values in place from its contiguous gradient.
    func update(index: Int, parameter: UnsafeMutablePointer<Float>, gradient: UnsafePointer<Float>, count: Int) throws {}
    /// Hyperparameters saved with the state, by key.
    func hyperparameters() -> [String: Double] { [:] }
    /// Checks restored hyperparameters (already finite) before anything is committed.
    func validateHyperparameters(_ values: [String: Double]) throws {}
    func setHyperparameters(_ values: [String: Double]) {}
    /// Field names of per-parameter tensors and scalars this optimizer may save.
    var perParameterTensorKeys: [String] { [] }
    var perParameterScalarKeys: [String] { [] }
    /// One parameter's state tensors and scalars (empty before its first update).
    func parameterState(_ index: Int) -> [String: Tensor] { [:] }
    func parameterScalars(_ index: Int) -> [String: Double] { [:] }
    /// Builds (validating) one parameter's restored state; `setParameterState` installs it.
    func makeParameterState(_ index: Int, tensors: [String: Tensor], scalars: [String: Double]) throws -> Any { () }
    func setParameterState(_ index: Int, _ state: Any) {}
}
