/// The kernel behind slicing with steps, flips, rolls, index selection, repeats, tiling and
/// padding: every output coordinate on axis `a` reads source coordinate `maps[a][i]` (or
/// `fill` where it is -1). Its adjoint scatters (adds) back along the same maps, which is the
/// gradient of every such op.
extension Tensor {
    /// Output of shape `maps.map(\.count)` gathered from `self` (any strides) through `maps`.
    func gatherAlongMaps(_ maps: [[Int]], fill: Float = 0) -> Tensor {
        let outShape = maps.map(\.count)
        let result = Tensor.uninitialized(outShape)
        let total = result.count
        if total == 0 { return result }
        let dst = result.storage.pointer
        let src = storage.pointer + offset
        let r = outShape.count
        if r == 0 { dst[0] = src[0]; return result }
        let inner = outShape[r - 1]
        let lastMap = maps[r - 1]
        let lastStride = strides[r - 1]
        let rows = total / inner
        withExtendedLifetime(storage) {
            Parallel.forRanges(rows, minimum: Swift.max(1, Parallel.minimumParallelCount / inner)) { start, end in
                for row in start..<end {
                    // Source offset of this row, or nil when some axis reads padding.
                    var remaining = row
                    var base = 0
                    var valid = true
                    var axis = r - 2
                    while axis >= 0 {
                        let size = outShape[axis]
                        let s = maps[axis][remaining % size]
                        remaining /= size
                        if s < 0 { valid = false; break }
                        base += s * strides[axis]
                        axis -= 1
                    }
                    let out = dst + row * inner
                    if !valid {
                        for j in 0..<inner { out[j] = fill }
                        continue
                    }
                    let rowSrc = src + base
                    lastMap.withUnsafeBufferPointer { m in
                        for j in 0..<inner {
                            let s = m[j]
                            out[j] = s < 0 ? fill : rowSrc[s * lastStride]
                        }
                    }
                }
            }
        }
        return result
    }

    /// The adjoint of `gatherAlongMaps`: a contiguous tensor of `sourceShape` where every element
    /// of `self` (shaped `maps.map(\.count)`) is added at the source coordinate its maps name.
    func scatterAlongMaps(_ maps: [[Int]], sourceShape: [Int]) throws -> Tensor {
        let result = try Tensor.zeros(sourceShape)
        let grad = contiguous()
        let total = grad.count
        if total == 0 { return result }
        let dst = result.storage.pointer
        let src = grad.storage.pointer + grad.offset
        let r = sourceShape.count
        if r == 0 { dst[0] += src[0]; return result }
        let outShape = maps.map(\.count)
        let dstStrides = Tensor.contiguousStrides(for: sourceShape)
        let inner = outShape[r - 1]
        let rows = total / inner
        let lastMap = maps[r - 1]
        withExtendedLifetime(grad.storage) {
            for row in 0..<rows {
                var remaining = row
                var base = 0
                var valid = true
                var axis = r - 2
                while axis >= 0 {
                    let size = outShape[axis]
                    let s = maps[axis][remaining % size]
                    remaining /= size
                    if s < 0 { valid = false; break }
                    base += s * dstStrides[axis]
                    axis -= 1
                }
                if !valid { continue }
                let g = src + row * inner
                let out = dst + base
                for j in 0..<inner {
                    let s = lastMap[j]
                    if s >= 0 { out[s] += g[j] }
                }
            }
        }
        return result
    }

    /// Gathers through `maps` and records the scatter as its backward.
    func mapped(_ maps: [[Int]], op: String, fill: Float = 0) -> Tensor {
        let result = gatherAlongMaps(maps, fill: fill)
        let sourceShape = shape
        return Tensor.record(result, op: op, inputs: [self]) { grad in
            [try grad.scatterAlongMaps(maps, sourceShape: sourceShape)]
        }
    }

    /// Identity maps for every axis.
    var identityMaps: [[Int]] { shape.map { Array(0..<$0) } }
}
