import LoupeTensor

/// An evaluated subscript item.
enum Subscript {
    case value(Value)
    case slice(Int?, Int?, Int?)
}

extension Interpreter {
    /// Subscripts as tensor index items (`Tensor.indexed`): integers and slices.
    func tensorIndices(_ subs: [Subscript], _ p: SourcePos) throws -> [IndexSpec] {
        try subs.map {
            switch $0 {
            case .slice(let a, let b, let c): return .range(start: a, end: b, step: c)
            case .value(.number(let n)):
                guard n == n.rounded(), abs(n) < 1e15 else { throw fail("index: tensor index must be an integer, got \(Value.number(n).display)", p) }
                return .index(Int(n))
            case .value(let v): throw fail("index: tensor index must be an integer or slice, got \(v.typeName)", p)
            }
        }
    }

    func index(_ obj: Value, _ subs: [Subscript], _ p: SourcePos) throws -> Value {
        switch obj {
        case .tensor(let t):
            return .tensor(try t.indexed(try tensorIndices(subs, p)))
        case .list, .string:
            guard subs.count == 1 else { throw fail("index: a \(obj.typeName) takes one index, got \(subs.count)", p) }
            let items: [Value]
            if case .list(let l) = obj { items = l.items } else if case .string(let s) = obj { items = s.map { .string(String($0)) } } else { items = [] }
            switch subs[0] {
            case .value(.number(let n)):
                return items[try listIndex(n, count: items.count, p)]
            case .slice(let a, let b, let c):
                let picked = try SliceRange(start: a, end: b, step: c, length: items.count).indices.map { items[$0] }
                if case .string = obj { return .string(picked.map(\.text).joined()) }
                return .list(ListBox(picked))
            case .value(let v):
                throw fail("index: \(obj.typeName) index must be an integer, got \(v.typeName)", p)
            }
        case .record(let r):
            guard subs.count == 1, case .value(.string(let k)) = subs[0] else {
                throw fail("index: a record is indexed by one string key", p)
            }
            guard let v = r[k] else {
                throw fail(missingKeyMessage(k, keys: r.keys), p)
            }
            return v
        default:
            throw fail("index: cannot index a \(obj.typeName)", p)
        }
    }
}

/// "record has no key 'patch' (did you mean 'patch_size'? keys: ...)": every key up to 16, then
/// how many more; a suggestion when one key is close to, starts with or contains the name.
func missingKeyMessage(_ name: String, keys: [String]) -> String {
    guard !keys.isEmpty else { return "record has no key '\(name)' (keys: none)" }
    let shown = keys.prefix(16).joined(separator: ", ") + (keys.count > 16 ? ", ... (\(keys.count - 16) more)" : "")
    let lowered = name.lowercased()
    let close = name.count < 3 ? [] : keys.filter { editDistance($0.lowercased(), lowered) <= max(1, name.count / 3) }
    let containing = lowered.count >= 3 ? keys.filter { $0.lowercased().contains(lowered) } : []
    let suggestion = (close.min { editDistance($0, name) < editDistance($1, name) } ?? (containing.count == 1 ? containing[0] : nil))
        .map { "did you mean '\($0)'? " } ?? ""
    return "record has no key '\(name)' (\(suggestion)keys: \(shown))"
}
