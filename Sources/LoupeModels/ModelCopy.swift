import LoupeTensor

/// An independent copy of `model`: the same architecture (and, for a model edited by `replace`,
/// the same replacements) rebuilt through `architectures`, with every parameter and buffer copied
/// into new storage, so training the copy leaves `model` untouched. Only saveable models can be
/// copied (the same rule as `saveModel`); the error names the module that is not.
public func copyModel(_ model: Module, architectures: ArchitectureCatalog) throws -> Module {
    let metadata = try architectureMetadata(model)
    guard let name = metadata["loupe.architecture"], let config = metadata["loupe.config"] else {
        throw LoupeError("copy: \(model.typeName) has no architecture metadata")
    }
    var copy = try architectures.build(architecture: name, configurationJSON: config)
    if let text = metadata["loupe.replacements"] {
        let specs = try decodeReplacements(text, path: "the copied model")
        for (key, spec) in specs.sorted(by: { ($0.key.split(separator: ".").count, $0.key) < ($1.key.split(separator: ".").count, $1.key) }) {
            copy = try replace(copy, at: key, with: try spec.build(architectures))
        }
    }
    try copyState(from: model, to: copy, op: "copy")
    copy.setTraining(model.training)
    return copy
}

/// Copies every parameter and buffer of `source` into `target`'s entry of the same path, in new
/// storage (detached from autograd). Every entry of `target` must exist in `source` with the same
/// shape; errors name the path and start with `op`.
public func copyState(from source: Module, to target: Module, op: String) throws {
    let values = Dictionary(source.namedState().map { ($0.path, $0.parameter.value) }, uniquingKeysWith: { first, _ in first })
    for (path, parameter) in target.namedState() {
        guard let value = values[path] else {
            throw LoupeError("\(op): the \(source.typeName) copied from has no '\(path)'")
        }
        guard value.shape == parameter.value.shape else {
            throw LoupeError("\(op): '\(path)' is \(describe(shape: value.shape)) in the source and \(describe(shape: parameter.value.shape)) in the copy")
        }
        parameter.value = try value.detached().contiguous() + 0
    }
}

/// One step of an exponential moving average of weights (a model to sample from):
/// average <- model + (average - model) * beta for every parameter of `average` that `model` has;
/// buffers (running statistics) are copied as they are.
public func updateMovingAverage(_ average: Module, toward model: Module, beta: Float) throws {
    let live = Dictionary(model.namedParameters().map { ($0.path, $0.parameter.value.detached()) }, uniquingKeysWith: { a, _ in a })
    for (path, parameter) in average.namedParameters() {
        guard let value = live[path] else { continue }
        parameter.value = try (value + (parameter.value - value) * beta).contiguous()
    }
    let buffers = Dictionary(model.namedBuffers().map { ($0.path, $0.parameter.value.detached()) }, uniquingKeysWith: { a, _ in a })
    for (path, parameter) in average.namedBuffers() {
        if let value = buffers[path] { parameter.value = try value.contiguous() + 0 }
    }
}
