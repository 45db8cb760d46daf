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
/// returns the report. Values are converted straight into the existing parameter storage (as
/// torch `load_state_dict`), so optimizers built on the parameters keep working.
///
/// As torch's batch norm (`_NormBase._load_from_state_dict` for state dicts without version
/// metadata, which safetensors files never carry), a checkpoint without a batch norm's
/// `num_batches_tracked` (older torchvision checkpoints) is not missing that key: the buffer keeps
/// its current value (0 for a model just built).
@discardableResult
public func loadWeights(_ model: Module, from path: String, strict: Bool = true) throws -> LoadReport {
    try loadWeights(model, from: try SafeTensors.open(path), strict: strict)
}

/// `loadWeights(_:from:strict:)` from an opened checkpoint.
@discardableResult
public func loadWeights(_ model: Module, from checkpoint: SafeTensorsCollection, strict: Bool = true) throws -> LoadReport {
    try loadWeights(model, from: checkpoint, strict: strict, op: "load_weights")
}

/// `loadWeights(_:from:strict:)` whose errors begin with `op` (the language builtin's name).
func loadWeights(_ model: Module, from checkpoint: SafeTensorsCollection, strict: Bool, op: String) throws -> LoadReport {
    var report = LoadReport()
    let state = model.namedState()
    let modelKeys = Set(state.map(\.path))
    report.unexpected = checkpoint.names.filter { !modelKeys.contains($0) }
    let available = Set(checkpoint.names)
    let optional = batchesTrackedPaths(model)
    var matched: [(path: String, parameter: Parameter)] = []
    for entry in state {
        guard available.contains(entry.path) else {
            if !optional.contains(entry.path) { report.missing.append(entry.path) }
            continue
        }
        let shape = try checkpoint.info(entry.path).shape
        if shape != entry.parameter.shape {
            report.mismatched.append(.init(key: entry.path, model: entry.parameter.shape, checkpoint: shape))
        } else {
            matched.append(entry)
        }
    }
    if strict && !report.isClean {
        throw LoupeError("\(op): '\(checkpoint.path)' does not match the model: \(report)")
    }
    for (path, parameter) in matched {
        try load(path, from: checkpoint, into: parameter)
        report.loaded.append(path)
    }
    return report
}

/// Paths of the `num_batches_tracked` buffers of the model's batch norms: a checkpoint may lack
/// them (torch fills them in rather than reporting them missing).
func batchesTrackedPaths(_ model: Module) -> Set<String> {
    var paths = Set<String>()
    for (path, module) in model.namedModules() {
        guard let norm = module as? BatchNorm2d else { continue }
        for (name, buffer) in norm.ownBuffers where buffer === norm.batchesTracked {
            paths.insert(path.isEmpty ? name : path + "." + name)
        }
    }
    return paths
}

/// Converts checkpoint tensor `path` straight into the parameter's storage when that is a
/// contiguous tensor of the same shape (keeping autograd leaves and optimizer links, and making
/// no temporary copy); replaces the parameter's value otherwise.
func load(_ path: String, from checkpoint: SafeTensorsCollection, into parameter: Parameter) throws {
    let target = parameter.value
    if target.isContiguous, target.count > 0, target.shape == (try checkpoint.info(path).shape) {
        try checkpoint.read(path, into: target.storage.pointer + target.offset, count: target.count)
    } else {
        assign(try checkpoint.tensor(named: path), to: parameter)
    }
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
/// `loupe.architecture` and `loupe.config` (JSON), so `loadModel(_:)` (the language's `model`) can rebuild it. A model
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
        throw LoupeError("save_model: \(root.typeName) is not a registered architecture (known: \(savableModulesText))")
    }
    var metadata = ["format": "pt", "loupe.architecture": type(of: architecture).architectureName,
                    "loupe.config": try architecture.configurationJSON()]
    if let edited {
        var specs: [String: ModuleSpec] = [:]
        for (path, module) in edited.replacements {
            specs[path] = try ModuleSpec(module, role: "the replacement at '\(path)'")
        }
        metadata["loupe.replacements"] = try encodeReplacements(specs)
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
        throw LoupeError("model: '\(path)' has no loupe.architecture / loupe.config metadata (not saved by save_model; build the model and use load_weights)")
    }
    let classNames = try checkpoint.metadata[ClassNames.metadataKey].map { try ClassNames.decode($0, path: path) }
    try checkArchitecture(name, in: path, architectures)
    var model = try architectures.build(architecture: name, configurationJSON: config)
    if let text = checkpoint.metadata["loupe.replacements"] {
        let specs = try decodeReplacements(text, path: path)
        // Outer paths first, so an edit inside a replacement finds the replacement in place.
        for (key, spec) in specs.sorted(by: { ($0.key.split(separator: ".").count, $0.key) < ($1.key.split(separator: ".").count, $1.key) }) {
            try checkArchitecture(spec.architecture, in: path, architectures)
            model = try replace(model, at: key, with: try spec.build(architectures))
        }
    }
    _ = try loadWeights(model, from: checkpoint, strict: true, op: "model")
    return (model, classNames)
}

/// Throws, naming the file, when `name` is not in the catalog.
private func checkArchitecture(_ name: String, in path: String, _ architectures: ArchitectureCatalog) throws {
    guard architectures.architecture(named: name) != nil else {
        throw LoupeError("model: '\(path)': unknown architecture '\(name)' (known: \(architectures.names.joined(separator: ", ")))")
    }
}

/// The `loupe.replacements` JSON: replaced path -> {architecture, config}. Paths are dictionary
/// keys and stay exactly as they are (no key conversion).
func encodeReplacements(_ specs: [String: ModuleSpec]) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(specs), as: UTF8.self)
}

/// Reads `loupe.replacements` JSON written by `encodeReplacements`.
func decodeReplacements(_ text: String, path: String) throws -> [String: ModuleSpec] {
    do {
        return try JSONDecoder().decode([String: ModuleSpec].self, from: Data(text.utf8))
    } catch {
        throw LoupeError("model: '\(path)': loupe.replacements \(text) is not a map of path to {architecture, config}: \(error)")
    }
}
