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
                let keys = r.keys.prefix(8).joined(separator: ", ")
                throw fail("record has no key '\(k)' (keys: \(keys.isEmpty ? "none" : keys))", p)
            }
            return v
        default:
            throw fail("index: cannot index a \(obj.typeName)", p)
        }
    }
}
