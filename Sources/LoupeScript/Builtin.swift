import Foundation
import LoupeTensor

/// A parameter of a builtin, parsed from its signature text.
public struct BuiltinParam: Sendable {
    public var name: String
    public var defaultValue: Value?
    public var variadic: Bool
}

/// A builtin function: its signature (e.g. `"zeros(*shape)"`, `"mean(x, axis: nil)"`), a
/// one-paragraph doc, the value type it is also a method of, and its body. The body reads its
/// arguments by parameter name (`a.int("axis")`).
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
    /// Parameter indices by name, resolved once here so argument lookups by name are cheap.
    let indexByName: [String: Int]
    /// The parameters' names in order (a short list is searched faster than hashed).
    let paramNames: [String]
    /// Whether a parameter collects the remaining positional arguments (`*shape`).
    let hasVariadic: Bool
    /// For a name several cores declare as methods of different types (`split` of strings and of
    /// tensors): the builtin of each receiver type; the free function picks by its first argument.
    public let overloads: [String: Builtin]

    /// Declares a builtin. The signature's defaults are literals (`nil`, numbers, strings, booleans).
    public init(_ signature: String, methodOf: String? = nil, methodName: String? = nil, _ doc: String,
                _ body: @escaping (inout Arguments) throws -> Value) {
        self.signature = signature
        self.methodName = methodName
        self.doc = doc
        self.methodOf = methodOf
        self.body = body
        overloads = [:]
        let open = signature.firstIndex(of: "(") ?? signature.endIndex
        name = String(signature[..<open])
        var params: [BuiltinParam] = []
        if open < signature.endIndex {
            let inner = signature[signature.index(after: open)..<(signature.lastIndex(of: ")") ?? signature.endIndex)]
            for raw in Builtin.topLevelItems(inner) {
                var p = Builtin.trimmed(raw)
                if p.isEmpty { continue }
                var variadic = false
                if p.hasPrefix("*") { variadic = true; p.removeFirst() }
                var def: Value? = nil
                if let colon = p.firstIndex(of: ":") {
                    let literal = Builtin.trimmed(p[p.index(after: colon)...])
                    def = Builtin.literal(literal)
                    p = Builtin.trimmed(p[..<colon])
                }
                params.append(BuiltinParam(name: p, defaultValue: def, variadic: variadic))
            }
        }
        self.params = params
        paramNames = params.map(\.name)
        indexByName = Dictionary(params.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        hasVariadic = params.contains { $0.variadic }
    }

    /// `text.trimmingCharacters(in: .whitespaces)`, without Foundation for ASCII text (every
    /// signature: the interpreter's start-up parses all of them).
    static func trimmed<S: StringProtocol>(_ text: S) -> String {
        guard text.utf8.allSatisfy({ $0 < 128 }) else { return text.trimmingCharacters(in: .whitespaces) }
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(text[first...last])
    }

    /// One name for methods of different types: `overloads` by receiver type name. `help` shows
    /// every version; a call picks the one of its first argument's type (`overload(for:)`).
    init(overloading builtins: [Builtin]) {
        let sorted = builtins.sorted { ($0.methodOf ?? "") < ($1.methodOf ?? "") }
        let first = sorted[0]
        name = first.name
        signature = sorted.map(\.signature).joined(separator: " or ")
        doc = sorted.map { "\($0.signature): \($0.doc)" }.joined(separator: "\n  ")
        methodOf = nil
        methodName = nil
        params = first.params
        paramNames = first.paramNames
        indexByName = first.indexByName
        hasVariadic = first.hasVariadic
        var byType: [String: Builtin] = [:]
        for b in sorted { if let type = b.methodOf { byType[type] = b } }
        overloads = byType
        // Calls pick a version first (`overload(for:)`); a body run without one says so.
        body = { a in _ = try a.builtin.overload(for: nil); return .null }
    }

    /// The version of an overloaded builtin for `receiver`'s type; self when not overloaded.
    func overload(for receiver: Value?) throws -> Builtin {
        guard !overloads.isEmpty else { return self }
        if let receiver, let b = overloads[receiver.typeName] { return b }
        let types = overloads.keys.sorted().joined(separator: " or ")
        throw LoupeError("\(name): needs a \(types) as its first argument, got \(receiver.map { "a " + $0.typeName } ?? "nothing")")
    }

    /// The comma-separated items of `text`, not splitting inside brackets (list defaults such
    /// as `block_channels: [128, 256, 512, 512]`).
    static func topLevelItems<S: StringProtocol>(_ text: S) -> [Substring] {
        let text = Substring(text)
        var items: [Substring] = [], depth = 0, start = text.startIndex
        for i in text.indices {
            switch text[i] {
            case "[": depth += 1
            case "]": depth -= 1
            case "," where depth == 0:
                items.append(text[start..<i])
                start = text.index(after: i)
            default: break
            }
        }
        items.append(text[start...])
        return items
    }

    private static func literal(_ text: String) -> Value {
        if text == "nil" { return .null }
        if text.hasPrefix("["), text.hasSuffix("]") {
            let items = topLevelItems(text.dropFirst().dropLast()).map { trimmed($0) }.filter { !$0.isEmpty }
            return .list(ListBox(items.map { literal($0) }))
        }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let n = Double(text) { return .number(n) }
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { return .string(String(text.dropFirst().dropLast())) }
        return .null
    }

    /// Binds positional and named arguments to parameters, checking names and counts; a method's
    /// receiver is the first positional argument. `site` gives the arguments' source positions
    /// (nil for calls from Swift: every argument is then at the call position `callPos`).
    func bind(_ positional: [Value], _ named: [(String, Value)], isMethod: Bool, site: CallSite?, at callPos: SourcePos,
              interpreter: Interpreter) throws -> Arguments {
        // Positions of the caller's positional and named arguments.
        func positionalPos(_ k: Int) -> SourcePos {
            guard let site else { return callPos }
            let i = isMethod ? k - 1 : k
            if i < 0 { return site.receiver ?? callPos }
            return i < site.arguments.count ? site.arguments[i].pos : callPos
        }
        func namedPos(_ label: String) -> SourcePos {
            site?.arguments.first { $0.label == label }?.pos ?? callPos
        }
        // The common call: positional arguments only, no variadic parameter.
        if named.isEmpty, !hasVariadic, positional.count <= params.count {
            var values = positional
            if positional.count < params.count {
                values.reserveCapacity(params.count)
                for j in positional.count..<params.count {
                    guard let d = params[j].defaultValue else {
                        throw interpreter.fail("\(name): missing argument '\(params[j].name)': \(signature)", callPos)
                    }
                    values.append(d)
                }
            }
            return Arguments(builtin: self, values: values,
                             positions: .positional(site: site, isMethod: isMethod, count: positional.count, callPos: callPos),
                             variadicPositions: [], source: interpreter.currentSource, interpreter: interpreter)
        }
        var slots = [Value?](repeating: nil, count: params.count)
        var positions = [SourcePos](repeating: callPos, count: params.count)
        var rest: [Value] = []
        var restPositions: [SourcePos] = []
        var k = 0
        for (n, value) in positional.enumerated() {
            if k < params.count && !params[k].variadic {
                slots[k] = value; positions[k] = positionalPos(n); k += 1
            } else if k < params.count && params[k].variadic {
                rest.append(value); restPositions.append(positionalPos(n))
            } else {
                throw interpreter.fail("\(name): too many arguments (takes \(params.filter { !$0.variadic }.count)): \(signature)", positionalPos(n))
            }
        }
        if let v = params.firstIndex(where: { $0.variadic }) {
            slots[v] = .list(ListBox(rest))
            positions[v] = restPositions.first ?? callPos
        }
        for (label, value) in named {
            guard let j = indexByName[label], !params[j].variadic else {
                let names = params.filter { !$0.variadic }.map(\.name).joined(separator: ", ")
                throw interpreter.fail("\(name): unknown argument '\(label)' (parameters: \(names.isEmpty ? "none" : names))", namedPos(label))
            }
            if slots[j] != nil { throw interpreter.fail("\(name): argument '\(label)' given twice", namedPos(label)) }
            slots[j] = value
            positions[j] = namedPos(label)
        }
        var values: [Value] = []
        values.reserveCapacity(params.count)
        for (j, p) in params.enumerated() {
            if let v = slots[j] { values.append(v); continue }
            guard let d = p.defaultValue else {
                throw interpreter.fail("\(name): missing argument '\(p.name)': \(signature)", callPos)
            }
            values.append(d)
        }
        return Arguments(builtin: self, values: values, positions: .each(positions), variadicPositions: restPositions,
                         source: interpreter.currentSource, interpreter: interpreter)
    }
}

/// Where a call's arguments are written: the receiver of a method call (`x` in `x.sum()`), and
/// the argument list (positional arguments first, as the parser requires).
struct CallSite {
    var receiver: SourcePos?
    var arguments: [CallArgument]

    /// Where positional argument `k` of a call is written (`k` 0 is the receiver of a method).
    static func positionalPos(_ site: CallSite?, isMethod: Bool, _ k: Int, callPos: SourcePos) -> SourcePos {
        guard let site else { return callPos }
        let i = isMethod ? k - 1 : k
        if i < 0 { return site.receiver ?? callPos }
        return i < site.arguments.count ? site.arguments[i].pos : callPos
    }
}

/// Where a builtin call's arguments are written, by parameter.
enum ArgumentPositions {
    /// Each parameter's position (the call's for defaults).
    case each([SourcePos])
    /// A call with `count` positional arguments only: found in the call site when asked.
    case positional(site: CallSite?, isMethod: Bool, count: Int, callPos: SourcePos)

    subscript(_ j: Int) -> SourcePos {
        switch self {
        case .each(let positions): return positions[j]
        case .positional(let site, let isMethod, let count, let callPos):
            return j < count ? CallSite.positionalPos(site, isMethod: isMethod, j, callPos: callPos) : callPos
        }
    }
}

/// The bound arguments of a builtin call, read by parameter name. The typed accessors' errors
/// name the builtin and parameter and point at the argument in the source; `error(_:_:)` makes
/// a body's own error about an argument point there too. A name the signature does not declare
/// is a programming error: the throwing accessors report it as an internal error.
public struct Arguments {
    public let builtin: Builtin
    fileprivate let values: [Value]
    /// The source position of each parameter's argument (the call's for defaults).
    fileprivate let positions: ArgumentPositions
    /// The positions of the items of the variadic parameter.
    fileprivate let variadicPositions: [SourcePos]
    fileprivate let source: SourceFile
    public let interpreter: Interpreter

    /// Keeps every argument reachable for the cycle collector while the builtin runs.
    func pinValues() { for v in values { interpreter.pin(v) } }

    /// The index of parameter `name`, or nil (an error in the builtin's body) when there is none.
    private func slot(_ name: String) -> Int? {
        let names = builtin.paramNames
        if names.count > 8 { return builtin.indexByName[name] }
        for j in names.indices where names[j] == name { return j }
        return nil
    }

    private func checkedSlot(_ name: String) throws -> Int {
        guard let i = slot(name) else {
            throw LoupeError("\(builtin.name): internal error: no parameter '\(name)' in \(builtin.signature)")
        }
        return i
    }

    /// The argument `name` (nil for a name the signature does not declare).
    public subscript(_ name: String) -> Value { slot(name).map { values[$0] } ?? .null }

    /// Whether argument `name` is nil.
    public func isNil(_ name: String) -> Bool { if case .null = self[name] { return true }; return false }

    /// Where argument `name` is written (the call's position for a default).
    public func position(of name: String) -> SourcePos {
        slot(name).map { positions[$0] } ?? interpreter.builtinCallPos
    }

    /// An error with `message` whose caret points at argument `name`.
    public func error(_ name: String, _ message: String) -> ScriptError {
        ScriptError(message, source: source, pos: position(of: name))
    }

    /// The error "argument 'name' must be `expected`, got <type>", at the argument.
    public func typeError(_ name: String, _ expected: String) -> ScriptError {
        error(name, "\(builtin.name): argument '\(name)' must be \(expected), got \(self[name].typeName)")
    }

    /// A number (booleans and one-element tensors convert).
    public func number(_ name: String) throws -> Double {
        let i = try checkedSlot(name)
        switch values[i] {
        case .number(let n): return n
        case .bool(let b): return b ? 1 : 0
        case .tensor(let t) where t.count == 1: return Double(try t.item())
        default: throw typeError(name, "a number")
        }
    }

    /// An integral number.
    public func int(_ name: String) throws -> Int {
        let n = try number(name)
        guard n.isFinite, n == n.rounded(), abs(n) < 1e15 else {
            throw error(name, "\(builtin.name): argument '\(name)' must be an integer, got \(Value.number(n).display)")
        }
        return Int(n)
    }

    /// A string.
    public func string(_ name: String) throws -> String {
        guard case .string(let s) = values[try checkedSlot(name)] else { throw typeError(name, "a string") }
        return s
    }

    /// `true` or `false`.
    public func bool(_ name: String) throws -> Bool {
        guard case .bool(let b) = values[try checkedSlot(name)] else { throw typeError(name, "true or false") }
        return b
    }

    /// A list (the variadic parameter is one).
    public func list(_ name: String) throws -> ListBox {
        guard case .list(let l) = values[try checkedSlot(name)] else { throw typeError(name, "a list") }
        return l
    }

    /// A record.
    public func record(_ name: String) throws -> RecordBox {
        guard case .record(let r) = values[try checkedSlot(name)] else { throw typeError(name, "a record") }
        return r
    }

    /// A tensor; numbers become rank-0 tensors and lists of numbers become tensors.
    public func tensor(_ name: String) throws -> Tensor {
        switch values[try checkedSlot(name)] {
        case .tensor(let t): return t
        case .number(let n): return Tensor(Float(n))
        case .list(let l):
            do { return try tensorFromList(l) } catch let e as LoupeError {
                throw error(name, "\(builtin.name): argument '\(name)': \(e.message)")
            }
        default: throw typeError(name, "a tensor")
        }
    }

    /// The position of item `k` of argument `name`: the item itself for a variadic parameter
    /// given item by item, else the argument.
    private func itemPosition(_ name: String, _ k: Int, flattened: Bool) -> SourcePos {
        if let i = slot(name), builtin.params[i].variadic, !flattened, k < variadicPositions.count {
            return variadicPositions[k]
        }
        return position(of: name)
    }

    /// A list of integers: a list, a variadic list, or a single integer.
    public func ints(_ name: String) throws -> [Int] {
        let value = values[try checkedSlot(name)]
        var items: [Value]
        switch value {
        case .list(let l): items = l.items
        case .number: items = [value]
        default: throw typeError(name, "a list of integers")
        }
        var flattened = false
        if items.count == 1, case .list(let inner) = items[0] { items = inner.items; flattened = true }
        return try items.enumerated().map { k, v in
            guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e15 else {
                throw ScriptError("\(builtin.name): argument '\(name)' must be a list of integers, got \(v.display)",
                                  source: source, pos: itemPosition(name, k, flattened: flattened))
            }
            return Int(n)
        }
    }

    /// A number as a `Float`.
    public func float(_ name: String) throws -> Float { Float(try number(name)) }

    /// Axes: nil (all), one integer, or a list of integers.
    public func axes(_ name: String) throws -> [Int]? {
        if isNil(name) { return nil }
        return try ints(name)
    }

    /// An optional tensor (nil stays nil).
    public func optionalTensor(_ name: String) throws -> Tensor? { isNil(name) ? nil : try tensor(name) }

    /// An optional integer (nil stays nil).
    public func optionalInt(_ name: String) throws -> Int? { isNil(name) ? nil : try int(name) }

    /// An optional number (nil stays nil).
    public func optionalNumber(_ name: String) throws -> Double? { isNil(name) ? nil : try number(name) }

    /// A list of tensors (or one tensor).
    public func tensors(_ name: String) throws -> [Tensor] {
        let value = values[try checkedSlot(name)]
        switch value {
        case .tensor(let t): return [t]
        case .list(let l):
            return try l.items.enumerated().map { k, item in
                guard case .tensor(let t) = item else {
                    throw ScriptError("\(builtin.name): argument '\(name)' must be a list of tensors, got an item of type \(item.typeName)",
                                      source: source, pos: itemPosition(name, k, flattened: false))
                }
                return t
            }
        default: throw typeError(name, "a list of tensors")
        }
    }

    /// One of a fixed set of strings.
    public func choice(_ name: String, _ options: [String]) throws -> String {
        let s = try string(name)
        guard options.contains(s) else {
            throw error(name, "\(builtin.name): argument '\(name)' must be one of \(options.map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(s)\"")
        }
        return s
    }

    /// A callable value.
    public func callable(_ name: String) throws -> Value {
        let value = values[try checkedSlot(name)]
        switch value {
        case .function, .builtin, .boundMethod: return value
        default: throw typeError(name, "a function")
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
