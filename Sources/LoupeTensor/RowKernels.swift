/// SIMD reductions over one contiguous row, the building blocks of the fused softmax and
/// normalization kernels. Eight-lane accumulators keep the loops vectorized; long rows are
/// summed in blocks whose partial sums are accumulated in Double.
enum RowKernels {
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Largest element (NaNs are skipped; -infinity for an empty row).
    @inline(__always)
    static func max(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: -.infinity)
        var j = 0
        while j + 16 <= n {
            let v = UnsafeRawPointer(p + j).loadUnaligned(as: SIMD16<Float>.self)
            acc.replace(with: v, where: v .> acc)
            j += 16
        }
        var m = acc[0]
        for k in 1..<16 where acc[k] > m { m = acc[k] }  // (SIMD's max() is an unspecialized generic call)
        while j < n {
            if p[j] > m { m = p[j] }
            j += 1
        }
        return m
    }

    /// Sum over `0..<n` in blocks of 2048 elements: each block's Float partial sum (from
    /// `partial(start, end)`) is accumulated in Double.
    @inline(__always)
    static func blocked(_ n: Int, _ partial: (Int, Int) -> Float) -> Double {
        var total: Double = 0
        var start = 0
        while start < n {
            let end = Swift.min(n, start + 2048)
            total += Double(partial(start, end))
            start = end
        }
        return total
    }

    /// Sum of `f(p[j])` for a vector function `f` applied lane-wise (and to the tail).
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, _ n: Int,
                    _ f: (SIMD8<Float>) -> SIMD8<Float> = { $0 }) -> Double {
        blocked(n) { start, end in
            var acc = SIMD8<Float>(repeating: 0)
            var j = start
            while j + 8 <= end {
                acc += f(load8(p + j))
                j += 8
            }
            var partial = acc.sum()
            if j < end {
                var tail = SIMD8<Float>(repeating: 0)
                for k in 0..<(end - j) { tail[k] = p[j + k] }
                let mapped = f(tail)
                for k in 0..<(end - j) { partial += mapped[k] }
            }
            return partial
        }
    }

    /// Sum of `a[j] * (b[j] - shift)` over a row (batch norm's backward), in the blocks of `sum`.
    @inline(__always)
    static func productSum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, shift: Float) -> Double {
        let s8 = SIMD8<Float>(repeating: shift)
        return blocked(n) { start, end in
            var acc = SIMD8<Float>(repeating: 0)
            var j = start
            while j + 8 <= end {
                acc += load8(a + j) * (load8(b + j) - s8)
                j += 8
            }
            var partial = acc.sum()
            while j < end {
                partial += a[j] * (b[j] - shift)
                j += 1
            }
            return partial
        }
    }

    /// Layer norm's backward sums over a row: sum of `g[j] w[j]` and of `g[j] w[j] (x[j] - mean) rstd`
    /// (`w` nil: 1), in the blocks of `sum`.
    @inline(__always)
    static func normGradientSums(_ g: UnsafePointer<Float>, _ w: UnsafePointer<Float>?, _ x: UnsafePointer<Float>,
                                 _ n: Int, mean: Float, rstd: Float) -> (Double, Double) {
        let m8 = SIMD8<Float>(repeating: mean), r8 = SIMD8<Float>(repeating: rstd)
        var sumG: Double = 0, sumGX: Double = 0
        var start = 0
        while start < n {
            let end = Swift.min(n, start + 2048)
            var accG = SIMD8<Float>(repeating: 0), accGX = SIMD8<Float>(repeating: 0)
            var j = start
            while j + 8 <= end {
                var gh = load8(g + j)
                if let w { gh *= load8(w + j) }
                accG += gh
                accGX += gh * ((load8(x + j) - m8) * r8)
                j += 8
            }
            var partialG = accG.sum(), partialGX = accGX.sum()
            while j < end {
                let gh = w.map { g[j] * $0[j] } ?? g[j]
                partialG += gh
                partialGX += gh * ((x[j] - mean) * rstd)
                j += 1
            }
            sumG += Double(partialG)
            sumGX += Double(partialGX)
            start = end
        }
        return (sumG, sumGX)
    }

    /// Mean and 1 / sqrt(biased variance + eps) of a row, in two passes (the second over the
    /// deviations from the mean, so large offsets do not cancel).
    @inline(__always)
    static func moments(_ p: UnsafePointer<Float>, _ n: Int, eps: Float) -> (mean: Float, rstd: Float) {
        let mean = Float(sum(p, n) / Double(n))
        let m8 = SIMD8<Float>(repeating: mean)
        let squares = sum(p, n) { v in let d = v - m8; return d * d }
        return (mean, 1 / (Float(squares / Double(n)) + eps).squareRoot())
    }
}
