import LoupeTensor

/// An evaluated subscript item.
enum Subscript {
    case value(Value)
    case slice(Int?, Int?, Int?)
}

/// One axis selector for tensors: a single index (drops the axis) or a range with step.
enum TensorIndex {
    case index(Int)
    case range(Int?, Int?, Int?)
}

/// Python-style slice bounds resolution for a sequence of `count` items.
func resolveSlice(_ start: Int?, _ stop: Int?, _ step: Int?, count: Int, op: String) throws -> [Int] {
    let step = step ?? 1
    guard step != 0 else { throw LoupeError("\(op): slice step cannot be zero") }
    func clamp(_ v: Int?, _ dflt: Int, _ lo: Int, _ hi: Int) -> Int {
        guard var v else { return dflt }
        if v < 0 { v += count }
        return Swift.min(Swift.max(v, lo), hi)
    }
    if step > 0 {
        let a = clamp(start, 0, 0, count), b = clamp(stop, count, 0, count)
        return a < b ? Array(stride(from: a, to: b, by: step)) : []
    }
    let a = clamp(start, count - 1, -1, count - 1), b = clamp(stop, -1, -1, count - 1)
    return a > b ? Array(stride(from: a, to: b, by: step)) : []
}

extension Interpreter {
    func index(_ obj: Value, _ subs: [Subscript], _ p: SourcePos) throws -> Value {
        switch obj {
        case .tensor(let t):
            let items: [TensorIndex] = try subs.map {
                switch $0 {
                case .slice(let a, let b, let c): return .range(a, b, c)
                case .value(.number(let n)):
                    guard n == n.rounded(), abs(n) < 1e15 else { throw fail("index: tensor index must be an integer, got \(Value.number(n).display)", p) }
                    return .index(Int(n))
                case .value(let v): throw fail("index: tensor index must be an integer or slice, got \(v.typeName)", p)
                }
            }
            return .tensor(try TensorIndexing.select(t, items))
        case .list, .string:
            guard subs.count == 1 else { throw fail("index: a \(obj.typeName) takes one index, got \(subs.count)", p) }
            let items: [Value]
            if case .list(let l) = obj { items = l.items } else if case .string(let s) = obj { items = s.map { .string(String($0)) } } else { items = [] }
            switch subs[0] {
            case .value(.number(let n)):
                return items[try listIndex(n, count: items.count, p)]
            case .slice(let a, let b, let c):
                let picked = try resolveSlice(a, b, c, count: items.count, op: "index").map { items[$0] }
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

/// Basic tensor indexing as strided views, differentiable.
enum TensorIndexing {
    static func select(_ t: Tensor, _ items: [TensorIndex]) throws -> Tensor {
        guard items.count <= t.rank else {
            throw LoupeError("index: \(items.count) indices for a tensor of shape \(describe(shape: t.shape))")
        }
        var shape: [Int] = [], strides: [Int] = []
        var offset = t.offset
        for (axis, item) in items.enumerated() {
            let size = t.shape[axis], stride = t.strides[axis]
            switch item {
            case .index(let i):
                let r = i < 0 ? i + size : i
                guard r >= 0 && r < size else {
                    throw LoupeError("index: index \(i) is out of range for axis \(axis) of size \(size) (shape \(describe(shape: t.shape)))")
                }
                offset += r * stride
            case .range(let a, let b, let c):
                let picked = try resolveSlice(a, b, c, count: size, op: "index")
                let step = c ?? 1
                shape.append(picked.count)
                strides.append(stride * step)
                if let first = picked.first { offset += first * stride }
            }
        }
        for axis in items.count..<t.rank { shape.append(t.shape[axis]); strides.append(t.strides[axis]) }
        let view = Tensor(storage: t.storage, shape: shape, strides: strides, offset: offset)
        let inputShape = t.shape
        let relStrides = strides
        // Offsets relative to a contiguous tensor of the input's shape.
        let contiguous = Tensor.contiguousStrides(for: inputShape)
        var relOffset = 0
        var relViewStrides: [Int] = []
        var axisOut = 0
        for (axis, item) in items.enumerated() {
            switch item {
            case .index(let i): relOffset += (i < 0 ? i + inputShape[axis] : i) * contiguous[axis]
            case .range(let a, let b, let c):
                let picked = try resolveSlice(a, b, c, count: inputShape[axis], op: "index")
                relViewStrides.append(contiguous[axis] * (c ?? 1))
                if let first = picked.first { relOffset += first * contiguous[axis] }
                axisOut += 1
            }
        }
        for axis in items.count..<inputShape.count { relViewStrides.append(contiguous[axis]) }
        _ = relStrides
        let outShape = shape
        return Tensor.record(view, op: "index", inputs: [t]) { grad in
            let full = try Tensor.zeros(inputShape)
            let g = grad.contiguous()
            g.withContiguousPointer { src in
                scatter(src, into: full.storage.pointer + relOffset, shape: outShape, strides: relViewStrides)
            }
            return [full]
        }
    }

    /// Adds contiguous `src` of `shape` into a strided destination.
    static func scatter(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, shape: [Int], strides: [Int]) {
        let total = shape.reduce(1, *)
        if total == 0 { return }
        if shape.isEmpty { dst[0] += src[0]; return }
        var index = [Int](repeating: 0, count: shape.count)
        var offset = 0
        for n in 0..<total {
            dst[offset] += src[n]
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                offset += strides[axis]
                if index[axis] < shape[axis] { break }
                offset -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }
}
