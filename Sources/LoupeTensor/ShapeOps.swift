/// Shape manipulation: squeeze, unsqueeze, concat, stack, split, chunk, flip, roll, repeat and
/// tile. All are differentiable.
extension Tensor {
    /// Removes size-1 axes: all of them, or those of `axes` (axes whose size is not 1 are left
    /// alone, as torch.squeeze).
    public func squeezed(axes: [Int]? = nil) throws -> Tensor {
        let drop: Set<Int>
        if let axes {
            drop = Set(try resolveAxes(axes, op: "squeeze").filter { shape[$0] == 1 })
        } else {
            drop = Set(shape.indices.filter { shape[$0] == 1 })
        }
        return try reshaped(shape.indices.filter { !drop.contains($0) }.map { shape[$0] })
    }

    /// Inserts a size-1 axis at `axis` (in -rank-1...rank).
    public func unsqueezed(axis: Int) throws -> Tensor {
        let resolved = axis < 0 ? axis + rank + 1 : axis
        guard resolved >= 0 && resolved <= rank else {
            throw LoupeError("unsqueeze: axis \(axis) is out of range for a tensor of shape \(describe(shape: shape))")
        }
        var newShape = shape
        newShape.insert(1, at: resolved)
        return try reshaped(newShape)
    }

    /// Joins tensors along an existing axis; all other sizes must agree.
    public static func concat(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw LoupeError("concat: no tensors given") }
        guard first.rank > 0 else {
            throw LoupeError("concat: cannot concatenate rank-0 tensors; stack them instead")
        }
        let a = try normalizeAxis(axis, rank: first.rank, op: "concat")
        for t in tensors {
            var expected = first.shape, actual = t.shape
            guard expected.count == actual.count else {
                throw LoupeError("concat: shapes \(describe(shape: first.shape)) and \(describe(shape: t.shape)) differ in rank")
            }
            expected[a] = 0; actual[a] = 0
            guard expected == actual else {
                throw LoupeError("concat: shapes \(describe(shape: first.shape)) and \(describe(shape: t.shape)) differ outside axis \(a)")
            }
        }
        var outShape = first.shape
        outShape[a] = tensors.reduce(0) { $0 + $1.shape[a] }
        let result = Tensor.uninitialized(outShape)
        let outer = first.shape[..<a].reduce(1, *)
        let inner = first.shape[(a + 1)...].reduce(1, *)
        let outRow = outShape[a] * inner
        var column = 0
        for t in tensors {
            let c = t.contiguous()
            let width = t.shape[a] * inner
            let src = c.storage.pointer + c.offset
            let dst = result.storage.pointer + column
            withExtendedLifetime(c.storage) {
                for o in 0..<outer { (dst + o * outRow).update(from: src + o * width, count: width) }
            }
            column += width
        }
        let sizes = tensors.map { $0.shape[a] }
        return record(result, op: "concat", inputs: tensors) { grad in
            try grad.split(sizes: sizes, axis: a).map { $0.contiguous() }
        }
    }

    /// Joins equally shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw LoupeError("stack: no tensors given") }
        for t in tensors where t.shape != first.shape {
            throw LoupeError("stack: shapes \(describe(shape: first.shape)) and \(describe(shape: t.shape)) differ")
        }
        let resolved = axis < 0 ? axis + first.rank + 1 : axis
        guard resolved >= 0 && resolved <= first.rank else {
            throw LoupeError("stack: axis \(axis) is out of range for tensors of shape \(describe(shape: first.shape))")
        }
        return try concat(tensors.map { try $0.unsqueezed(axis: resolved) }, axis: resolved)
    }

    /// Views of consecutive pieces of `sizes` along `axis`; the sizes must add up to its length.
    public func split(sizes: [Int], axis: Int = 0) throws -> [Tensor] {
        let a = try Tensor.normalizeAxis(axis, rank: rank, op: "split")
        guard rank > 0, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == shape[a] else {
            throw LoupeError("split: sizes \(describe(shape: sizes)) do not add up to \(rank > 0 ? shape[a] : 0), the length of axis \(axis) of shape \(describe(shape: shape))")
        }
        var start = 0
        return try sizes.map { size in
            defer { start += size }
            return try sliced(axis: a, start: start, end: start + size)
        }
    }

    /// Splits into `count` pieces of ceil(n / count) along `axis` (the last may be smaller and
    /// fewer pieces may result, as torch.chunk).
    public func chunk(_ count: Int, axis: Int = 0) throws -> [Tensor] {
        guard count > 0 else { throw LoupeError("chunk: count must be positive, got \(count)") }
        let a = try Tensor.normalizeAxis(axis, rank: rank, op: "chunk")
        guard rank > 0 else { throw LoupeError("chunk: cannot chunk a rank-0 tensor") }
        let n = shape[a]
        let size = Swift.max(1, (n + count - 1) / count)
        var sizes: [Int] = []
        var left = n
        while left > 0 { sizes.append(Swift.min(size, left)); left -= size }
        if sizes.isEmpty { sizes = [0] }
        return try split(sizes: sizes, axis: a)
    }

    /// Reverses the order of elements along `axes`.
    public func flipped(axes: [Int]) throws -> Tensor {
        let resolved = try resolveAxes(axes, op: "flip")
        var maps = identityMaps
        for a in resolved { maps[a].reverse() }
        return mapped(maps, op: "flip")
    }

    /// Rotates elements along each of `axes` by the matching shift (positive moves elements to
    /// higher indices), as torch.roll with dims.
    public func rolled(shifts: [Int], axes: [Int]) throws -> Tensor {
        guard shifts.count == axes.count else {
            throw LoupeError("roll: \(shifts.count) shifts given for \(axes.count) axes")
        }
        var maps = identityMaps
        for (shift, axis) in zip(shifts, axes) {
            let a = try Tensor.normalizeAxis(axis, rank: rank, op: "roll")
            guard rank > 0 else { throw LoupeError("roll: cannot roll a rank-0 tensor") }
            let n = shape[a]
            if n == 0 { continue }
            let s = shift % n
            maps[a] = maps[a].map { maps[a][(($0 - s) % n + n) % n] }
        }
        return mapped(maps, op: "roll")
    }

    /// Repeats each element `count` times along `axis` (torch.repeat_interleave).
    public func repeated(_ count: Int, axis: Int) throws -> Tensor {
        guard count >= 0 else { throw LoupeError("repeat_interleave: count must be non-negative, got \(count)") }
        guard rank > 0 else { throw LoupeError("repeat_interleave: cannot repeat along an axis of a rank-0 tensor") }
        let a = try Tensor.normalizeAxis(axis, rank: rank, op: "repeat_interleave")
        let (length, overflow) = shape[a].multipliedReportingOverflow(by: count)
        var newShape = shape
        newShape[a] = length
        guard !overflow, (try? Tensor.checkedCount(newShape, op: "repeat_interleave")) != nil else {
            throw LoupeError("repeat_interleave: repeating shape \(describe(shape: shape)) \(count) times is too large")
        }
        var maps = identityMaps
        maps[a] = (0..<length).map { $0 / count }
        return mapped(maps, op: "repeat_interleave")
    }

    /// Repeats the whole tensor `multiples[i]` times along each axis (torch.tile; leading axes
    /// are added when `multiples` is longer than the rank).
    public func tiled(_ multiples: [Int]) throws -> Tensor {
        guard multiples.allSatisfy({ $0 >= 0 }) else {
            throw LoupeError("tile: multiples \(describe(shape: multiples)) must be non-negative")
        }
        var source = self
        if multiples.count > rank {
            source = try reshaped([Int](repeating: 1, count: multiples.count - rank) + shape)
        }
        let full = [Int](repeating: 1, count: source.rank - multiples.count) + multiples
        let tiledShape = zip(source.shape, full).map { $0.multipliedReportingOverflow(by: $1) }
        guard tiledShape.allSatisfy({ !$0.overflow }),
              (try? Tensor.checkedCount(tiledShape.map(\.partialValue), op: "tile")) != nil else {
            throw LoupeError("tile: tiling shape \(describe(shape: shape)) by \(describe(shape: multiples)) is too large")
        }
        let maps = zip(source.shape, full).map { n, k in (0..<(n * k)).map { $0 % n } }
        return source.mapped(maps, op: "tile")
    }
}
