import LoupeTensor

/// A mutable list shared by reference (like Python lists).
public final class ListBox: @unchecked Sendable {
    public var items: [Value]
    public init(_ items: [Value]) { self.items = items }
}

/// An ordered record of named values, shared by reference. The values are kept in key order
/// beside the keys; a small record (most are) finds a key by comparing it with each, a larger one
/// through an index by key.
public final class RecordBox: @unchecked Sendable {
    public private(set) var keys: [String] = []
    /// The values, in the order of `keys`.
    private(set) var items: [Value] = []
    /// Each key's position, once the record has more than `indexedCount` keys.
    private var index: [String: Int]? = nil
    private static let indexedCount = 8
    /// The values by key.
    public var values: [String: Value] { Dictionary(uniqueKeysWithValues: zip(keys, items)) }
    public init(_ pairs: [(String, Value)] = []) {
        keys.reserveCapacity(pairs.count)
        items.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }
    /// A record of `keys` (all different) and their values.
    init(distinctKeys keys: [String], items: [Value]) {
        self.keys = keys
        self.items = items
        if keys.count > RecordBox.indexedCount { buildIndex() }
    }
    /// The value of `key`, looked for first at position `hint` (where the caller found the key in
    /// its last record: records made by one literal have their keys in the same order), which is
    /// set to where the key is.
    @inline(__always) func value(_ key: String, hint: inout Int) -> Value? {
        if hint < keys.count, keys[hint] == key { return items[hint] }
        guard let i = position(of: key) else { return nil }
        hint = i
        return items[i]
    }
    /// The position of `key` in `keys`.
    @inline(__always) private func position(of key: String) -> Int? {
        if let index { return index[key] }
        for i in keys.indices where keys[i] == key { return i }
        return nil
    }
    private func buildIndex() {
        index = keys.count > RecordBox.indexedCount ? Dictionary(uniqueKeysWithValues: zip(keys, keys.indices)) : nil
    }
    public subscript(key: String) -> Value? {
        get { position(of: key).map { items[$0] } }
        set {
            if let v = newValue {
                if let i = position(of: key) {
                    items[i] = v
                } else {
                    keys.append(key)
                    items.append(v)
                    if index != nil { index![key] = keys.count - 1 } else if keys.count > RecordBox.indexedCount { buildIndex() }
                }
            } else if let i = position(of: key) {
                keys.remove(at: i)
                items.remove(at: i)
                buildIndex()
            }
        }
    }
    public var count: Int { keys.count }

    /// Checks (and carries out) an assignment from the language before it is stored, e.g. the
    /// write-through of `m.params[path] = t` into the model; nil for a plain record.
    public var assignmentHook: ((String, Value) throws -> Void)?

    /// An assignment from the language (`r.key = v`, `r[key] = v`): the hook first, then the store.
    public func assign(_ key: String, _ value: Value) throws {
        try assignmentHook?(key, value)
        self[key] = value
    }
}

/// A user-defined function with its captured environment (shared, not copied: see `CycleCollector`).
public final class Closure: @unchecked Sendable {
    let decl: FunctionDecl
    let env: Environment
    init(decl: FunctionDecl, env: Environment) { self.decl = decl; self.env = env }
}

/// An opaque object returned by a core (inverse network, generator, ...).
public protocol ScriptHandle: AnyObject {
    /// The type name shown to users.
    var typeName: String { get }
    /// A one-line description.
    var summary: String { get }
    /// The value of `handle.name`, or nil when the handle has no such attribute (methods are
    /// looked up in the builtins table by `typeName`).
    func attribute(_ name: String) throws -> Value?
    /// The attribute names `attribute(_:)` serves, for completion.
    var attributeNames: [String] { get }
    /// The Loupe values the handle stores, traced by the cycle collector (see `CycleCollector`).
    var heldValues: [Value] { get }
}

extension ScriptHandle {
    public func attribute(_ name: String) throws -> Value? { nil }
    public var attributeNames: [String] { [] }
    public var heldValues: [Value] { [] }
}

/// A handle whose values combine with arithmetic operators (objectives add and scale).
public protocol ArithmeticHandle: ScriptHandle {
    /// `lhs op rhs`, where one side is this handle; nil when the operator is not defined for them.
    func binary(_ op: BinaryOperator, _ lhs: Value, _ rhs: Value) throws -> Value?
}

/// A value of the Loupe language.
public enum Value: @unchecked Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case list(ListBox)
    case record(RecordBox)
    /// Boxed: a tensor is five words, and keeping it out of line keeps every value (copied at
    /// every step of the interpreter) three words long.
    indirect case tensor(Tensor)
    case function(Closure)
    case builtin(Builtin)
    indirect case boundMethod(Builtin, Value)
    case handle(ScriptHandle)

    /// A float32 as the number whose text is the float's shortest (0.485, not 0.48500001430511475).
    public static func number(float value: Float) -> Value {
        .number(Double("\(value)") ?? Double(value))
    }

    /// The type name used in messages and by `type(x)`.
    public var typeName: String {
        switch self {
        case .null: return "nil"
        case .bool: return "bool"
        case .number: return "number"
        case .string: return "string"
        case .list: return "list"
        case .record: return "record"
        case .tensor: return "tensor"
        case .function, .builtin, .boundMethod: return "function"
        case .handle(let h): return h.typeName
        }
    }

    /// Truthiness: nil, false, 0, "" and empty lists are false.
    public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .number(let n): return n != 0
        case .string(let s): return !s.isEmpty
        case .list(let l): return !l.items.isEmpty
        default: return true
        }
    }

    /// Short text for string interpolation and `print`: strings without quotes.
    public var text: String {
        if case .string(let s) = self { return s }
        return display
    }

    /// The display form used by the REPL (see Display.swift).
    public var display: String { Display.render(self) }
}

/// Structural equality for `==` (tensors compare by identity of shape and values).
func valuesEqual(_ a: Value, _ b: Value, depth: Int = 0) -> Bool {
    if depth > 64 { return false }
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.list(let x), .list(let y)):
        return x === y || (x.items.count == y.items.count && zip(x.items, y.items).allSatisfy { valuesEqual($0, $1, depth: depth + 1) })
    case (.record(let x), .record(let y)):
        return x === y || (x.keys == y.keys && x.keys.allSatisfy { valuesEqual(x[$0]!, y[$0]!, depth: depth + 1) })
    case (.tensor(let x), .tensor(let y)): return x.shape == y.shape && x.scalars == y.scalars
    case (.function(let x), .function(let y)): return x === y
    case (.builtin(let x), .builtin(let y)): return x.name == y.name
    case (.handle(let x), .handle(let y)): return x === y
    default: return false
    }
}
