/// SiLU `x / (1 + e^-x)` with `FastMath.expCore` (e^-x with -x clamped to [-87, 88], where the
/// quotient is already x or 0 to float precision): branch-free, so the loop vectorizes. NaN
/// stays NaN.
@usableFromInline struct SiLUKernel: UnaryKernel {
    @usableFromInline init() {}
    @inlinable @inline(__always) func callAsFunction(_ x: Float) -> Float {
        let e = FastMath.expCore(Swift.min(Swift.max(-x, -87), 88))
        let y = x / (1 + e)
        return x != x ? x : y
    }
}
