import LoupeTensor

/// A node of a model tree. Subclasses register their parameters, buffers and children under the
/// names the reference checkpoints use, so dotted paths (`blocks.3.attn.qkv.weight`,
/// `layer2.0.conv1.weight`, `bn1.running_mean`) match timm / torchvision state dicts.
///
/// Forward passes go through a `ForwardContext` (see `forward(_:context:)`), which records and
/// replaces activations by path.
open class Module {
    private var parameterEntries: [(name: String, parameter: Parameter)] = []
    private var bufferEntries: [(name: String, parameter: Parameter)] = []
    private var childEntries: [(name: String, module: Module)] = []

    /// The module's name in its parent (`""` for a root).
    public fileprivate(set) var localName: String = ""

    /// Whether the module is in training mode (batch norm then uses batch statistics and
    /// updates its running ones). Set it for a whole tree with `setTraining(_:)`.
    public var training = false

    public init() {}

    /// The type name shown by `modules` (defaults to the Swift class name).
    open var typeName: String { String(describing: type(of: self)) }

    /// Runs the module on `input`. Children are run with `context.apply(child, x)` so their
    /// inputs and outputs are recorded and can be patched.
    open func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let signature = inputSignature
        guard signature.count > 1 else { throw LoupeError("\(typeName): this module has no single-input forward") }
        throw LoupeError("\(typeName): takes the inputs (\(signature.map(\.name).joined(separator: ", "))), not one tensor")
    }

    /// The inputs the module's forward takes, in positional order. Most modules take one tensor
    /// (its site is `path.input`); a module with several (a DiT block's `(x, c)`, a DETR decoder
    /// layer's `(tgt, memory, pos, query_pos)`) overrides this and `forward(inputs:context:)`,
    /// and each input it is given is then a site `path.input.name`.
    open var inputSignature: [InputParameter] { [InputParameter("x")] }

    /// Runs the module on named inputs and returns its output, which may be a record. The
    /// default runs the one-tensor `forward(_:context:)`; modules with several inputs or a
    /// record output override this instead.
    open func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        guard inputs.entries.count == 1, case .tensor(let x) = inputs.entries[0].value else {
            let given = inputs.entries.map { "\($0.name): \($0.value.kind)" }.joined(separator: ", ")
            throw LoupeError("\(typeName): takes one tensor input, got (\(given))")
        }
        return .tensor(try forward(x, context: context))
    }

    /// Runs the module as a root (no capture, no patches): `try model(x)`.
    public func callAsFunction(_ input: Tensor) throws -> Tensor {
        try ForwardContext().run(self, input)
    }

    /// Runs the module as a root on named inputs: `try model(inputs: ModuleInputs.bind(...))`.
    public func callAsFunction(inputs: ModuleInputs) throws -> ModuleValue {
        try ForwardContext().run(self, inputs: inputs)
    }

    // MARK: Registration

    /// Registers a learnable parameter named `name` and returns it.
    @discardableResult
    public func registerParameter(_ name: String, _ value: Tensor) -> Parameter {
        let parameter = Parameter(value)
        parameterEntries.append((name, parameter))
        return parameter
    }

    /// Registers an existing parameter object under `name`.
    public func registerParameter(_ name: String, _ parameter: Parameter) {
        parameterEntries.append((name, parameter))
    }

    /// Registers an existing buffer object under `name`.
    public func registerBuffer(_ name: String, _ parameter: Parameter) {
        bufferEntries.append((name, parameter))
    }

    /// Registers a buffer (state that is saved but not trained) named `name` and returns it.
    @discardableResult
    public func registerBuffer(_ name: String, _ value: Tensor) -> Parameter {
        let parameter = Parameter(value)
        bufferEntries.append((name, parameter))
        return parameter
    }

    /// Registers `module` as the child `name` and returns it. A module registered in a second
    /// parent (an existing module put in a new `Sequential`) keeps its first name, so the first
    /// tree's paths do not change.
    @discardableResult
    public func registerModule<M: Module>(_ name: String, _ module: M) -> M {
        if module.localName.isEmpty { module.localName = name }
        childEntries.append((name, module))
        return module
    }

    /// Switches every module of the tree between training and evaluation mode.
    public func setTraining(_ training: Bool) {
        for (_, module) in namedModules() { module.training = training }
    }

    // MARK: The tree

    /// Direct children in registration order.
    open var children: [(name: String, module: Module)] { childEntries }

    /// Parameters registered on this module itself (not its children), in registration order.
    public var ownParameters: [(name: String, parameter: Parameter)] { parameterEntries }

    /// Buffers registered on this module itself, in registration order.
    public var ownBuffers: [(name: String, parameter: Parameter)] { bufferEntries }

    /// Every module of the tree with its dotted path (`""` for this one) and type name, in
    /// depth-first registration order.
    public var modules: [(path: String, typeName: String)] {
        namedModules().map { ($0.path, $0.module.typeName) }
    }

    /// Every module of the tree with its dotted path, depth first. Every walk of the tree goes
    /// through here (parameters, buffers, summaries), so an overlay such as `ReplacedModel`
    /// overrides it to report its edited tree.
    open func namedModules(prefix: String = "") -> [(path: String, module: Module)] {
        var result: [(path: String, module: Module)] = [(prefix, self)]
        for (name, child) in childEntries {
            result += child.namedModules(prefix: Module.join(prefix, name))
        }
        return result
    }

    /// The module at dotted `path` (`""` is this module), or nil.
    open func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        var current: Module = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard let next = current.childEntries.first(where: { $0.name == part })?.module else { return nil }
            current = next
        }
        return current
    }

    /// Learnable parameters by dotted path, in registration order.
    public func namedParameters() -> [(path: String, parameter: Parameter)] {
        namedModules().flatMap { path, module in
            module.ownParameters.map { (Module.join(path, $0.name), $0.parameter) }
        }
    }

    /// Buffers by dotted path, in registration order.
    public func namedBuffers() -> [(path: String, parameter: Parameter)] {
        namedModules().flatMap { path, module in
            module.ownBuffers.map { (Module.join(path, $0.name), $0.parameter) }
        }
    }

    /// Parameters and buffers by dotted path (what a checkpoint stores).
    public func namedState() -> [(path: String, parameter: Parameter)] {
        namedParameters() + namedBuffers()
    }

    /// Parameters and buffers by dotted path, detached from autograd.
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedState().map { ($0.path, $0.parameter.value.detached()) }, uniquingKeysWith: { a, _ in a })
    }

    /// The number of learnable scalars.
    public var parameterCount: Int { namedParameters().reduce(0) { $0 + $1.parameter.value.count } }

    /// The learnable parameters as tensors. With `trainable`, each becomes an autograd leaf
    /// (`requiringGrad()`, sharing storage) stored back into its module, so a forward pass
    /// builds a tape to them and an optimizer built on the returned tensors updates the model
    /// in place. Without it, parameters are detached (inference).
    @discardableResult
    public func parameters(trainable: Bool) -> [Tensor] {
        namedParameters().map { _, parameter in
            let value = trainable ? (parameter.value.requiresGrad ? parameter.value : parameter.value.requiringGrad())
                                  : parameter.value.detached()
            parameter.value = value
            return value
        }
    }

    static func join(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : prefix + "." + name
    }
}
