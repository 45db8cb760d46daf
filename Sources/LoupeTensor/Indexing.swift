/// Slicing, index selection, gather and scatter-add (basic indexing is in `BasicIndexing.swift`). All
/// differentiable.
extension Tensor {
    /// Python slicing `start:end:step` along `axis` (negative indices count from the end). A view
    /// when step > 0, a copy for negative steps.
    public func sliced(axis: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) throws -> Tensor {
        guard rank > 0 else { throw LoupeError("slice: cannot slice a rank-0 tensor") }
        let a = try Tensor.normalizeAxis(axis, rank: rank, op: "slice")
        guard step != 0 && step != Int.min else {
            throw LoupeError("slice: invalid step \(step) (axis \(axis) of shape \(describe(shape: shape)))")
        }
        let resolved = SliceRange(start: start, end: end, validStep: step, length: shape[a])
        let first = resolved.first, count = resolved.count
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
}
