import Foundation
import LoupeTensor

/// A parameter of a builtin, parsed from its signature text.
public struct BuiltinParam: Sendable {
    public var name: String
    public var defaultValue: Value?
    public var variadic: Bool
}

/// A builtin function: its signature (e.g. `"zeros(*shape)"`, `"mean(x, axis: nil)"`), a
/// one-paragraph doc, the value type it is also a method of, and its body.
public final class Builtin: @unchecked Sendable {
    public let name: String
    public let signature: String
    public let doc: String
    public let params: [BuiltinParam]
    /// The type name (`"tensor"`, `"list"`, ...) whose values get this builtin as a method.
    public let methodOf: String?
    /// The method name when it differs from the builtin's name (`amax` is `x.max()`).
    public let methodName: String?
    let body: (inout Arguments) throws -> Value

    /// Declares a builtin. The signature's defaults are literals (`nil`, numbers, strings, booleans).
    public init(_ signature: String, methodOf: String? = nil, methodName: String? = nil, _ doc: String,
                _ body: @escaping (inout Arguments) throws -> Value) {
        self.signature = signature
        self.methodName = methodName
        self.doc = doc
        self.methodOf = methodOf
        self.body = body
        let open = signature.firstIndex(of: "(") ?? signature.endIndex
        name = String(signature[..<open])
        var params: [BuiltinParam] = []
        if open < signature.endIndex {
            let inner = signature[signature.index(after: open)..<(signature.lastIndex(of: ")") ?? signature.endIndex)]
            for raw in inner.split(separator: ",") {
                var p = raw.trimmingCharacters(in: .whitespaces)
                if p.isEmpty { continue }
                var variadic = false
                if p.hasPrefix("*") { variadic = true; p.removeFirst() }
                var def: Value? = nil
                if let colon = p.firstIndex(of: ":") {
                    let literal = p[p.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    def = Builtin.literal(literal)
                    p = String(p[..<colon]).trimmingCharacters(in: .whitespaces)
                }
                params.append(BuiltinParam(name: p, defaultValue: def, variadic: variadic))
            }
        }
        self.params = params
    }

    private static func literal(_ text: String) -> Value {
        if text == "nil" { return .null }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let n = Double(text) { return .number(n) }
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { return .string(String(text.dropFirst().dropLast())) }
        return .null
    }

    /// Binds positional and named arguments to parameters, checking names and counts.
    func bind(_ positional: [Value], _ named: [(String, Value)], interpreter: Interpreter) throws -> Arguments {
        var slots = [Value?](repeating: nil, count: params.count)
        var rest: [Value] = []
        var k = 0
        for value in positional {
            if k < params.count && !params[k].variadic {
                slots[k] = value; k += 1
            } else if k < params.count && params[k].variadic {
                rest.append(value)
            } else {
                throw LoupeError("\(name): too many arguments (takes \(params.filter { !$0.variadic }.count)): \(signature)")
            }
        }
        if let v = params.firstIndex(where: { $0.variadic }) { slots[v] = .list(ListBox(rest)) }
        for (label, value) in named {
            guard let j = params.firstIndex(where: { $0.name == label && !$0.variadic }) else {
                let names = params.filter { !$0.variadic }.map(\.name).joined(separator: ", ")
                throw LoupeError("\(name): unknown argument '\(label)' (parameters: \(names.isEmpty ? "none" : names))")
            }
            if slots[j] != nil { throw LoupeError("\(name): argument '\(label)' given twice") }
            slots[j] = value
        }
        for (j, p) in params.enumerated() where slots[j] == nil {
            guard let d = p.defaultValue else {
                throw LoupeError("\(name): missing argument '\(p.name)': \(signature)")
            }
            slots[j] = d
        }
        return Arguments(builtin: self, values: slots.map { $0! }, interpreter: interpreter)
    }
}

/// The bound arguments of a builtin call, with typed accessors whose errors name the builtin
/// and parameter.
public struct Arguments {
    public let builtin: Builtin
    public var values: [Value]
    public let interpreter: Interpreter

    public subscript(_ i: Int) -> Value { values[i] }

    func typeError(_ i: Int, _ expected: String) -> LoupeError {
        LoupeError("\(builtin.name): argument '\(builtin.params[i].name)' must be \(expected), got \(values[i].typeName)")
    }

    public func isNil(_ i: Int) -> Bool { if case .null = values[i] { return true }; return false }

    public func number(_ i: Int) throws -> Double {
        switch values[i] {
        case .number(let n): return n
        case .bool(let b): return b ? 1 : 0
        case .tensor(let t) where t.count == 1: return Double(try t.item())
        default: throw typeError(i, "a number")
        }
    }

    public func int(_ i: Int) throws -> Int {
        let n = try number(i)
        guard n.isFinite, n == n.rounded(), abs(n) < 1e15 else {
            throw LoupeError("\(builtin.name): argument '\(builtin.params[i].name)' must be an integer, got \(Value.number(n).display)")
        }
        return Int(n)
    }

    public func string(_ i: Int) throws -> String {
        guard case .string(let s) = values[i] else { throw typeError(i, "a string") }
        return s
    }

    public func bool(_ i: Int) throws -> Bool {
        guard case .bool(let b) = values[i] else { throw typeError(i, "true or false") }
        return b
    }

    public func list(_ i: Int) throws -> ListBox {
        guard case .list(let l) = values[i] else { throw typeError(i, "a list") }
        return l
    }

    public func record(_ i: Int) throws -> RecordBox {
        guard case .record(let r) = values[i] else { throw typeError(i, "a record") }
        return r
    }

    /// A tensor; numbers become rank-0 tensors and lists of numbers become tensors.
    public func tensor(_ i: Int) throws -> Tensor {
        switch values[i] {
        case .tensor(let t): return t
        case .number(let n): return Tensor(Float(n))
        case .list(let l):
            do { return try tensorFromList(l) } catch let e as LoupeError {
                throw LoupeError("\(builtin.name): argument '\(builtin.params[i].name)': \(e.message)")
            }
        default: throw typeError(i, "a tensor")
        }
    }

    /// A list of integers: a list, a variadic list, or a single integer.
    public func ints(_ i: Int) throws -> [Int] {
        var items: [Value]
        switch values[i] {
        case .list(let l): items = l.items
        case .number: items = [values[i]]
        default: throw typeError(i, "a list of integers")
        }
        if items.count == 1, case .list(let inner) = items[0] { items = inner.items }
        return try items.map { v in
            guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e15 else {
                throw LoupeError("\(builtin.name): argument '\(builtin.params[i].name)' must be a list of integers, got \(v.display)")
            }
            return Int(n)
        }
    }

    /// A callable value.
    public func float(_ i: Int) throws -> Float { Float(try number(i)) }

    /// Axes: nil (all), one integer, or a list of integers.
    public func axes(_ i: Int) throws -> [Int]? {
        if isNil(i) { return nil }
        return try ints(i)
    }

    /// An optional tensor (nil stays nil).
    public func optionalTensor(_ i: Int) throws -> Tensor? { isNil(i) ? nil : try tensor(i) }

    /// An optional integer (nil stays nil).
    public func optionalInt(_ i: Int) throws -> Int? { isNil(i) ? nil : try int(i) }

    /// A list of tensors (or one tensor).
    public func tensors(_ i: Int) throws -> [Tensor] {
        switch values[i] {
        case .tensor(let t): return [t]
        case .list(let l):
            return try l.items.map {
                guard case .tensor(let t) = $0 else { throw LoupeError("\(builtin.name): argument '\(builtin.params[i].name)' must be a list of tensors, got an item of type \($0.typeName)") }
                return t
            }
        default: throw typeError(i, "a list of tensors")
        }
    }

    /// One of a fixed set of strings.
    public func choice(_ i: Int, _ options: [String]) throws -> String {
        let s = try string(i)
        guard options.contains(s) else {
            throw LoupeError("\(builtin.name): argument '\(builtin.params[i].name)' must be one of \(options.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(s)\"")
        }
        return s
    }

    public func callable(_ i: Int) throws -> Value {
        switch values[i] {
        case .function, .builtin, .boundMethod: return values[i]
        default: throw typeError(i, "a function")
        }
    }
}

/// Converts a (nested) list of numbers to a tensor, checking that it is rectangular.
func tensorFromList(_ list: ListBox) throws -> Tensor {
    var shape: [Int] = []
    var probe: Value = .list(list)
    while case .list(let l) = probe {
        shape.append(l.items.count)
        guard let first = l.items.first else { break }
        probe = first
    }
    var scalars: [Float] = []
    func walk(_ v: Value, _ depth: Int) throws {
        if depth == shape.count {
            switch v {
            case .number(let n): scalars.append(Float(n))
            case .bool(let b): scalars.append(b ? 1 : 0)
            case .tensor(let t) where t.count == 1: scalars.append(try t.item())
            default: throw LoupeError("tensor: expected a number, got \(v.typeName)")
            }
            return
        }
        guard case .list(let l) = v, l.items.count == shape[depth] else {
            throw LoupeError("tensor: nested lists are not rectangular (expected shape \(describe(shape: shape)))")
        }
        for item in l.items { try walk(item, depth + 1) }
    }
    try walk(.list(list), 0)
    return try Tensor(shape: shape, scalars: scalars)
}
