#if canImport(Glibc)
import Glibc
#endif

/// Unary elementwise functions and their gradients. Transcendentals use the C library's
/// single-precision functions (correctly rounded to within 1 ulp on glibc); the surrounding
/// loops run over contiguous buffers on both cores for large tensors.
extension Tensor {
    /// Applies `forward` elementwise and records a backward of `grad * derivative(x, y)`.
    @inline(__always)
    func unaryOp(_ op: String, _ forward: @escaping (Float) -> Float,
                 derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Tensor {
        recordUnary(op, map(forward), derivative: derivative)
    }

    /// `unaryOp` with a kernel type for the forward pass (a vectorized loop).
    @inline(__always)
    func unaryOp<K: UnaryKernel>(_ op: String, kernel: K,
                                 derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Tensor {
        recordUnary(op, unaryMap(kernel), derivative: derivative)
    }

    /// An elementwise activation whose backward is `backward(grad, x)` (or `(grad, y)` when
    /// `savingOutput`), both as kernel types so forward and backward loops vectorize.
    @inline(__always)
    func activation<K: UnaryKernel, B: BinaryKernel>(_ op: String, _ kernel: K, backward: B,
                                                     savingOutput: Bool) -> Tensor {
        let result = unaryMap(kernel)
        guard GradMode.isEnabled && requiresGrad else { return result }
        let saved = savingOutput ? result : detached()
        return Tensor.record(result, op: op, inputs: [self]) { grad in
            [try Tensor.binaryMap(grad, saved, op: op, backward)]
        }
    }

    @inline(__always)
    func recordUnary(_ op: String, _ result: Tensor, derivative: @escaping (_ x: Float, _ y: Float) -> Float) -> Tensor {
        guard GradMode.isEnabled && requiresGrad else { return result }
        let input = detached()
        let output = result
        return Tensor.record(result, op: op, inputs: [self]) { grad in
            [Tensor.ternaryMap(grad, input, output) { g, x, y in g * derivative(x, y) }]
        }
    }

    /// Elementwise `body(a, b, c)` over three tensors of one shape into a new contiguous tensor.
    @inline(__always)
    static func ternaryMap(_ a: Tensor, _ b: Tensor, _ c: Tensor,
                           _ body: @escaping (Float, Float, Float) -> Float) -> Tensor {
        let ca = a.contiguous(), cb = b.contiguous(), cc = c.contiguous()
        let result = Tensor.uninitialized(a.shape)
        let pa = ca.storage.pointer + ca.offset, pb = cb.storage.pointer + cb.offset
        let pc = cc.storage.pointer + cc.offset, dst = result.storage.pointer
        withExtendedLifetime((ca.storage, cb.storage, cc.storage)) {
            Parallel.forRanges(result.count) { start, end in
                for i in start..<end { dst[i] = body(pa[i], pb[i], pc[i]) }
            }
        }
        return result
    }

    /// Absolute value (gradient 0 at 0).
    public func abs() -> Tensor {
        unaryOp("abs", kernel: AbsKernel()) { x, _ in x > 0 ? 1 : (x < 0 ? -1 : 0) }
    }

    /// e^x.
    public func exp() -> Tensor {
        let result = pointwise { src, dst, n in FastMath.exp(src, dst, count: n) }
        return Tensor.record(result, op: "exp", inputs: [self]) { grad in [try grad * result] }
    }

    /// Natural logarithm.
    public func log() -> Tensor { unaryOp("log", { logf($0) }) { x, _ in 1 / x } }

    /// Square root.
    public func sqrt() -> Tensor { unaryOp("sqrt", kernel: SquareRootKernel()) { _, y in 0.5 / y } }

    /// 1 / sqrt(x).
    public func rsqrt() -> Tensor {
        unaryOp("rsqrt", { 1 / $0.squareRoot() }) { _, y in -0.5 * y * y * y }
    }

    /// Sine.
    public func sin() -> Tensor { unaryOp("sin", { sinf($0) }) { x, _ in cosf(x) } }

    /// Cosine.
    public func cos() -> Tensor { unaryOp("cos", { cosf($0) }) { x, _ in -sinf(x) } }

    /// Hyperbolic tangent.
    public func tanh() -> Tensor {
        let result = pointwise { src, dst, n in FastMath.tanh(src, dst, count: n) }
        return Tensor.record(result, op: "tanh", inputs: [self]) { grad in
            [try Tensor.binaryMap(grad, result, op: "tanh", TanhBackwardKernel())]
        }
    }

    /// Logistic sigmoid 1 / (1 + e^-x).
    public func sigmoid() -> Tensor {
        let result = pointwise { src, dst, n in
            FastMath.exp(src, dst, count: n, sign: -1)
            for i in 0..<n { dst[i] = 1 / (1 + dst[i]) }
        }
        return Tensor.record(result, op: "sigmoid", inputs: [self]) { grad in
            [try Tensor.binaryMap(grad, result, op: "sigmoid", SigmoidBackwardKernel())]
        }
    }

    @usableFromInline
    static func sigmoidScalar(_ x: Float) -> Float {
        if x >= 0 { return 1 / (1 + expf(-x)) }
        let e = expf(x)
        return e / (1 + e)
    }

    /// max(x, 0) (gradient 0 at 0, as torch).
    public func relu() -> Tensor {
        activation("relu", ReluKernel(), backward: ReluBackwardKernel(), savingOutput: false)
    }

    /// x for x > 0, slope * x otherwise.
    public func leakyRelu(slope: Float = 0.01) -> Tensor {
        activation("leaky_relu", LeakyReluKernel(slope: slope), backward: LeakyReluBackwardKernel(slope: slope),
                   savingOutput: false)
    }

    /// GELU: exact x * Phi(x) (erf form), or torch's tanh approximation when `approximate`.
    public func gelu(approximate: Bool = false) -> Tensor {
        if approximate { return geluTanh() }
        let result = pointwise { src, dst, n in FastMath.gelu(src, dst, count: n) }
        guard GradMode.isEnabled && requiresGrad else { return result }
        let input = detached().contiguous()
        return Tensor.record(result, op: "gelu", inputs: [self]) { grad in
            let g = grad.contiguous()
            let gx = Tensor.uninitialized(input.shape)
            let pg = UnsafePointer(g.storage.pointer + g.offset), px = UnsafePointer(input.storage.pointer + input.offset)
            let dst = gx.storage.pointer
            withExtendedLifetime((g.storage, input.storage)) {
                Parallel.forRanges(gx.count) { start, end in
                    FastMath.geluBackward(grad: pg + start, x: px + start, dst + start, count: end - start)
                }
            }
            return [gx]
        }
    }

    /// torch's `gelu(approximate="tanh")`, `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`:
    /// the tanh of each chunk of 256 elements by the vectorized `FastMath.tanh`, forward and backward.
    private func geluTanh() -> Tensor {
        let k: Float = 0.7978845608028654  // sqrt(2 / pi)
        let c: Float = 0.044715
        /// dst[j] = tanh(k (x + c x^3)) for a chunk.
        @inline(__always) func tanhOfInner(_ x: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ m: Int) {
            for j in 0..<m { let v = x[j]; dst[j] = k * (v + c * (v * v * v)) }
            FastMath.tanh(UnsafePointer(dst), dst, count: m)
        }
        let result = pointwise { src, dst, n in
            var i = 0
            while i < n {
                let m = Swift.min(256, n - i)
                tanhOfInner(src + i, dst + i, m)
                for j in i..<(i + m) { dst[j] = 0.5 * src[j] * (1 + dst[j]) }
                i += m
            }
        }
        guard GradMode.isEnabled && requiresGrad else { return result }
        let input = detached().contiguous()
        return Tensor.record(result, op: "gelu", inputs: [self]) { grad in
            let g = grad.contiguous()
            let gx = Tensor.uninitialized(input.shape)
            let pg = UnsafePointer(g.storage.pointer + g.offset), px = UnsafePointer(input.storage.pointer + input.offset)
            let dst = gx.storage.pointer
            withExtendedLifetime((g.storage, input.storage)) {
                Parallel.forRanges(gx.count) { start, end in
                    var i = start
                    while i < end {
                        let m = Swift.min(256, end - i)
                        tanhOfInner(px + i, dst + i, m)
                        for j in i..<(i + m) {
                            let x = px[j], t = dst[j]
                            dst[j] = pg[j] * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x))
                        }
                        i += m
                    }
                }
            }
            return [gx]
        }
    }

    /// The error function erf(x) (vectorized; within 2 ulp of the exact value).
    public func erf() -> Tensor {
        let result = pointwise { src, dst, n in FastMath.erf(src, dst, count: n) }
        guard GradMode.isEnabled && requiresGrad else { return result }
        let input = detached()
        return Tensor.record(result, op: "erf", inputs: [self]) { grad in
            // d/dx erf(x) = 2 / sqrt(pi) * e^(-x^2)
            [Tensor.ternaryMap(grad, input, input) { g, x, _ in g * 1.1283791670955126 * expf(-x * x) }]
        }
    }

    /// SiLU (swish): x * sigmoid(x) (a vectorized kernel, `SiLUKernel`).
    public func silu() -> Tensor {
        unaryOp("silu", kernel: SiLUKernel()) { x, _ in
            let s = Tensor.sigmoidScalar(x)
            return s * (1 + x * (1 - s))
        }
    }

    /// log(1 + e^(beta x)) / beta, and x itself where beta * x > threshold (torch semantics).
    public func softplus(beta: Float = 1, threshold: Float = 20) -> Tensor {
        unaryOp("softplus", { x in
            let z = beta * x
            return z > threshold ? x : log1pf(expf(z)) / beta
        }) { x, _ in
            let z = beta * x
            return z > threshold ? 1 : Tensor.sigmoidScalar(z)
        }
    }

    /// Values limited to [min, max] (either bound optional). The gradient passes where
    /// min <= x <= max, as torch.clamp.
    public func clamped(min low: Float? = nil, max high: Float? = nil) throws -> Tensor {
        guard low != nil || high != nil else {
            throw LoupeError("clamp: at least one of min and max must be given")
        }
        let lo = low ?? -.infinity, hi = high ?? .infinity
        // As torch: NaN stays NaN, and max wins when min > max.
        return unaryOp("clamp", { x in
            let raised = x < lo ? lo : x
            return raised > hi ? hi : raised
        }) { x, _ in
            x >= lo && x <= hi ? 1 : 0
        }
    }

    /// x raised to a constant power.
    public func pow(_ exponent: Float) -> Tensor {
        if exponent == 2 {
            return unaryOp("pow", { $0 * $0 }) { x, _ in 2 * x }
        }
        return unaryOp("pow", { powf($0, exponent) }) { x, _ in
            exponent == 0 ? 0 : exponent * powf(x, exponent - 1)
        }
    }
}
