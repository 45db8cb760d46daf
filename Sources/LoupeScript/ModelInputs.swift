import LoupeModels
import LoupeTensor

/// Values crossing between the language and modules with several inputs or record outputs:
/// `m(x, t: t, y: y)`, `capture(m, {x: x, c: c}, paths)`, `out.pred_boxes`.
extension ModelHandle {
    /// The inputs of a call `m(positional..., name: value...)`, bound to the module's input
    /// signature. A single image input is batched as `batched(_:op:)` does.
    func inputs(positional: [Value], named: [(String, Value)], op: String) throws -> ModuleInputs {
        let signature = module.inputSignature
        if signature.count == 1, positional.count == 1, named.isEmpty, case .tensor(let x) = positional[0] {
            return ModuleInputs(single: try batched(x, op: op), name: signature[0].name)
        }
        var bound = try ModuleInputs.bind(try positional.map { try ModelHandle.moduleValue($0, role: "\(op): an input") },
                                          try named.map { ($0.0, try ModelHandle.moduleValue($0.1, role: "\(op): input '\($0.0)'")) },
                                          to: signature, callee: op)
        // A whole image model's image input (its first, as DETR's `x` beside its `mask`) is batched too.
        if imageInput != nil, let first = signature.first, let index = bound.entries.firstIndex(where: { $0.name == first.name }),
           case .tensor(let x) = bound.entries[index].value {
            var entries = bound.entries
            entries[index].value = .tensor(try batched(x, op: op))
            bound = ModuleInputs(entries)
        }
        return bound
    }

    /// The inputs given to a builtin as one value: a tensor (the model's one input) or a record
    /// of named inputs (`{x: x, c: c}`) for a model with several.
    func inputs(_ value: Value, op: String) throws -> ModuleInputs {
        if case .record(let record) = value {
            return try inputs(positional: [], named: record.keys.map { ($0, record[$0] ?? .null) }, op: op)
        }
        guard case .tensor = value else {
            let names = module.inputSignature.map(\.name)
            let expected = names.count == 1 ? "a tensor" : "a tensor or a record of inputs {\(names.joined(separator: ", "))}"
            throw LoupeError("\(op): the input must be \(expected), got \(value.typeName)")
        }
        return try inputs(positional: [value], named: [], op: op)
    }

    /// A language value as a module value: tensors, numbers (booleans as 0 and 1), and lists and
    /// records of those.
    static func moduleValue(_ value: Value, role: String) throws -> ModuleValue {
        switch value {
        case .tensor(let t): return .tensor(t)
        case .number(let n): return .number(n)
        case .bool(let b): return .number(b ? 1 : 0)
        case .list(let l): return .list(try l.items.enumerated().map { try moduleValue($1, role: "\(role)[\($0)]") })
        case .record(let r): return .record(try r.keys.map { ($0, try moduleValue(r[$0] ?? .null, role: "\(role).\($0)")) })
        default: throw LoupeError("\(role) must be a tensor, a number, or a list or record of them, got \(value.typeName)")
        }
    }

    /// A module value as a language value (records stay ordered).
    static func value(of moduleValue: ModuleValue) -> Value {
        switch moduleValue {
        case .tensor(let t): return .tensor(t)
        case .number(let n): return .number(n)
        case .list(let items): return .list(ListBox(items.map(value(of:))))
        case .record(let fields): return .record(RecordBox(fields.map { ($0.key, value(of: $0.value)) }))
        }
    }
}
