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
                        transposeTile(src + srcBase, srcColStride, dst + dstBase, dstRowStride, a0, a1, b0, b1)
                        b0 = b1
                    }
                }
            }
        }
        return true
    }

    /// dst[a * dstRowStride + b] = src[b * srcColStride + a] over the tile a0..<a1, b0..<b1:
    /// 4x4 blocks transposed in registers (contiguous 4-float loads and stores), scalar edges.
    @inline(__always)
    private func transposeTile(_ src: UnsafePointer<Float>, _ srcColStride: Int, _ dst: UnsafeMutablePointer<Float>,
                               _ dstRowStride: Int, _ a0: Int, _ a1: Int, _ b0: Int, _ b1: Int) {
        var a = a0
        while a + 4 <= a1 {
            var b = b0
            while b + 4 <= b1 {
                let s = src + b * srcColStride + a
                let r0 = UnsafeRawPointer(s).loadUnaligned(as: SIMD4<Float>.self)
                let r1 = UnsafeRawPointer(s + srcColStride).loadUnaligned(as: SIMD4<Float>.self)
                let r2 = UnsafeRawPointer(s + 2 * srcColStride).loadUnaligned(as: SIMD4<Float>.self)
                let r3 = UnsafeRawPointer(s + 3 * srcColStride).loadUnaligned(as: SIMD4<Float>.self)
                let d = dst + a * dstRowStride + b
                UnsafeMutableRawPointer(d).storeBytes(of: SIMD4(r0[0], r1[0], r2[0], r3[0]), as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(d + dstRowStride).storeBytes(of: SIMD4(r0[1], r1[1], r2[1], r3[1]), as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(d + 2 * dstRowStride).storeBytes(of: SIMD4(r0[2], r1[2], r2[2], r3[2]), as: SIMD4<Float>.self)
                UnsafeMutableRawPointer(d + 3 * dstRowStride).storeBytes(of: SIMD4(r0[3], r1[3], r2[3], r3[3]), as: SIMD4<Float>.self)
                b += 4
            }
            for row in a..<(a + 4) {
                for col in b..<b1 { dst[row * dstRowStride + col] = src[col * srcColStride + row] }
            }
            a += 4
        }
        for row in a..<a1 {
            for col in b0..<b1 { dst[row * dstRowStride + col] = src[col * srcColStride + row] }
        }
    }
}
