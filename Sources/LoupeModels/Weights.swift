import Foundation
import LoupeTensor
import LoupeIO

/// How a checkpoint's keys matched a model's parameters and buffers.
public struct LoadReport: CustomStringConvertible, Sendable {
    /// A key present in both with different shapes.
    public struct Mismatch: Sendable, Equatable {
        public var key: String
        public var model: [Int]
        public var checkpoint: [Int]
    }

    /// Model keys the checkpoint lacks.
    public var missing: [String] = []
    /// Checkpoint keys the model lacks.
    public var unexpected: [String] = []
    /// Keys whose shapes differ.
    public var mismatched: [Mismatch] = []
    /// Keys loaded.
    public var loaded: [String] = []

    /// Whether every key matched.
    public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

    /// The problems, first few of each kind with counts.
    public var description: String {
        let shown = 5
        func list(_ items: [String], _ label: String) -> String? {
            guard !items.isEmpty else { return nil }
            let more = items.count > shown ? ", ... (\(items.count - shown) more)" : ""
            return "\(items.count) \(label): " + items.prefix(shown).joined(separator: ", ") + more
        }
        let parts = [
            list(missing, "missing"),
            list(unexpected, "unexpected"),
            list(mismatched.map { "\($0.key) (model \(describe(shape: $0.model)), checkpoint \(describe(shape: $0.checkpoint)))" }, "shape-mismatched"),
        ].compactMap { $0 }
        return parts.isEmpty ? "\(loaded.count) tensors loaded, all keys matched" : parts.joined(separator: "; ")
    }
}

/// Loads a safetensors checkpoint (a file, or a sharded `*.index.json`) into `model` by dotted
/// key. Strict (the default) loads nothing and throws, listing missing, unexpected and
/// shape-mismatched keys, unless every key matches; non-strict loads the matching keys and
/// returns the report. Values are copied into the existing parameter storage (as torch
/// `load_state_dict`), so optimizers built on the parameters keep working.
@discardableResult
public func loadWeights(_ model: Module, from path: String, strict: Bool = true) throws -> LoadReport {
    try loadWeights(model, from: try SafeTensors.open(path), strict: strict)
}

/// `loadWeights(_:from:strict:)` from an opened checkpoint.
@discardableResult
public func loadWeights(_ model: Module, from checkpoint: SafeTensorsCollection, strict: Bool = true) throws -> LoadReport {
    var report = LoadReport()
    let state = model.namedState()
    let modelKeys = Set(state.map(\.path))
    report.unexpected = checkpoint.names.filter { !modelKeys.contains($0) }
    let available = Set(checkpoint.names)
    var matched: [(path: String, parameter: Parameter)] = []
    for entry in state {
        guard available.contains(entry.path) else { report.missing.append(entry.path); continue }
        let shape = try checkpoint.info(entry.path).shape
        if shape != entry.parameter.shape {
            report.mismatched.append(.init(key: entry.path, model: entry.parameter.shape, checkpoint: shape))
        } else {
            matched.append(entry)
        }
    }
    if strict && !report.isClean {
        throw LoupeError("loadWeights: '\(checkpoint.path)' does not match the model: \(report)")
    }
    for (path, parameter) in matched {
        let loaded = try checkpoint.tensor(named: path)
        assign(loaded, to: parameter)
        report.loaded.append(path)
    }
    return report
}

/// Copies `value` into the parameter's storage in place when it is a contiguous tensor of the
/// same shape (keeping autograd leaves and optimizer links); replaces it otherwise.
func assign(_ value: Tensor, to parameter: Parameter) {
    let target = parameter.value
    guard target.shape == value.shape, target.isContiguous, target.count > 0 else {
        parameter.value = target.requiresGrad ? value.detached().requiringGrad() : value.detached()
        return
    }
    value.withContiguousPointer { source in
        (target.storage.pointer + target.offset).update(from: source, count: target.count)
    }
}

/// Saves `model`'s parameters and buffers as safetensors with `__metadata__` entries
/// `loupe.architecture` and `loupe.config` (JSON), so `loadModel(_:)` can rebuild it. A model
/// edited by `replace` stores its base's architecture plus `loupe.replacements` (JSON: path ->
/// {architecture, config}); every replacement must then be a registered architecture.
/// `classNames` (class names by index) are stored as `loupe.classes`, a JSON array.
public func saveModel(_ model: Module, to path: String, classNames: [String]? = nil) throws {
    var metadata = try architectureMetadata(model)
    if let classNames { metadata[ClassNames.metadataKey] = ClassNames.encode(classNames) }
    try SafeTensors.write(model.stateDict(), to: path, metadata: metadata)
}

/// The `loupe.*` metadata entries that let `loadModel` rebuild `model`.
func architectureMetadata(_ model: Module) throws -> [String: String] {
    let edited = model as? ReplacedModel
    let root = edited?.base ?? model
    guard let architecture = root as? any Architecture else {
        throw LoupeError("saveModel: \(root.typeName) is not a registered architecture (known: \(savableModulesText))")
    }
    var metadata = ["format": "pt", "loupe.architecture": type(of: architecture).architectureName,
                    "loupe.config": try architecture.configurationJSON()]
    if let edited {
        var specs: [String: ModuleSpec] = [:]
        for (path, module) in edited.replacements {
            specs[path] = try ModuleSpec(module, role: "the replacement at '\(path)'")
        }
        metadata["loupe.replacements"] = try encodeConfiguration(specs)
    }
    return metadata
}

/// Rebuilds a model saved by `saveModel(_:to:)` from its metadata (with its replacements, if it
/// was edited by `replace`) through `architectures` and loads its weights strictly.
public func loadModel(_ path: String, architectures: ArchitectureCatalog) throws -> Module {
    try loadModelWithClasses(path, architectures: architectures).model
}

/// `loadModel(_:)` that also returns the class names stored as `loupe.classes` (nil when the
/// checkpoint has none).
public func loadModelWithClasses(_ path: String, architectures: ArchitectureCatalog) throws -> (model: Module, classNames: [String]?) {
    let checkpoint = try SafeTensors.open(path)
    guard let name = checkpoint.metadata["loupe.architecture"], let config = checkpoint.metadata["loupe.config"] else {
        throw LoupeError("loadModel: '\(path)' has no loupe.architecture / loupe.config metadata (not saved by saveModel; build the model and use loadWeights)")
    }
    let classNames = try checkpoint.metadata[ClassNames.metadataKey].map { try ClassNames.decode($0, path: path) }
    var model = try architectures.build(architecture: name, configurationJSON: config)
    if let text = checkpoint.metadata["loupe.replacements"] {
        let specs = try decodeConfiguration([String: ModuleSpec].self, text, architecture: "loupe.replacements")
        // Outer paths first, so an edit inside a replacement finds the replacement in place.
        for key in specs.keys.sorted(by: { ($0.split(separator: ".").count, $0) < ($1.split(separator: ".").count, $1) }) {
            model = try replace(model, at: key, with: try specs[key]!.build(architectures))
        }
    }
    try loadWeights(model, from: checkpoint, strict: true)
    return (model, classNames)
}
