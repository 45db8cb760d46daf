/// One item of a basic (NumPy-style) index: `indexed([.index(0), .range(start: 1, end: nil,
/// step: 2), .newAxis])`.
public enum IndexSpec: Equatable, Sendable {
    /// A single position (negative counts from the end); removes the axis.
    case index(Int)
    /// A Python slice `start:end:step` (nil = default).
    case range(start: Int?, end: Int?, step: Int?)
    /// The whole axis (`:`).
    case all
    /// A new size-1 axis (`None` / `np.newaxis`).
    case newAxis
}

/// Slicing, index selection, gather and scatter-add, and basic indexing. All differentiable.
extension Tensor {
    /// Resolves a Python slice against length `n`: first index, step and element count.
    static func resolveSlice(start: Int?, end: Int?, step: Int, length n: Int) -> (first: Int, count: Int) {
        if step > 0 {
            var s = start ?? 0, e = end ?? n
            if s < 0 { s += n }; if e < 0 { e += n }
            s = Swift.min(Swift.max(s, 0), n); e = Swift.min(Swift.max(e, 0), n)
            return (s, e > s ? (e - s - 1) / step + 1 : 0)
        }
        var s = start ?? n - 1, e = end ?? -n - 1
        if s < 0 { s += n }; if e < 0 { e += n }
        s = Swift.min(Swift.max(s, -1), n - 1); e = Swift.min(Swift.max(e, -1), n - 1)
        return (s, s > e ? (s - e - 1) / (-step) + 1 : 0)
    }

    /// Python slicing `start:end:step` along `axis` (negative indices count from the end). A view
    /// when step > 0, a copy for negative steps.
    public func sliced(axis: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) throws -> Tensor {
        guard rank > 0 else { throw LoupeError("slice: cannot slice a rank-0 tensor") }
        let a = try Tensor.normalizeAxis(axis, rank: rank, op: "slice")
        guard step != 0 && step != Int.min else {
            throw LoupeError("slice: invalid step \(step) (axis \(axis) of shape \(describe(shape: shape)))")
        }
        let (first, count) = Tensor.resolveSlice(start: start, end: end, step: step, length: shape[a])
        var maps = identityMaps
        maps[a] = (0..<count).map { first + $0 * step }
        if step < 0 { return mapped(maps, op: "slice") }
        var newShape = shape, newStrides = strides
        newShape[a] = count
        newStrides[a] = strides[a] * step
        let view = Tensor(storage: storage, shape: newShape, strides: newStrides,
                          offset: count > 0 ? offset + first * strides[a] : offset)
        let sourceShape = shape
        return Tensor.record(view, op: "slice", inputs: [self]) { grad in
            [try grad.scatterAlongMaps(maps, sourceShape: sourceShape)]
        }
    }

    /// The elements at `indices` along `axis` (negative indices count from the end; repeats allowed).
    public func indexSelect(axis: Int, indices: [Int]) throws -> Tensor {
        guard rank > 0 else { throw LoupeError("index_select: cannot index a rank-0 tensor") }
        let a = try Tensor.normalizeAxis(axis, rank: rank, op: "index_select")
        let n = shape[a]
        var maps = identityMaps
        maps[a] = try indices.map { i in
            guard i >= -n && i < n else {
                throw LoupeError("index_select: index \(i) is out of range for axis \(axis) of shape \(describe(shape: shape))")
            }
            return i < 0 ? i + n : i
        }
        return mapped(maps, op: "index_select")
    }

    /// Validated integer indices of an index tensor against a bound.
    static func integerIndices(_ index: Tensor, bound: Int, op: String, axis: Int, shape: [Int]) throws -> [Int] {
        try index.scalars.map { v in
            guard v == v.rounded(), v >= 0, v < Float(bound) else {
                throw LoupeError("\(op): index \(v) is out of range for axis \(axis) of shape \(describe(shape: shape))")
            }
            return Int(v)
        }
    }

    /// Calls `body(flat, offsets)` for every element of `shape` in row-major order, with the
    /// element's offset under each stride set of `strideSets`.
    static func forEachPosition(_ shape: [Int], _ strideSets: [[Int]], _ body: (Int, [Int]) -> Void) {
        let total = shape.reduce(1, *)
        if total == 0 { return }
        var index = [Int](repeating: 0, count: shape.count)
        var offsets = [Int](repeating: 0, count: strideSets.count)
        for flat in 0..<total {
            body(flat, offsets)
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                for s in strideSets.indices { offsets[s] += strideSets[s][axis] }
                if index[axis] < shape[axis] { break }
                for s in strideSets.indices { offsets[s] -= strideSets[s][axis] * shape[axis] }
                index[axis] = 0
                axis -= 1
            }
        }
    }

    /// `out[i][j][k] = self[i][index[i][j][k]][k]` (for axis 1), as torch.gather. `index` has
    /// the same rank, and no larger sizes than `self` off `axis`.
    public func gather(axis: Int, index: Tensor) throws -> Tensor {
        let a = try Tensor.normalizeAxis(axis, rank: rank, op: "gather")
        guard index.rank == rank, rank > 0,
              zip(index.shape, shape).enumerated().allSatisfy({ $0.offset == a || $0.element.0 <= $0.element.1 }) else {
            throw LoupeError("gather: index of shape \(describe(shape: index.shape)) does not fit input of shape \(describe(shape: shape)) along axis \(axis)")
        }
        let positions = try Tensor.integerIndices(index, bound: shape[a], op: "gather", axis: axis, shape: shape)
        let source = contiguous()
        let result = Tensor.uninitialized(index.shape)
        let srcStrides = Tensor.contiguousStrides(for: shape)
        var along = srcStrides; along[a] = 0
        let src = source.storage.pointer + source.offset, dst = result.storage.pointer
        let step = srcStrides[a]
        withExtendedLifetime(source.storage) {
            Tensor.forEachPosition(index.shape, [along]) { flat, offsets in
                dst[flat] = src[offsets[0] + positions[flat] * step]
            }
        }
        let sourceShape = shape, idx = index.detached()
        return Tensor.record(result, op: "gather", inputs: [self]) { grad in
            [try Tensor.zeros(sourceShape).scatterAdd(axis: a, index: idx, source: grad)]
        }
    }

    /// A copy of `self` with `source[i][j][k]` added at `[i][index[i][j][k]][k]` (for axis 1), as
    /// torch.scatter_add. Differentiable in `self` and `source`.
    public func scatterAdd(axis: Int, index: Tensor, source: Tensor) throws -> Tensor {
        let a = try Tensor.normalizeAxis(axis, rank: rank, op: "scatter_add")
        guard index.rank == rank, source.rank == rank, rank > 0,
              zip(index.shape, source.shape).allSatisfy({ $0 <= $1 }),
              zip(index.shape, shape).enumerated().allSatisfy({ $0.offset == a || $0.element.0 <= $0.element.1 }) else {
            throw LoupeError("scatter_add: index of shape \(describe(shape: index.shape)) does not fit input \(describe(shape: shape)) and source \(describe(shape: source.shape)) along axis \(axis)")
        }
        let positions = try Tensor.integerIndices(index, bound: shape[a], op: "scatter_add", axis: axis, shape: shape)
        let result = contiguousCopy()
        let dstStrides = Tensor.contiguousStrides(for: shape)
        var along = dstStrides; along[a] = 0
        let dst = result.storage.pointer, src = source.storage.pointer + source.offset
        let step = dstStrides[a]
        withExtendedLifetime(source.storage) {
            Tensor.forEachPosition(index.shape, [along, source.strides]) { flat, offsets in
                dst[offsets[0] + positions[flat] * step] += src[offsets[1]]
            }
        }
        let needSource = source.requiresGrad, idx = index.detached(), sourceShape = source.shape
        return Tensor.record(result, op: "scatter_add", inputs: [self, source]) { grad in
            var sourceGrad: Tensor? = nil
            if needSource {
                let g = try grad.gather(axis: a, index: idx)
                sourceGrad = idx.shape == sourceShape ? g
                    : try g.padded(zip(idx.shape, sourceShape).map { (0, $1 - $0) })
            }
            return [grad, sourceGrad]
        }
    }

    /// A view without size-1 axis `axis` (strides kept, so no copy even for strided views).
    func droppingUnitAxis(_ axis: Int) -> Tensor {
        var newShape = shape, newStrides = strides
        newShape.remove(at: axis)
        newStrides.remove(at: axis)
        let view = Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
        let original = shape
        return Tensor.record(view, op: "index", inputs: [self]) { grad in [try grad.reshaped(original)] }
    }

    /// NumPy basic indexing: integers drop an axis, ranges slice it (views), `.newAxis` inserts
    /// one; axes not mentioned are kept whole.
    public func indexed(_ specs: [IndexSpec]) throws -> Tensor {
        let consuming = specs.filter { $0 != .newAxis }.count
        guard consuming <= rank else {
            throw LoupeError("index: \(consuming) indices given for a tensor of shape \(describe(shape: shape))")
        }
        var result = self
        var axis = 0  // current axis of `result`
        var sourceAxis = 0
        for spec in specs {
            switch spec {
            case .index(let i):
                let n = shape[sourceAxis]
                guard i >= -n && i < n else {
                    throw LoupeError("index: index \(i) is out of range for axis \(sourceAxis) of shape \(describe(shape: shape))")
                }
                let p = i < 0 ? i + n : i
                result = try result.sliced(axis: axis, start: p, end: p + 1).droppingUnitAxis(axis)
                sourceAxis += 1
            case .range(let start, let end, let step):
                guard step != 0 && step != Int.min else { throw LoupeError("index: invalid slice step (axis \(sourceAxis) of shape \(describe(shape: shape)))") }
                result = try result.sliced(axis: axis, start: start, end: end, step: step ?? 1)
                axis += 1; sourceAxis += 1
            case .all:
                axis += 1; sourceAxis += 1
            case .newAxis:
                result = try result.unsqueezed(axis: axis)
                axis += 1
            }
        }
        return result
    }
}
