/// One item of a basic (NumPy-style) index: `x.indexed([.index(0), .range(start: 1, end: nil,
/// step: 2), .newAxis])` is `x[0, 1::2, None]`.
public enum IndexSpec: Equatable, Sendable {
    /// A single position (negative counts from the end); removes the axis.
    case index(Int)
    /// A Python slice `start:end:step` (nil = default); negative steps walk backwards.
    case range(start: Int?, end: Int?, step: Int?)
    /// The whole axis (`:`).
    case all
    /// A new size-1 axis (`None` / `np.newaxis`).
    case newAxis
}

/// NumPy basic indexing: a selection is one strided view of the tensor, and index assignment
/// writes a value into the same region of a copy. Axes not mentioned are kept whole.
extension Tensor {
    /// Where a selection lies in a layout with `strides` starting at `offset`: its shape, the
    /// offset of its first element and its strides (0 for new axes).
    struct IndexRegion {
        var shape: [Int] = []
        var strides: [Int] = []
        var offset: Int
    }

    /// Resolves `specs` against `shape`, for a layout with `strides` starting at `offset`.
    /// Bounds are checked; negative indices count from the end.
    static func indexRegion(_ specs: [IndexSpec], shape: [Int], strides: [Int], offset: Int) throws -> IndexRegion {
        let consuming = specs.filter { $0 != .newAxis }.count
        guard consuming <= shape.count else {
            throw LoupeError("index: \(consuming) indices for a tensor of shape \(describe(shape: shape))")
        }
        var region = IndexRegion(offset: offset)
        var axis = 0
        for spec in specs {
            switch spec {
            case .index(let i):
                let size = shape[axis]
                let r = i < 0 ? i + size : i
                guard r >= 0 && r < size else {
                    throw LoupeError("index: index \(i) is out of range for axis \(axis) of size \(size) (shape \(describe(shape: shape)))")
                }
                region.offset += r * strides[axis]
                axis += 1
            case .range(let start, let end, let step):
                let slice = try SliceRange(start: start, end: end, step: step, length: shape[axis])
                region.shape.append(slice.count)
                region.strides.append(strides[axis] * slice.step)
                if slice.count > 0 { region.offset += slice.first * strides[axis] }
                axis += 1
            case .all:
                region.shape.append(shape[axis])
                region.strides.append(strides[axis])
                axis += 1
            case .newAxis:
                region.shape.append(1)
                region.strides.append(0)
            }
        }
        for rest in axis..<shape.count {
            region.shape.append(shape[rest])
            region.strides.append(strides[rest])
        }
        return region
    }

    /// NumPy basic indexing: integers drop an axis, ranges slice it (negative steps included),
    /// `.newAxis` inserts one. The result is a view sharing storage; its gradient flows back
    /// into the selected region.
    public func indexed(_ specs: [IndexSpec]) throws -> Tensor {
        let view = try Tensor.indexRegion(specs, shape: shape, strides: strides, offset: offset)
        let region = try Tensor.indexRegion(specs, shape: shape, strides: Tensor.contiguousStrides(for: shape), offset: 0)
        let result = Tensor(storage: storage, shape: view.shape, strides: view.strides, offset: view.offset)
        let inputShape = shape
        return Tensor.record(result, op: "index", inputs: [self]) { grad in
            let full = try Tensor.zeros(inputShape)
            grad.withContiguousPointer { src in
                Tensor.visitRegion(region) { n, offset in full.storage.pointer[offset] += src[n] }
            }
            return [full]
        }
    }

    /// A copy of this tensor with the region `specs` selects replaced by `value` (broadcast to
    /// the region's shape): NumPy's `x[specs] = value` on a value type. Differentiable in `self`
    /// (the region's gradient is zero) and in `value`.
    public func replacing(_ specs: [IndexSpec], with value: Tensor) throws -> Tensor {
        let region = try Tensor.indexRegion(specs, shape: shape, strides: Tensor.contiguousStrides(for: shape), offset: 0)
        let filler: Tensor
        do {
            filler = try value.expanded(to: region.shape)
        } catch {
            throw LoupeError("index assignment: a value of shape \(describe(shape: value.shape)) does not fit the selected region \(describe(shape: region.shape)) of a tensor of shape \(describe(shape: shape))")
        }
        let output = contiguousCopy()
        filler.withContiguousPointer { src in
            let dst = output.storage.pointer
            Tensor.visitRegion(region) { n, offset in dst[offset] = src[n] }
        }
        return Tensor.record(output, op: "index_put", inputs: [self, filler]) { grad in
            let g = grad.contiguous()
            let regionGrad = try g.indexed(specs).contiguousCopy()
            let outside = g.contiguousCopy()
            let dst = outside.storage.pointer
            Tensor.visitRegion(region) { _, offset in dst[offset] = 0 }
            return [outside, regionGrad]
        }
    }

    /// Calls `body(n, offset)` for the n-th element (row-major) of a region at its strided offset.
    @inline(__always)
    static func visitRegion(_ region: IndexRegion, _ body: (Int, Int) -> Void) {
        let shape = region.shape, strides = region.strides
        let total = shape.reduce(1, *)
        if total == 0 { return }
        var index = [Int](repeating: 0, count: shape.count)
        var offset = region.offset
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
