import CBLAS
#if canImport(Glibc)
import Glibc
#endif

/// Vectorizable float32 kernels for the hot transcendental functions.
///
/// `exp` uses Cephes' range reduction x = n ln2 + r (ln2 split in two parts) and a degree-7
/// polynomial for e^r, scaled by 2^n through the exponent bits; the loop has no calls or branches
/// so the compiler vectorizes it. Max error is about 1 ulp over [-87, 88] (checked against the
/// C library in the tests); inputs outside that range or NaN fall back to the C library.
public enum FastMath {
    /// 1.5 * 2^23: adding and subtracting it rounds a float of magnitude < 2^22 to the nearest
    /// integer with plain SSE arithmetic (`rounded()` compiles to a libm call per element on
    /// baseline x86-64, which stops vectorization).
    @usableFromInline static let roundingMagic: Float = 12582912

    /// a * b + c, one fused multiply-add instruction where the target CPU has FMA (release
    /// builds use the machine's own CPU); a multiply and an add otherwise, because without the
    /// instruction a fused multiply-add is a libm call per element and stops vectorization.
    @inlinable @inline(__always)
    public static func multiplyAdd(_ a: Float, _ b: Float, _ c: Float) -> Float {
        LOUPE_HAS_FMA != 0 ? c.addingProduct(a, b) : a * b + c
    }

    /// e^x for x already within [-87, 88] (the polynomial of `exp`).
    @inlinable @inline(__always)
    public static func expCore(_ x: Float) -> Float {
        let magic = roundingMagic
        let n = multiplyAdd(x, 1.44269504088896341, magic) - magic
        var r = multiplyAdd(n, -0.693359375, x)
        r = multiplyAdd(n, 2.12194440e-4, r)
        var p: Float = 1.9875691500e-4
        p = multiplyAdd(p, r, 1.3981999507e-3)
        p = multiplyAdd(p, r, 8.3334519073e-3)
        p = multiplyAdd(p, r, 4.1665795894e-2)
        p = multiplyAdd(p, r, 1.6666665459e-1)
        p = multiplyAdd(p, r, 5.0000001201e-1)
        let e = multiplyAdd(p, r * r, r) + 1
        return e * Float(bitPattern: UInt32(bitPattern: Int32(n) &+ 127) &<< 23)
    }

    /// dst[i] = e^(sign * src[i] + offset) for i in 0..<count (sign is +1 or -1). `src` and
    /// `dst` must not overlap.
    @inlinable
    public static func exp(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int,
                           sign: Float = 1, offset: Float = 0) {
        var outside: UInt32 = 0  // nonzero when some input needs the C library (an OR reduction)
        for i in 0..<count {
            let y = sign * src[i] + offset
            let x = Swift.min(Swift.max(y, -87), 88)
            outside |= x == y ? 0 : 1  // clamped or NaN
            dst[i] = expCore(x)
        }
        if outside == 0 { return }
        for i in 0..<count {
            let x = sign * src[i] + offset
            if !(x >= -87 && x <= 88) { dst[i] = expf(x) }
        }
    }
}

extension FastMath {
    /// dst[i] = tanh(src[i]): Cephes' odd polynomial below |x| = 0.625, otherwise
    /// 1 - 2 / (e^(2|x|) + 1) with the sign restored. Branch-free, so it vectorizes.
    @inlinable
    public static func tanh(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let x = src[i]
            let a = Swift.min(Swift.abs(x), 9)
            // e^(2a) by the same reduction as `exp` (2a lies in [0, 18]).
            let e = expCore(2 * a)
            let large = 1 - 2 / (e + 1)
            let z = x * x
            var q: Float = -5.70498872745e-3
            q = multiplyAdd(q, z, 2.06390887954e-2)
            q = multiplyAdd(q, z, -5.37397155531e-2)
            q = multiplyAdd(q, z, 1.33314422036e-1)
            q = multiplyAdd(q, z, -3.33332819422e-1)
            let small = multiplyAdd(q * z, x, x)
            let signed = x < 0 ? -large : large
            dst[i] = a < 0.625 ? small : signed
        }
        for i in 0..<count where src[i].isNaN { dst[i] = .nan }
    }
}

extension Tensor {
    /// Applies a pointer kernel `(src, dst, count)` over contiguous ranges on both cores.
    @inline(__always)
    func pointwise(_ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let source = contiguous()
        let result = Tensor.uninitialized(shape)
        let src = UnsafePointer(source.storage.pointer + source.offset)
        let dst = result.storage.pointer
        withExtendedLifetime(source.storage) {
            Parallel.forRanges(result.count) { start, end in kernel(src + start, dst + start, end - start) }
        }
        return result
    }
}
