import Foundation

extension NN {
    /// Softmax along `axis` (stable: the row maximum is subtracted), parallel over rows.
    public static func softmax(_ x: Tensor, axis: Int = -1) throws -> Tensor {
        try softmaxKernel(x, axis: axis, log: false, op: "softmax")
    }

    /// Log-softmax along `axis` (stable log-sum-exp), parallel over rows.
    public static func logSoftmax(_ x: Tensor, axis: Int = -1) throws -> Tensor {
        try softmaxKernel(x, axis: axis, log: true, op: "logSoftmax")
    }

    /// Splits a shape around `axis` into (outer, size, inner).
    static func split(_ shape: [Int], axis: Int) -> (Int, Int, Int) {
        let outer = shape[..<axis].reduce(1, *)
        let inner = shape[(axis + 1)...].reduce(1, *)
        return (outer, shape[axis], inner)
    }

    /// Softmax (or log-softmax) of one contiguous row: SIMD max, one FastMath.exp pass, SIMD sum.
    @inline(__always)
    static func softmaxRow(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int, log: Bool) {
        var m = RowKernels.max(s, n)
        if m == -.infinity { m = 0 }
        FastMath.exp(s, d, count: n, offset: -m)
        if log {
            let lse = m + Foundation.log(Float(RowKernels.sum(UnsafePointer(d), n)))
            for j in 0..<n { d[j] = s[j] - lse }
        } else {
            let sum = Float(RowKernels.sum(UnsafePointer(d), n))
            let r = sum > 0 ? 1 / sum : 0
            for j in 0..<n { d[j] *= r }
        }
    }

    private static func softmaxKernel(_ x: Tensor, axis: Int, log: Bool, op: String) throws -> Tensor {
        guard x.rank >= 1 else {
            throw LoupeError("\(op): needs at least one dimension, got shape \(describe(shape: x.shape))")
        }
        let a = try Tensor.normalizeAxis(axis, rank: x.rank, op: op)
        let (outer, n, inner) = split(x.shape, axis: a)
        let xc = x.contiguous()
        let result = Tensor.uninitialized(x.shape)
        withExtendedLifetime(xc) {
            let src = base(xc), dst = base(result)
            let lines = outer * inner
            if inner == 1 {
                Parallel.forRanges(outer, minimum: max(1, (1 << 14) / max(n, 1))) { start, end in
                    for row in start..<end { softmaxRow(src + row * n, dst + row * n, n, log: log) }
                }
                return
            }
            Parallel.forRanges(lines, minimum: max(1, (1 << 15) / max(n, 1))) { start, end in
                for line in start..<end {
                    let o = line / inner, i = line % inner
                    let s = src + o * n * inner + i, d = dst + o * n * inner + i
                    var m = -Float.infinity
                    for j in 0..<n { m = max(m, s[j * inner]) }
                    if m == -.infinity { m = 0 }
                    var sum: Float = 0
                    for j in 0..<n {
                        let e = Foundation.exp(s[j * inner] - m)
                        d[j * inner] = e
                        sum += e
                    }
                    if log {
                        let lse = m + Foundation.log(sum)
                        for j in 0..<n { d[j * inner] = s[j * inner] - lse }
                    } else {
                        let r = sum > 0 ? 1 / sum : 0
                        for j in 0..<n { d[j * inner] *= r }
                    }
                }
            }
        }
        let y = result.detached()
        return Tensor.record(result, op: op, inputs: [x]) { grad in
            let g = grad.contiguous()
            let gx = Tensor.uninitialized(y.shape)
            withExtendedLifetime((g, y)) {
                let pg = base(g), py = base(y), dx = base(gx)
                Parallel.forRanges(outer * inner, minimum: max(1, (1 << 15) / max(n, 1))) { start, end in
                    for line in start..<end {
                        let off = (line / inner) * n * inner + line % inner
                        var dot: Float = 0
                        if log {
                            for j in 0..<n { dot += pg[off + j * inner] }
                            for j in 0..<n {
                                let k = off + j * inner
                                dx[k] = pg[k] - Foundation.exp(py[k]) * dot
                            }
                        } else {
                            for j in 0..<n { dot += pg[off + j * inner] * py[off + j * inner] }
                            for j in 0..<n {
                                let k = off + j * inner
                                dx[k] = py[k] * (pg[k] - dot)
                            }
                        }
                    }
                }
            }
            return [gx]
        }
    }
}
