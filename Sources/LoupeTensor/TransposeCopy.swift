/// Materialising views whose innermost axis is strided, e.g. transposes: when some other axis
/// has unit stride in the source, the copy is a set of 2-D transposes done in cache-sized tiles
/// (both reads and writes touch whole cache lines), on both cores for large tensors.
extension Tensor {
    /// Writes the values of this non-contiguous view into `dst` (row-major) when a tiled copy
    /// applies, and returns false otherwise (the caller then copies element by element).
    func tiledTransposeCopy(into dst: UnsafeMutablePointer<Float>) -> Bool {
        let r = rank
        guard r >= 2, strides[r - 1] != 1, shape[r - 1] > 1,
              let k = (0..<(r - 1)).last(where: { strides[$0] == 1 && shape[$0] > 1 }) else { return false }
        let rows = shape[k], cols = shape[r - 1]
        let srcColStride = strides[r - 1]
        let outStrides = Tensor.contiguousStrides(for: shape)
        let dstRowStride = outStrides[k]
        // The remaining axes, iterated as one flat "outer" index.
        let others = (0..<(r - 1)).filter { $0 != k }
        let outer = others.reduce(1) { $0 * shape[$1] }
        let src = UnsafePointer(storage.pointer + offset)
        let tile = 32
        let rowTiles = (rows + tile - 1) / tile
        let sizes = shape, steps = strides
        withExtendedLifetime(storage) {
            Parallel.forRanges(outer * rowTiles, minimum: Swift.max(1, Parallel.minimumParallelCount / Swift.max(1, tile * cols))) { start, end in
                for item in start..<end {
                    let o = item / rowTiles, rt = item % rowTiles
                    var rem = o, srcBase = 0, dstBase = 0
                    for axis in others.reversed() {
                        let i = rem % sizes[axis]
                        rem /= sizes[axis]
                        srcBase += i * steps[axis]
                        dstBase += i * outStrides[axis]
                    }
                    let a0 = rt * tile, a1 = Swift.min(rows, a0 + tile)
                    var b0 = 0
                    while b0 < cols {
                        let b1 = Swift.min(cols, b0 + tile)
                        for a in a0..<a1 {
                            let s = src + srcBase + a
                            let d = dst + dstBase + a * dstRowStride
                            for b in b0..<b1 { d[b] = s[b * srcColStride] }
                        }
                        b0 = b1
                    }
                }
            }
        }
        return true
    }
}
