import LoupeTensor

/// Runs `model` on `input` and returns its output.
public func forward(_ model: Module, _ input: Tensor) throws -> Tensor {
    try ForwardContext().run(model, input)
}

/// Runs `model` on `input`, applying `patches` and recording the activations at `capture`
/// paths (`*` matches one segment). Unknown paths throw. With `differentiable`, captured
/// activations are part of the tape (leaves if nothing upstream needs a gradient), so
/// `Autograd.gradients(of: output, wrt: [activations[path]!])` works.
public func trace(_ model: Module, _ input: Tensor, capture: [String] = [], patches: [String: Patch] = [:],
                differentiable: Bool = false) throws -> (output: Tensor, activations: [String: Tensor]) {
    let context = ForwardContext(capture: capture, patches: patches, differentiable: differentiable)
    let output = try context.run(model, input)
    try context.checkAllPathsUsed(op: patches.isEmpty ? "capture" : "patch")
    return (output, context.activations)
}

/// The activations of `model` on `input` at `paths`, by path (patterns expanded). `output`
/// is the model's output.
public func capture(_ model: Module, _ input: Tensor, _ paths: [String],
                    differentiable: Bool = false) throws -> [String: Tensor] {
    try trace(model, input, capture: paths, differentiable: differentiable).activations
}

/// The output of `model` on `input` with activations replaced by `patches`.
public func patch(_ model: Module, _ input: Tensor, _ patches: [String: Patch]) throws -> Tensor {
    try trace(model, input, patches: patches).output
}

/// Every activation path of `model` on `input`, in execution order.
public func activationPaths(_ model: Module, _ input: Tensor) throws -> [String] {
    try GradMode.withoutGrad {
        let context = ForwardContext()
        _ = try context.run(model, input)
        return context.visitedPaths
    }
}
