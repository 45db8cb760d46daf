/// The seeded random generator behind every random draw in Loupe.
///
/// It is PCG32 (O'Neill 2014, "PCG-XSH-RR 64/32"): a 64-bit linear congruential state with a
/// permuted 32-bit output. The same seed and stream give the same sequence on every machine.
/// Floats are drawn as `(next() >> 8) * 2^-24` in [0, 1); normals by the Box-Muller transform
/// using pairs of uniforms (both outputs are used).
public struct RandomGenerator: Sendable {
    private var state: UInt64
    private let increment: UInt64
    private var spareNormal: Float?

    /// Creates a generator from a seed and an optional stream number.
    public init(seed: UInt64, stream: UInt64 = 54) {
        increment = (stream << 1) | 1
        state = 0
        _ = next()
        state &+= seed
        _ = next()
    }

    /// The next 32 random bits.
    public mutating func next() -> UInt32 {
        let old = state
        state = old &* 6364136223846793005 &+ increment
        let xorshifted = UInt32(truncatingIfNeeded: ((old >> 18) ^ old) >> 27)
        let rotation = UInt32(truncatingIfNeeded: old >> 59)
        return (xorshifted >> rotation) | (xorshifted << ((~rotation &+ 1) & 31))
    }

    /// The next 64 random bits (two draws, high half first): a seed for another generator.
    public mutating func nextUInt64() -> UInt64 {
        UInt64(next()) << 32 | UInt64(next())
    }

    /// A uniform float in [0, 1).
    public mutating func nextUniform() -> Float {
        Float(next() >> 8) * (1.0 / 16_777_216.0)
    }

    /// A standard normal float.
    public mutating func nextNormal() -> Float {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        var u1 = nextUniform()
        while u1 <= 0 { u1 = nextUniform() }
        let u2 = nextUniform()
        let radius = (-2 * Float.log(u1)).squareRoot()
        let angle = 2 * Float.pi * u2
        spareNormal = radius * Float.sin(angle)
        return radius * Float.cos(angle)
    }

    /// A uniform integer in `0..<bound` (unbiased, Lemire's method).
    public mutating func nextInt(below bound: Int) -> Int {
        guard bound > 1 else { return 0 }
        let b = UInt64(bound)
        var product = UInt64(next()) &* b
        var low = product & 0xFFFF_FFFF
        if low < b {
            let threshold = (0x1_0000_0000 - b) % b
            while low < threshold {
                product = UInt64(next()) &* b
                low = product & 0xFFFF_FFFF
            }
        }
        if bound > Int(UInt32.max) {
            // Wide bounds: combine two draws.
            let wide = (UInt64(next()) << 32) | UInt64(next())
            return Int(wide % b)
        }
        return Int(product >> 32)
    }

    /// A random permutation of `0..<count` (Fisher-Yates).
    public mutating func permutation(_ count: Int) -> [Int] {
        var values = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {
                values.swapAt(i, nextInt(below: i + 1))
            }
        }
        return values
    }
}

extension Float {
    @usableFromInline static func log(_ x: Float) -> Float { Foundation_logf(x) }
    @usableFromInline static func sin(_ x: Float) -> Float { Foundation_sinf(x) }
    @usableFromInline static func cos(_ x: Float) -> Float { Foundation_cosf(x) }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func Foundation_logf(_ x: Float) -> Float { Glibc.logf(x) }
@usableFromInline func Foundation_sinf(_ x: Float) -> Float { Glibc.sinf(x) }
@usableFromInline func Foundation_cosf(_ x: Float) -> Float { Glibc.cosf(x) }
#endif
