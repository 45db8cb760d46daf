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

/// `trace` for a model run on named inputs (several inputs, or a record output).
public func trace(_ model: Module, inputs: ModuleInputs, capture: [String] = [], patches: [String: Patch] = [:],
                  differentiable: Bool = false) throws -> (output: ModuleValue, activations: [String: Tensor]) {
    let context = ForwardContext(capture: capture, patches: patches, differentiable: differentiable)
    let output = try context.run(model, inputs: inputs)
    try context.checkAllPathsUsed(op: patches.isEmpty ? "capture" : "patch")
    return (output, context.activations)
}

/// Every activation path of `model` on named `inputs`, in execution order (records included).
public func activationPaths(_ model: Module, inputs: ModuleInputs) throws -> [String] {
    try GradMode.withoutGrad {
        let context = ForwardContext()
        _ = try context.run(model, inputs: inputs)
        return context.visitedPaths
    }
}

/// Shapes by module path (`""` for the root): each input's name and shape, and the output's shape
/// (nil when the output is a record).
public typealias ModuleShapes = [String: (inputs: [(name: String, shape: [Int])], output: [Int]?)]

/// The shapes every module of `model` sees in one forward pass on `inputs`, by module path
/// (`""` for the root): each input's name and shape (in the order given) and the output's
/// shape, or nil when the output is a record.
public func moduleShapes(_ model: Module, inputs: ModuleInputs) throws -> ModuleShapes {
    let activations = try GradMode.withoutGrad {
        let context = ForwardContext(captureAll: true)
        _ = try context.run(model, inputs: inputs)
        return context.activations
    }
    var result: ModuleShapes = [:]
    for (path, module) in model.namedModules() {
        let site = path.isEmpty ? "output" : path
        let inputSite = path.isEmpty ? "input" : path + ".input"
        let names = module.inputSignature.map(\.name)
        let inputs: [(name: String, shape: [Int])]
        if names.count == 1 {
            inputs = activations[inputSite].map { [(names[0], $0.shape)] } ?? []
        } else {
            inputs = names.compactMap { name in activations[inputSite + "." + name].map { (name, $0.shape) } }
        }
        let output = activations[site]?.shape
        if !inputs.isEmpty || output != nil { result[path] = (inputs, output) }
    }
    return result
}
