/// NumPy broadcasting: shapes, views and the reduction of gradients back to input shapes.
extension Tensor {
    /// The broadcast shape of two shapes, or a thrown error naming the op and both shapes.
    public static func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
        let rank = Swift.max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 {
                result[i] = da
            } else if da == 1 {
                result[i] = db
            } else {
                throw LoupeError("\(op): shapes \(describe(shape: a)) and \(describe(shape: b)) cannot be broadcast together")
            }
        }
        return result
    }

    /// Strides that read this tensor as if it had `shape` (stride 0 on broadcast axes).
    /// `shape` must be a valid broadcast target of `self.shape`.
    func broadcastStrides(to target: [Int]) -> [Int] {
        let lead = target.count - rank
        var result = [Int](repeating: 0, count: target.count)
        for i in 0..<rank where shape[i] != 1 || target[lead + i] == 1 {
            result[lead + i] = shape[i] == 1 ? 0 : strides[i]
        }
        return result
    }

    /// A view of this tensor broadcast to `target` (no copy). Differentiable.
    public func expanded(to target: [Int]) throws -> Tensor {
        let resolved = try Tensor.broadcastShape(shape, target, op: "expand")
        guard resolved == target else {
            throw LoupeError("expand: shape \(describe(shape: shape)) cannot be expanded to \(describe(shape: target))")
        }
        if target == shape { return self }
        var view = Tensor(storage: storage, shape: target, strides: broadcastStrides(to: target), offset: offset)
        let sourceShape = shape
        view = Tensor.record(view, op: "expand", inputs: [self]) { grad in
            [try grad.summed(toShape: sourceShape)]
        }
        return view
    }

    /// Sums this tensor down to `target`, a shape that broadcasts to this one (the reduction
    /// behind broadcasting's backward). Differentiable.
    public func summed(toShape target: [Int]) throws -> Tensor {
        if target == shape { return self }
        let result = try sumToShapeKernel(target)
        let original = shape
        return Tensor.record(result, op: "sum_to_shape", inputs: [self]) { grad in
            [try grad.expanded(to: original)]
        }
    }

    private func sumToShapeKernel(_ target: [Int]) throws -> Tensor {
        let resolved = try Tensor.broadcastShape(target, shape, op: "sum_to_shape")
        guard resolved == shape else {
            throw LoupeError("sum_to_shape: \(describe(shape: shape)) does not broadcast from \(describe(shape: target))")
        }
        let source = contiguous()
        let result = try Tensor.zeros(target)
        let total = source.count
        if total == 0 { return result }
        // Output strides laid against the source shape, 0 where summed.
        let probe = Tensor(storage: result.storage, shape: target)
        let outStrides = probe.broadcastStrides(to: shape)
        let r = shape.count
        let inner = shape[r - 1]
        let innerStride = outStrides[r - 1]
        let outer = total / Swift.max(inner, 1)
        let src = source.storage.pointer + source.offset
        let dst = result.storage.pointer
        var index = [Int](repeating: 0, count: r)
        var dstOffset = 0
        var read = 0
        for _ in 0..<outer {
            let row = src + read
            if innerStride == 0 {
                var sum: Float = 0
                for j in 0..<inner { sum += row[j] }
                dst[dstOffset] += sum
            } else {
                let out = dst + dstOffset
                for j in 0..<inner { out[j * innerStride] += row[j] }
            }
            read += inner
            var axis = r - 2
            while axis >= 0 {
                index[axis] += 1
                dstOffset += outStrides[axis]
                if index[axis] < shape[axis] { break }
                dstOffset -= outStrides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }

    /// Applies `body` elementwise over the broadcast of `a` and `b` into a new contiguous tensor.
    /// Runs on both cores for large tensors. Not differentiable by itself.
    public static func broadcastMap(_ a: Tensor, _ b: Tensor, op: String,
                                    _ body: @escaping (Float, Float) -> Float) throws -> Tensor {
        try binaryMap(a, b, op: op, ClosureKernel(body))
    }

    /// Applies `body` to every element into a new contiguous tensor, on both cores when large.
    @inlinable
    public func map(_ body: @escaping (Float) -> Float) -> Tensor {
        let source = contiguous()
        let result = Tensor.uninitialized(shape)
        let src = source.storage.pointer + source.offset
        let dst = result.storage.pointer
        withExtendedLifetime(source.storage) {
            Parallel.forRanges(result.count) { start, end in
                for i in start..<end { dst[i] = body(src[i]) }
            }
        }
        return result
    }
}
