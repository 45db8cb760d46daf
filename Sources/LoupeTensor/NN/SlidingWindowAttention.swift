extension NN {
    /// Multi-head softmax attention in which token `i` attends only to tokens `i - left ...
    /// i + right` of its sequence (clipped at the ends): flash-attn's `window_size=(left, right)`,
    /// non-causal. Works on the fused projection of timm / flash-attn layouts and computes only
    /// the band, so time and memory grow as `L * (left + right + 1)`, not `L^2`.
    /// - Parameters:
    ///   - qkv: `[N, L, 3 * C]`, each token's features laid out as (three, heads, headDim) (the
    ///     output of a fused `qkv` / `Wqkv` linear).
    ///   - heads: the number of heads (`C` divisible by it).
    ///   - scale: score scale, default `1 / sqrt(headDim)`.
    /// - Returns: `[N, L, C]`, heads merged (the input of the output projection).
    public static func slidingWindowAttention(qkv: Tensor, heads: Int, left: Int, right: Int,
                                              scale: Float? = nil) throws -> Tensor {
        let op = "slidingWindowAttention"
        guard qkv.rank == 3, qkv.shape[2] % 3 == 0, heads >= 1, (qkv.shape[2] / 3) % heads == 0 else {
            throw LoupeError("\(op): qkv \(describe(shape: qkv.shape)) is not [N, L, 3 * C] with C divisible by \(heads) heads")
        }
        guard left >= 0, right >= 0 else {
            throw LoupeError("\(op): window (\(left), \(right)) must be non-negative for qkv \(describe(shape: qkv.shape))")
        }
        let n = qkv.shape[0], l = qkv.shape[1], c = qkv.shape[2] / 3, d = c / heads
        let band = left + right + 1
        _ = try Tensor.checkedCount([n, heads, l, band], op: op)
        let s = scale ?? 1 / Float(max(d, 1)).squareRoot()
        let xc = qkv.contiguous()
        let result = Tensor.uninitialized([n, l, c])
        // Band probabilities [N, heads, L, band]: column `w` of row `i` is key `i - left + w`.
        let probabilities = zeroTensor([n, heads, l, band])
        withExtendedLifetime(xc) {
            let src = UnsafePointer(base(xc)), dst = base(result), pp = base(probabilities)
            Parallel.forEach(n * heads) { task in
                let b = task / heads, h = task % heads
                let rows = src + b * l * 3 * c
                for i in 0..<l {
                    let lo = max(0, i - left), hi = min(l - 1, i + right)
                    let q = rows + i * 3 * c + h * d
                    let p = pp + (task * l + i) * band + (lo - (i - left))
                    var m = -Float.infinity
                    for j in lo...hi {
                        let score = s * dotProduct(q, rows + j * 3 * c + c + h * d, d)
                        p[j - lo] = score
                        m = Swift.max(m, score)
                    }
                    var total: Float = 0
                    for j in 0...(hi - lo) {
                        let z = p[j] - m
                        let e = z < -87 ? 0 : FastMath.expCore(z)
                        p[j] = e; total += e
                    }
                    let inv = 1 / total
                    let out = dst + (b * l + i) * c + h * d
                    out.update(repeating: 0, count: d)
                    for j in lo...hi {
                        let w = p[j - lo] * inv
                        p[j - lo] = w
                        let v = rows + j * 3 * c + 2 * c + h * d
                        for e in 0..<d { out[e] += w * v[e] }
                    }
                }
            }
        }
        let xd = xc.detached()
        return Tensor.record(result, op: op, inputs: [qkv]) { grad in
            let g = grad.contiguous()
            let gqkv = zeroTensor([n, l, 3 * c])
            withExtendedLifetime((g, xd, probabilities)) {
                let src = UnsafePointer(base(xd)), pg = UnsafePointer(base(g)), pp = UnsafePointer(base(probabilities))
                let dst = base(gqkv)
                // Each task owns the columns of one head of one image, so writes never overlap.
                Parallel.forEach(n * heads) { task in
                    let b = task / heads, h = task % heads
                    let rows = src + b * l * 3 * c, grows = dst + b * l * 3 * c
                    var dp = [Float](repeating: 0, count: band)
                    dp.withUnsafeMutableBufferPointer { dpb in
                        let dps = dpb.baseAddress!
                        for i in 0..<l {
                            let lo = max(0, i - left), hi = min(l - 1, i + right)
                            let p = pp + (task * l + i) * band + (lo - (i - left))
                            let go = pg + (b * l + i) * c + h * d
                            // dP = dO . v_j; dS = P (dP - sum P dP).
                            var weighted: Float = 0
                            for j in lo...hi {
                                let v = rows + j * 3 * c + 2 * c + h * d
                                let dv = grows + j * 3 * c + 2 * c + h * d
                                let pj = p[j - lo]
                                dps[j - lo] = dotProduct(go, v, d)
                                weighted += pj * dps[j - lo]
                                for e in 0..<d { dv[e] += pj * go[e] }
                            }
                            let q = rows + i * 3 * c + h * d, dq = grows + i * 3 * c + h * d
                            for j in lo...hi {
                                let ds = s * p[j - lo] * (dps[j - lo] - weighted)
                                let k = rows + j * 3 * c + c + h * d, dk = grows + j * 3 * c + c + h * d
                                for e in 0..<d { dq[e] += ds * k[e]; dk[e] += ds * q[e] }
                            }
                        }
                    }
                }
            }
            return [gqkv]
        }
    }

    /// `sum a[i] * b[i]` over `count` floats, eight lanes at a time.
    @inline(__always)
    static func dotProduct(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            acc += RowKernels.load8(a + i) * RowKernels.load8(b + i)
            i += 8
        }
        var total = acc.sum()
        while i < count { total += a[i] * b[i]; i += 1 }
        return total
    }
}
