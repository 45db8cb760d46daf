/// Views that change how storage is read without copying: reshape, permute, transpose.
/// All are differentiable.
extension Tensor {
    /// The same elements in a new shape; one dimension may be -1 (inferred). Copies only when
    /// the tensor is a non-contiguous view.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        var target = newShape
        let inferred = newShape.indices.filter { newShape[$0] == -1 }
        guard inferred.count <= 1 else {
            throw LoupeError("reshape: only one dimension can be -1, got \(describe(shape: newShape))")
        }
        if let axis = inferred.first {
            var known = 1
            for (i, size) in newShape.enumerated() where i != axis {
                guard size >= 0 else { throw LoupeError("reshape: invalid shape \(describe(shape: newShape))") }
                known *= size
            }
            guard known > 0, count % known == 0 else {
                throw LoupeError("reshape: cannot reshape \(describe(shape: shape)) (\(count) elements) to \(describe(shape: newShape))")
            }
            target[axis] = count / known
        }
        let newCount = try Tensor.checkedCount(target, op: "reshape")
        guard newCount == count else {
            throw LoupeError("reshape: cannot reshape \(describe(shape: shape)) (\(count) elements) to \(describe(shape: newShape))")
        }
        if target == shape { return self }
        let source = isContiguous ? self : contiguousCopy()
        let view = Tensor(storage: source.storage, shape: target, offset: source.offset)
        let original = shape
        return Tensor.record(view, op: "reshape", inputs: [self]) { grad in
            [try grad.reshaped(original)]
        }
    }

    /// A view with axes reordered: result axis i is input axis `axes[i]`.
    public func permuted(_ axes: [Int]) throws -> Tensor {
        guard axes.count == rank else {
            throw LoupeError("permute: \(axes.count) axes given for a tensor of rank \(rank)")
        }
        let resolved = try axes.map { try Tensor.normalizeAxis($0, rank: rank, op: "permute") }
        guard Set(resolved).count == rank else {
            throw LoupeError("permute: axes \(describe(shape: axes)) are not a permutation of 0..<\(rank)")
        }
        if resolved == Array(0..<rank) { return self }
        let view = Tensor(storage: storage, shape: resolved.map { shape[$0] },
                          strides: resolved.map { strides[$0] }, offset: offset)
        var inverse = [Int](repeating: 0, count: rank)
        for (i, axis) in resolved.enumerated() { inverse[axis] = i }
        return Tensor.record(view, op: "permute", inputs: [self]) { grad in
            [try grad.permuted(inverse)]
        }
    }

    /// A view with two axes swapped (default: the last two).
    public func transposed(_ first: Int = -2, _ second: Int = -1) throws -> Tensor {
        guard rank >= 2 || (rank == 1 && first == -2 && second == -1) else {
            throw LoupeError("transpose: tensor of rank \(rank) has no axes \(first) and \(second)")
        }
        if rank < 2 { return self }
        let a = try Tensor.normalizeAxis(first, rank: rank, op: "transpose")
        let b = try Tensor.normalizeAxis(second, rank: rank, op: "transpose")
        var axes = Array(0..<rank)
        axes.swapAt(a, b)
        return try permuted(axes)
    }
}
