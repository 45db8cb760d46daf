import LoupeTensor

/// A model with some of its modules swapped for others: the result of
/// `replace(_:at:with:)`. It owns no weights of its own: the base model's modules and
/// `Parameter` objects are shared, and the replacements are kept in a map by path, so the base
/// model is never changed (its forward and its parameters stay as they were).
///
/// The overlay reports the edited tree: `namedModules`, `module(at:)`, `namedParameters`,
/// `namedBuffers` and `stateDict` list a replacement's entries under its path and the base's
/// elsewhere. In a forward pass the replacement runs where the replaced child would have run,
/// its own children nested under that path, so capture and patch paths work inside it
/// (`blocks.1.fc.input` for a `Linear` put at `blocks.1`).
public final class ReplacedModel: Module {
    /// The original root.
    public let base: Module
    /// Replacement modules by dotted path relative to `base`. A path may lie inside another
    /// replacement (a replacement's child replaced again).
    public let replacements: [String: Module]

    init(base: Module, replacements: [String: Module]) {
        self.base = base
        self.replacements = replacements
        super.init()
        // The base root's own parameters (e.g. a ViT's `pos_embed`) appear at the overlay's root.
        for (name, parameter) in base.ownParameters { registerParameter(name, parameter) }
        for (name, parameter) in base.ownBuffers { registerBuffer(name, parameter) }
        training = base.training
    }

    /// The base model's type (the overlay is the same kind of model, edited).
    public override var typeName: String { base.typeName }

    /// The base model's inputs.
    public override var inputSignature: [InputParameter] { base.inputSignature }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        base.training = training
        return try context.withReplacements(replacements) { try base.forward(inputs: inputs, context: context) }
    }

    /// The base root's children, with replacements at their names.
    public override var children: [(name: String, module: Module)] {
        base.children.map { ($0.name, replacements[$0.name] ?? $0.module) }
    }

    public override func namedModules(prefix: String = "") -> [(path: String, module: Module)] {
        var result: [(path: String, module: Module)] = [(prefix, self)]
        func walk(_ module: Module, _ relative: String) {
            for (name, child) in module.children {
                let path = Module.join(relative, name)
                let resolved = replacements[path] ?? child
                result.append((Module.join(prefix, path), resolved))
                walk(resolved, path)
            }
        }
        walk(base, "")
        return result
    }

    public override func module(at path: String) -> Module? {
        resolve(path)?.last
    }

    /// The modules from the base root down to `path` in the edited tree (the root first), or nil.
    fileprivate func resolve(_ path: String) -> [Module]? {
        var chain: [Module] = [base]
        if path.isEmpty { return chain }
        var relative = ""
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            relative = Module.join(relative, String(part))
            guard let child = chain[chain.count - 1].children.first(where: { $0.name == part })?.module else { return nil }
            chain.append(replacements[relative] ?? child)
        }
        return chain
    }
}

/// Returns a model in which the module at `path` is `replacement`: a persistent edit. The new
/// model shares every other module and `Parameter` object with `model` (which is not changed),
/// and shares the replacement's parameters with `replacement`. Replacing inside an edited model
/// composes (the edits accumulate; replacing a path drops earlier edits inside it). Paths are
/// module paths as listed by `namedModules` (`blocks.3`, `blocks.3.mlp`, `layer2.0.conv1`); an
/// unknown path throws, listing similar ones. `replacement` may itself be an edited model
/// (its edits come along) but may not contain a module that encloses `path` (a cycle).
public func replace(_ model: Module, at path: String, with replacement: Module) throws -> ReplacedModel {
    guard !path.isEmpty else {
        throw LoupeError("replace: the path is empty; to replace the whole model use the new module itself")
    }
    let overlay = model as? ReplacedModel
    let base = overlay?.base ?? model
    var map = overlay?.replacements ?? [:]
    let chain: [Module]
    if let overlay {
        guard let found = overlay.resolve(path) else { throw unknownModulePath(path, in: model) }
        chain = found
    } else {
        var found: [Module] = [model]
        var current = model
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current.children.first(where: { $0.name == part })?.module else {
                throw unknownModulePath(path, in: model)
            }
            found.append(next)
            current = next
        }
        chain = found
    }
    // The modules enclosing `path` must not reappear inside the replacement.
    let enclosing = Set(chain.dropLast().map(ObjectIdentifier.init) + (overlay.map { [ObjectIdentifier($0)] } ?? []))
    var inside = replacement.namedModules()
    if let edited = replacement as? ReplacedModel { inside.append(("", edited.base)) }
    for (inner, module) in inside where enclosing.contains(ObjectIdentifier(module)) {
        let at = inner.isEmpty ? "the replacement itself" : "its module '\(inner)'"
        throw LoupeError("replace: cannot put a module inside itself: \(at) encloses '\(path)'")
    }
    for key in map.keys where key == path || key.hasPrefix(path + ".") { map[key] = nil }
    if let edited = replacement as? ReplacedModel {
        map[path] = edited.base
        for (key, module) in edited.replacements { map[path + "." + key] = module }
    } else {
        map[path] = replacement
    }
    return ReplacedModel(base: base, replacements: map)
}

/// The error for a module path that does not exist, listing the closest module paths.
func unknownModulePath(_ path: String, in model: Module, op: String = "replace") -> LoupeError {
    let paths = model.namedModules().map(\.path).filter { !$0.isEmpty }
    let similar = similarPaths(to: path, among: paths)
    return LoupeError("\(op): no module at path '\(path)' (\(paths.count) module paths exist; closest: \(similar.joined(separator: ", ")))")
}

/// Up to `limit` of `paths` closest to `path`: the longest shared leading segments first, then
/// the smallest edit distance, then tree order.
public func similarPaths(to path: String, among paths: [String], limit: Int = 8) -> [String] {
    let wanted = path.split(separator: ".", omittingEmptySubsequences: false)
    let scored = paths.enumerated().map { index, candidate -> (Int, Int, Int, String) in
        let segments = candidate.split(separator: ".", omittingEmptySubsequences: false)
        var shared = 0
        while shared < min(segments.count, wanted.count) && segments[shared] == wanted[shared] { shared += 1 }
        return (-shared, editDistance(candidate, path), index, candidate)
    }
    return scored.sorted { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }.prefix(limit).map(\.3)
}

/// Levenshtein distance between two strings.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a.utf8), y = Array(b.utf8)
    if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
    var previous = Array(0...y.count)
    var current = previous
    for i in 1...x.count {
        current[0] = i
        for j in 1...y.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[y.count]
}
