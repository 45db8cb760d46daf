/// Vectorizable erf and GELU.
///
/// erf(u), u = |x|, is computed branch-free from two approximations, fitted for this file by
/// least squares on Chebyshev nodes against double-precision erf (Scripts/fit_erf.py):
/// - u < 1: erf(u) = u + u * P(u^2), P of degree 6;
/// - u >= 1: erfc(u) = e^(-u^2) * Q(1/u), Q of degree 9 (u clamped to 9.3, where erfc underflows),
///   with u^2 split exactly into hi + lo so that e^(-u^2) keeps full relative accuracy.
/// Max error against double-precision erf is below 2 ulp (checked by a dense sweep in the
/// tests). GELU does not go through erf: `normalCDF` below computes Phi(x) = erfc(-x / sqrt 2) / 2
/// with one cheaper formula of relative accuracy, which keeps GELU's negative tail accurate where
/// the textbook 1 + erf(x) form cancels.
extension FastMath {
    /// erf(u) for 0 <= u < 1 (meaningless elsewhere).
    @inlinable @inline(__always)
    static func erfSmall(_ u: Float) -> Float {
        let z = u * u
        var p: Float = 7.8472614e-05
        p = multiplyAdd(p, z, -0.0008008192)
        p = multiplyAdd(p, z, 0.0051880996)
        p = multiplyAdd(p, z, -0.026853692)
        p = multiplyAdd(p, z, 0.112835824)
        p = multiplyAdd(p, z, -0.37612626)
        p = multiplyAdd(p, z, 0.12837917)
        return multiplyAdd(u, p, u)
    }

    /// erfc(u) for u >= 1 (0 beyond 9.3 and for infinity; meaningless below 1).
    @inlinable @inline(__always)
    static func erfcTail(_ u: Float) -> Float {
        let v = Swift.min(Swift.max(u, 1), 9.3)
        let t = 1 / v
        var q: Float = 0.071339406
        q = multiplyAdd(q, t, -0.3968809)
        q = multiplyAdd(q, t, 0.9398311)
        q = multiplyAdd(q, t, -1.1925348)
        q = multiplyAdd(q, t, 0.77159196)
        q = multiplyAdd(q, t, -0.049035106)
        q = multiplyAdd(q, t, -0.28166434)
        q = multiplyAdd(q, t, 0.00084860483)
        q = multiplyAdd(q, t, 0.5640835)
        q = multiplyAdd(q, t, 4.1357025e-06)
        // v^2 = hi + lo exactly: vh keeps 12 significant bits, so vh * vh is exact.
        let vh = Float(bitPattern: v.bitPattern & 0xffff_f000)
        let vl = v - vh
        let hi = vh * vh, lo = vl * (v + vh)
        let correction = 1 + lo * (-1 + lo * (0.5 + lo * (-1.0 / 6 + lo * (1.0 / 24))))  // e^-lo, |lo| < 0.05
        let value = (expCore(-hi) * correction) * q
        return u > 9.3 ? 0 : value
    }

    /// dst[i] = erf(src[i]). NaN stays NaN, erf(±inf) = ±1.
    @inlinable
    public static func erf(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = src[i]
            let u = Swift.abs(x)
            let r = u < 1 ? erfSmall(u) : 1 - erfcTail(u)
            let signed = x < 0 ? -r : r
            dst[i] = x != x ? x : signed
        }
    }

    /// Phi(x), the standard normal CDF 0.5 * erfc(-x / sqrt 2), accurate in both tails (relative
    /// accuracy as x -> -infinity). One branch-free formula for every x, cheaper than `erf`'s two:
    /// erfc(u) = t * e^(-u^2 + P(t)), t = 1 / (1 + u / 2), P of degree 9 (the Chebyshev fit of
    /// Numerical Recipes' erfcc, relative error 1.2e-7 for every u >= 0). u^2 = x^2 / 2 enters the
    /// exponent through one fused multiply-add, so rounding x / sqrt 2 only reaches t. Results
    /// below e^-87 (the float range of `expCore`, |x| > 13.2) are 0.
    @inlinable @inline(__always)
    static func normalCDF(_ x: Float) -> Float {
        let u = Swift.abs(x) * 0.70710677
        let t = 1 / multiplyAdd(u, 0.5, 1)
        var p: Float = 0.17087277
        p = multiplyAdd(p, t, -0.82215223)
        p = multiplyAdd(p, t, 1.48851587)
        p = multiplyAdd(p, t, -1.13520398)
        p = multiplyAdd(p, t, 0.27886807)
        p = multiplyAdd(p, t, -0.18628806)
        p = multiplyAdd(p, t, 0.09678418)
        p = multiplyAdd(p, t, 0.37409196)
        p = multiplyAdd(p, t, 1.00002368)
        p = multiplyAdd(p, t, -1.26551223)
        let exponent = multiplyAdd(-0.5 * x, x, p)
        let halfErfc = exponent < -87 ? 0 : 0.5 * t * expCore(Swift.max(exponent, -87))
        return x < 0 ? halfErfc : 1 - halfErfc
    }

    /// dst[i] = gelu(src[i]) = x * Phi(x) (the exact, erf form).
    @inlinable
    public static func gelu(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = src[i]
            dst[i] = x * normalCDF(x)
        }
    }

    /// dst[i] = grad[i] * gelu'(x[i]), gelu'(x) = Phi(x) + x * e^(-x^2 / 2) / sqrt(2 pi).
    @inlinable
    public static func geluBackward(grad: UnsafePointer<Float>, x: UnsafePointer<Float>,
                                    _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            let density = 0.3989422804014327 * expCore(Swift.max((-0.5 * v) * v, -87))
            dst[i] = grad[i] * (normalCDF(v) + v * density)
        }
    }
}
