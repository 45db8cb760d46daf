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
    let source = Dictionary(model.namedState().map { ($0.path, $0.parameter) }, uniquingKeysWith: { first, _ in first })
    for (path, parameter) in copy.namedState() {
        guard let original = source[path] else {
            throw LoupeError("copy: the rebuilt \(copy.typeName) has '\(path)', which the original lacks")
        }
        guard original.value.shape == parameter.value.shape else {
            throw LoupeError("copy: '\(path)' is \(describe(shape: original.value.shape)) in the original and \(describe(shape: parameter.value.shape)) rebuilt")
        }
        parameter.value = try original.value.detached().contiguous() + 0
    }
    copy.setTraining(model.training)
    return copy
}
