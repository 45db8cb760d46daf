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
    /// Subscripts as tensor axis selectors: integers and slices.
    func tensorIndices(_ subs: [Subscript], _ p: SourcePos) throws -> [TensorIndex] {
        try subs.map {
            switch $0 {
            case .slice(let a, let b, let c): return .range(a, b, c)
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
            return .tensor(try TensorIndexing.select(t, try tensorIndices(subs, p)))
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
    /// Where a selection lies in a contiguous tensor of the input's shape: its shape, the offset
    /// of its first element and its strides.
    struct Region {
        var shape: [Int]
        var offset: Int
        var strides: [Int]
    }

    /// Resolves `items` against `shape` (bounds checked; negative indices count from the end).
    static func region(_ shape: [Int], _ items: [TensorIndex]) throws -> Region {
        guard items.count <= shape.count else {
            throw LoupeError("index: \(items.count) indices for a tensor of shape \(describe(shape: shape))")
        }
        let contiguous = Tensor.contiguousStrides(for: shape)
        var region = Region(shape: [], offset: 0, strides: [])
        for (axis, item) in items.enumerated() {
            let size = shape[axis]
            switch item {
            case .index(let i):
                let r = i < 0 ? i + size : i
                guard r >= 0 && r < size else {
                    throw LoupeError("index: index \(i) is out of range for axis \(axis) of size \(size) (shape \(describe(shape: shape)))")
                }
                region.offset += r * contiguous[axis]
            case .range(let a, let b, let c):
                let picked = try resolveSlice(a, b, c, count: size, op: "index")
                region.shape.append(picked.count)
                region.strides.append(contiguous[axis] * (c ?? 1))
                if let first = picked.first { region.offset += first * contiguous[axis] }
            }
        }
        for axis in items.count..<shape.count {
            region.shape.append(shape[axis])
            region.strides.append(contiguous[axis])
        }
        return region
    }

    /// The selected view of `t` (shares storage); its gradient flows back into the region.
    static func select(_ t: Tensor, _ items: [TensorIndex]) throws -> Tensor {
        let region = try region(t.shape, items)
        // The same selection in t's own (possibly strided) layout.
        var offset = t.offset, strides: [Int] = []
        for (axis, item) in items.enumerated() {
            switch item {
            case .index(let i): offset += (i < 0 ? i + t.shape[axis] : i) * t.strides[axis]
            case .range(let a, let b, let c):
                let picked = try resolveSlice(a, b, c, count: t.shape[axis], op: "index")
                strides.append(t.strides[axis] * (c ?? 1))
                if let first = picked.first { offset += first * t.strides[axis] }
            }
        }
        for axis in items.count..<t.rank { strides.append(t.strides[axis]) }
        let view = Tensor(storage: t.storage, shape: region.shape, strides: strides, offset: offset)
        let inputShape = t.shape
        return Tensor.record(view, op: "index", inputs: [t]) { grad in [try place(grad, region, in: inputShape)] }
    }

    /// Zeros of `shape` with `values` (of the region's shape) written into the region.
    static func place(_ values: Tensor, _ region: Region, in shape: [Int]) throws -> Tensor {
        let full = try Tensor.zeros(shape)
        values.contiguous().withContiguousPointer { src in
            scatter(src, into: full.storage.pointer + region.offset, shape: region.shape, strides: region.strides)
        }
        return full
    }

    /// `t` with the selected region replaced by `value` (broadcast to the region's shape); a new
    /// tensor, differentiable in `t` (the region's gradient is zero) and in `value`.
    static func replacing(_ t: Tensor, _ items: [TensorIndex], with value: Tensor) throws -> Tensor {
        let region = try region(t.shape, items)
        let filler: Tensor
        do {
            filler = try value.expanded(to: region.shape)
        } catch {
            throw LoupeError("index assignment: a value of shape \(describe(shape: value.shape)) does not fit the selected region \(describe(shape: region.shape)) of a tensor of shape \(describe(shape: t.shape))")
        }
        let output = t.contiguousCopy()
        let filled = filler.contiguous()
        filled.withContiguousPointer { src in
            write(src, into: output.storage.pointer + region.offset, shape: region.shape, strides: region.strides)
        }
        return Tensor.record(output, op: "index_put", inputs: [t, filler]) { grad in
            let g = grad.contiguous()
            let regionGrad = try select(g, items).contiguousCopy()
            let outside = g.contiguousCopy()
            let destination = outside.storage.pointer + region.offset
            visit(shape: region.shape, strides: region.strides) { _, offset in destination[offset] = 0 }
            return [outside, regionGrad]
        }
    }

    /// Writes contiguous `src` of `shape` over a strided destination.
    static func write(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, shape: [Int], strides: [Int]) {
        visit(shape: shape, strides: strides) { n, offset in dst[offset] = src[n] }
    }

    /// Adds contiguous `src` of `shape` into a strided destination.
    static func scatter(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, shape: [Int], strides: [Int]) {
        visit(shape: shape, strides: strides) { n, offset in dst[offset] += src[n] }
    }

    /// Calls `body(n, offset)` for the n-th element (row-major) of `shape` at its strided offset.
    @inline(__always)
    static func visit(shape: [Int], strides: [Int], _ body: (Int, Int) -> Void) {
        let total = shape.reduce(1, *)
        if total == 0 { return }
        if shape.isEmpty { body(0, 0); return }
        var index = [Int](repeating: 0, count: shape.count)
        var offset = 0
        for n in 0..<total {
            body(n, offset)
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
