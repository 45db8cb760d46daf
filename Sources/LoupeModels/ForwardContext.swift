import LoupeTensor

/// A replacement for one activation in a forward pass.
public enum Patch {
    /// Use this tensor (broadcast to the activation's shape).
    case tensor(Tensor)
    /// Compute the replacement from the original activation (same shape).
    case transform((Tensor) throws -> Tensor)
    /// Like `transform`, also given the activation's path (for `*` patterns).
    case transformWithPath((String, Tensor) throws -> Tensor)

    /// Replaces the activation with zeros.
    public static var zeros: Patch { .transform { try Tensor.zeros($0.shape) } }
}

/// The state of one forward pass: the current module path, the activations to record and the
/// patches to apply. Every named activation goes through `site(_:_:)` (or `apply(_:_:)` for a
/// child module's input and output), which replaces it when a patch targets its path and records
/// it when a capture pattern matches.
///
/// Paths are dotted like parameter paths: a module's output is recorded at its path
/// (`blocks.0.attn`), its input at `path.input`, named intermediate values at `path.name`
/// (`blocks.0.attn.probs`). The root's input and output are `input` and `output`. A module with
/// several inputs has one site per input, `path.input.name` (`blocks.0.input.c`), and a record
/// output has one per field, `path.key` (`output.pred_boxes`, `output.aux_outputs.0.pred_logits`);
/// a pattern that matches the record itself (`output`, `blocks.0.input`) captures all of it. In a capture
/// or patch path, `*` matches one segment (`blocks.*.resid_mlp`) and `**` any number
/// (`blocks.0.**`, or `**` for everything).
public final class ForwardContext {
    private var pathStack: [String] = [""]
    private let captureAll: Bool
    private let capturePatterns: [(text: String, parts: [Substring])]
    private let patchList: [(text: String, parts: [Substring], patch: Patch)]
    private let differentiable: Bool
    private var matchedCaptures = Set<String>()
    /// Modules that run in place of the child at a path (`ReplacedModel`), by absolute path.
    private var replacements: [String: Module] = [:]
    private var usedPatches = Set<String>()

    /// The root's inputs as the model received them (after any patch at `input`), set when
    /// `run` starts: a module that needs the model's input (a skip connection from the image,
    /// as a fooling circuit's detector) reads it here.
    public private(set) var rootInputs: ModuleInputs?

    /// Activations recorded so far, by path.
    public private(set) var activations: [String: Tensor] = [:]
    /// Every activation path visited, in order.
    public private(set) var visitedPaths: [String] = []

    /// A context that records the activations whose paths match `capture` (every activation
    /// with `captureAll`) and applies `patches`. With `differentiable`, a recorded activation
    /// that does not yet require a gradient becomes an autograd leaf, so gradients with respect
    /// to it can be taken with `Autograd.gradients(of:wrt:)`.
    public init(capture: [String] = [], captureAll: Bool = false, patches: [String: Patch] = [:],
                differentiable: Bool = false) {
        self.captureAll = captureAll
        self.capturePatterns = capture.map { ($0, $0.split(separator: ".", omittingEmptySubsequences: false)) }
        self.patchList = patches.keys.sorted().map { ($0, $0.split(separator: ".", omittingEmptySubsequences: false), patches[$0]!) }
        self.differentiable = differentiable
    }

    /// The dotted path of the module currently running (`""` at the root).
    public var currentPath: String { pathStack[pathStack.count - 1] }

    /// Passes the activation `name` of the current module through: applies a patch that targets
    /// its path, records it if captured, and returns the (possibly replaced) value.
    public func site(_ name: String, _ value: Tensor) throws -> Tensor {
        try visit(Module.join(currentPath, name), value, capturedAbove: false)
    }

    /// Runs `module` (a registered child of the running module) on `input`, with its input
    /// and output as sites `path.input` and `path`.
    /// When a replacement is installed at that path (`withReplacements`), the replacement runs
    /// instead, its own children nested under the same path.
    public func apply(_ module: Module, _ input: Tensor) throws -> Tensor {
        try apply(module, named: module.localName, input)
    }

    /// `apply(_:_:)` for a child registered as `name` (a module shared by several parents, as
    /// in a `Sequential` built from existing modules, keeps the name of its first parent).
    public func apply(_ module: Module, named name: String, _ input: Tensor) throws -> Tensor {
        let inputs = ModuleInputs(single: input, name: module.inputSignature.first?.name ?? "x")
        let output = try apply(module, named: name, inputs: inputs)
        return try Self.tensorOutput(output, of: module, at: Module.join(currentPath, name))
    }

    /// Runs the child `module` on named inputs (a module with several inputs, or a record output).
    /// A module whose signature has one input has the site `path.input`; one with several has a
    /// site `path.input.name` for each input given (and `path.input` for all of them together).
    /// A record output's fields are sites `path.key`.
    public func apply(_ module: Module, named name: String? = nil, inputs: ModuleInputs) throws -> ModuleValue {
        let path = Module.join(currentPath, name ?? module.localName)
        pathStack.append(path)
        defer { pathStack.removeLast() }
        let visited = try visitInputs(inputs, at: path + ".input", single: module.inputSignature.count == 1)
        let runner = replacements.isEmpty ? module : (replacements[path] ?? module)
        let output = try runner.forward(inputs: visited, context: self)
        return try visit(path, output)
    }

    /// Runs `body` with `modules` installed in place of the children at their paths (relative
    /// to the current path); used by `ReplacedModel.forward`.
    public func withReplacements<R>(_ modules: [String: Module], _ body: () throws -> R) throws -> R {
        let saved = replacements
        defer { replacements = saved }
        for (path, module) in modules { replacements[Module.join(currentPath, path)] = module }
        return try body()
    }

    /// Runs a root module: its input and output are the sites `input` and `output`.
    public func run(_ model: Module, _ input: Tensor) throws -> Tensor {
        let inputs = ModuleInputs(single: input, name: model.inputSignature.first?.name ?? "x")
        return try Self.tensorOutput(try run(model, inputs: inputs), of: model, at: "output")
    }

    /// Runs a root module on named inputs: with one input in its signature the input is the site
    /// `input`, with several each is `input.name`; the output is `output` (a record's fields
    /// `output.key`).
    public func run(_ model: Module, inputs: ModuleInputs) throws -> ModuleValue {
        let visited = try visitInputs(inputs, at: "input", single: model.inputSignature.count == 1)
        let saved = rootInputs
        rootInputs = visited
        defer { rootInputs = saved }
        let output = try model.forward(inputs: visited, context: self)
        return try visit("output", output)
    }

    /// Passes a record or list value of the current module through (each tensor inside it is a
    /// site below `name`).
    public func site(_ name: String, _ value: ModuleValue) throws -> ModuleValue {
        try visit(Module.join(currentPath, name), value)
    }

    /// The tensor of an output that callers of the one-tensor API need.
    static func tensorOutput(_ output: ModuleValue, of module: Module, at path: String) throws -> Tensor {
        guard case .tensor(let t) = output else {
            throw LoupeError("\(module.typeName) at '\(path)' returns a \(output.kind), not a tensor: run it with its named inputs to get the record")
        }
        return t
    }

    private func visitInputs(_ inputs: ModuleInputs, at path: String, single: Bool) throws -> ModuleInputs {
        if single, inputs.entries.count == 1 {
            var result = inputs
            result.set(0, try visit(path, inputs.entries[0].value))
            return result
        }
        guard case .record(let fields) = try visit(path, .record(inputs.entries.map { ($0.name, $0.value) })) else {
            return inputs
        }
        return ModuleInputs(fields.map { ($0.key, $0.value) })
    }

    /// Throws if a capture pattern or patch matched no activation (a misspelt path), naming it
    /// and listing similar paths.
    public func checkAllPathsUsed(op: String) throws {
        for pattern in capturePatterns where !matchedCaptures.contains(pattern.text) {
            throw unknownPath(pattern.text, op: op)
        }
        for patch in patchList where !usedPatches.contains(patch.text) {
            throw unknownPath(patch.text, op: op)
        }
    }

    private func unknownPath(_ path: String, op: String) -> LoupeError {
        let first = path.split(separator: ".").first.map(String.init) ?? ""
        var similar = visitedPaths.filter { $0.split(separator: ".").first.map(String.init) == first }
        if similar.isEmpty { similar = visitedPaths.filter { !$0.contains(".") } }
        let shown = similar.prefix(12).joined(separator: ", ")
        return LoupeError("\(op): no activation at path '\(path)' (\(visitedPaths.count) paths exist; e.g. \(shown))")
    }

    /// Pattern matching on dotted paths: `*` matches one segment except the input sites'
    /// `input` (so `blocks.*` is the block outputs; write `blocks.*.input` for their inputs), and
    /// `**` matches any number of segments, inputs included.
    private static func matches(_ parts: [Substring], _ path: String) -> Bool {
        let segments = path.split(separator: ".", omittingEmptySubsequences: false)
        if !parts.contains("**") {
            guard segments.count == parts.count else { return false }
            for (p, s) in zip(parts, segments) where !segmentMatches(p, s) { return false }
            return true
        }
        return matches(parts[...], segments[...])
    }

    private static func segmentMatches(_ part: Substring, _ segment: Substring) -> Bool {
        part == "*" ? segment != "input" : part == segment
    }

    private static func matches(_ parts: ArraySlice<Substring>, _ segments: ArraySlice<Substring>) -> Bool {
        guard let first = parts.first else { return segments.isEmpty }
        if first == "**" {
            var rest = segments
            while true {
                if matches(parts.dropFirst(), rest) { return true }
                guard !rest.isEmpty else { return false }
                rest = rest.dropFirst()
            }
        }
        guard let segment = segments.first, segmentMatches(first, segment) else { return false }
        return matches(parts.dropFirst(), segments.dropFirst())
    }

    /// Passes every tensor of a value through its site. A record or list is itself a site: a
    /// capture pattern that matches it records every tensor inside; a patch must name the tensors.
    private func visit(_ path: String, _ value: ModuleValue, capturedAbove: Bool = false) throws -> ModuleValue {
        switch value {
        case .tensor(let t):
            return .tensor(try visit(path, t, capturedAbove: capturedAbove))
        case .number:
            return value
        case .record, .list:
            visitedPaths.append(path)
            for entry in patchList where Self.matches(entry.parts, path) && !entry.text.contains("*") {
                throw LoupeError("patch: '\(path)' is a \(value.kind); patch the tensors inside it (\(value.leaves(prefix: path).prefix(4).map(\.path).joined(separator: ", ")))")
            }
            var captured = capturedAbove || captureAll
            for pattern in capturePatterns where Self.matches(pattern.parts, path) {
                matchedCaptures.insert(pattern.text)
                captured = true
            }
            if case .record(let fields) = value {
                return .record(try fields.map { ($0.key, try visit(Module.join(path, $0.key), $0.value, capturedAbove: captured)) })
            }
            guard case .list(let items) = value else { return value }
            return .list(try items.enumerated().map { try visit(Module.join(path, String($0)), $1, capturedAbove: captured) })
        }
    }

    private func visit(_ path: String, _ value: Tensor, capturedAbove: Bool = false) throws -> Tensor {
        visitedPaths.append(path)
        var result = value
        for entry in patchList where Self.matches(entry.parts, path) {
            usedPatches.insert(entry.text)
            result = try replace(result, with: entry.patch, path: path)
        }
        var wanted = captureAll || capturedAbove
        for pattern in capturePatterns where Self.matches(pattern.parts, path) {
            matchedCaptures.insert(pattern.text)
            wanted = true
        }
        if wanted {
            if differentiable, GradMode.isEnabled {
                // Each captured site gets a node of its own, so the gradient at a site counts only
                // what flows through it (one tensor can reach several sites: a conditioning
                // vector fed to two layers is `block.input.c`, `block.scale.input` and
                // `block.shift.input`).
                let value = result
                result = result.requiresGrad ? Tensor.record(value.detached(), op: "site", inputs: [value]) { [$0] }
                                             : result.requiringGrad()
            }
            activations[path] = result
        }
        return result
    }

    private func replace(_ value: Tensor, with patch: Patch, path: String) throws -> Tensor {
        switch patch {
        case let .tensor(replacement):
            guard (try? Tensor.broadcastShape(replacement.shape, value.shape, op: "patch")) == value.shape else {
                throw LoupeError("patch: replacement \(describe(shape: replacement.shape)) for '\(path)' does not broadcast to the activation's shape \(describe(shape: value.shape))")
            }
            return replacement.shape == value.shape ? replacement : try replacement.expanded(to: value.shape)
        case let .transform(body):
            return try checked(try body(value), value, path: path)
        case let .transformWithPath(body):
            return try checked(try body(path, value), value, path: path)
        }
    }

    private func checked(_ replacement: Tensor, _ value: Tensor, path: String) throws -> Tensor {
        guard replacement.shape == value.shape else {
            throw LoupeError("patch: transform for '\(path)' returned \(describe(shape: replacement.shape)), expected the activation's shape \(describe(shape: value.shape))")
        }
        return replacement
    }
}
