import LoupeTensor

/// A value that flows into or out of a module: a tensor, a number (a setting such as a
/// truncation factor), or an ordered record or list of values (DETR's
/// `{pred_logits, pred_boxes, aux_outputs: [...]}`).
///
/// Every tensor inside a value is an activation site: a record field at `site.key`, a list item
/// at `site.index` (`output.aux_outputs.0.pred_boxes`).
public indirect enum ModuleValue {
    case tensor(Tensor)
    case number(Double)
    case record([(key: String, value: ModuleValue)])
    case list([ModuleValue])

    /// The tensor, or a thrown error naming `role` and what the value is instead.
    public func tensor(_ role: @autoclosure () -> String) throws -> Tensor {
        guard case .tensor(let t) = self else { throw LoupeError("\(role()) must be a tensor, got \(kind)") }
        return t
    }

    /// The field `key` of a record value, or nil.
    public subscript(key: String) -> ModuleValue? {
        guard case .record(let fields) = self else { return nil }
        return fields.first { $0.key == key }?.value
    }

    /// What the value is, for messages: `tensor [2, 8]`, `number`, `record {logits, boxes}`, `list of 3`.
    public var kind: String {
        switch self {
        case .tensor(let t): return "tensor \(describe(shape: t.shape))"
        case .number: return "number"
        case .record(let fields): return "record {\(fields.map(\.key).joined(separator: ", "))}"
        case .list(let items): return "list of \(items.count)"
        }
    }

    /// The same value with every tensor detached from autograd.
    public func detached() -> ModuleValue {
        switch self {
        case .tensor(let t): return .tensor(t.detached())
        case .number: return self
        case .record(let fields): return .record(fields.map { ($0.key, $0.value.detached()) })
        case .list(let items): return .list(items.map { $0.detached() })
        }
    }

    /// Every tensor inside the value with its path below `prefix`, in order.
    public func leaves(prefix: String) -> [(path: String, tensor: Tensor)] {
        switch self {
        case .tensor(let t): return [(prefix, t)]
        case .number: return []
        case .record(let fields): return fields.flatMap { $0.value.leaves(prefix: Module.join(prefix, $0.key)) }
        case .list(let items): return items.enumerated().flatMap { $1.leaves(prefix: Module.join(prefix, String($0))) }
        }
    }
}

/// One input a module's forward takes: its name (the keyword in `m(x, t: t)` and the last
/// segment of its site `path.input.name`) and whether it may be left out.
public struct InputParameter: Sendable, Equatable {
    public var name: String
    public var isOptional: Bool

    public init(_ name: String, optional: Bool = false) {
        self.name = name
        self.isOptional = optional
    }
}

/// The named inputs of one forward call, in the module's declared order (optional inputs that
/// were not given are absent).
public struct ModuleInputs {
    /// The given inputs, in the order of the module's `inputSignature`.
    public private(set) var entries: [(name: String, value: ModuleValue)]

    /// Inputs exactly as given (no checking against a signature).
    public init(_ entries: [(name: String, value: ModuleValue)]) {
        self.entries = entries
    }

    /// A single tensor input named `name`.
    public init(single tensor: Tensor, name: String = "x") {
        entries = [(name, .tensor(tensor))]
    }

    /// Binds positional and named arguments to `signature` (as a Python call does): positional
    /// ones fill the inputs in order, named ones by name. Unknown names, inputs given twice,
    /// too many positional arguments and missing required inputs throw, naming `callee`.
    public static func bind(_ positional: [ModuleValue], _ named: [(String, ModuleValue)],
                            to signature: [InputParameter], callee: String) throws -> ModuleInputs {
        var slots = [ModuleValue?](repeating: nil, count: signature.count)
        let names = signature.map(\.name).joined(separator: ", ")
        guard positional.count <= signature.count else {
            throw LoupeError("\(callee): takes \(signature.count) input\(signature.count == 1 ? "" : "s") (\(names)), got \(positional.count) positional arguments")
        }
        for (i, value) in positional.enumerated() { slots[i] = value }
        for (name, value) in named {
            guard let i = signature.firstIndex(where: { $0.name == name }) else {
                throw LoupeError("\(callee): no input named '\(name)' (inputs: \(names))")
            }
            guard slots[i] == nil else { throw LoupeError("\(callee): input '\(name)' given twice") }
            slots[i] = value
        }
        var entries: [(name: String, value: ModuleValue)] = []
        for (parameter, slot) in zip(signature, slots) {
            if let slot { entries.append((parameter.name, slot)) }
            else if !parameter.isOptional { throw LoupeError("\(callee): missing input '\(parameter.name)' (inputs: \(names))") }
        }
        return ModuleInputs(entries)
    }

    /// The input `name`, or nil when it was not given.
    public subscript(name: String) -> ModuleValue? {
        entries.first { $0.name == name }?.value
    }

    /// The tensor input `name`; throws when it is missing or not a tensor.
    public func tensor(_ name: String) throws -> Tensor {
        guard let value = self[name] else { throw LoupeError("missing input '\(name)'") }
        return try value.tensor("input '\(name)'")
    }

    /// The tensor input `name`, or nil when it was not given.
    public func optionalTensor(_ name: String) throws -> Tensor? {
        guard let value = self[name] else { return nil }
        return try value.tensor("input '\(name)'")
    }

    /// The number input `name`, or `defaultValue` when it was not given.
    public func number(_ name: String, default defaultValue: Double) throws -> Double {
        guard let value = self[name] else { return defaultValue }
        switch value {
        case .number(let n): return n
        case .tensor(let t) where t.count == 1: return Double(try t.item())
        default: throw LoupeError("input '\(name)' must be a number, got \(value.kind)")
        }
    }

    /// Replaces the value of an input that was given.
    mutating func set(_ index: Int, _ value: ModuleValue) {
        entries[index].value = value
    }
}
