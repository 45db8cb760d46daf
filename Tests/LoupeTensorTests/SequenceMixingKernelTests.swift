import XCTest
import LoupeTensor
import LoupeTestSupport

/// The sequence-mixing kernels of the grafting operators: the causal depthwise convolution on
/// channels-last tokens, banded sliding-window attention and the selective (Mamba-2) scan, each
/// against an independent computation (the im2col/direct convolution path on transposed inputs,
/// masked full attention, hand-derived recurrences) and finite differences.
final class SequenceMixingKernelTests: XCTestCase {
    func random(_ shape: [Int], seed: UInt64, std: Float = 1) throws -> Tensor {
        var g = RandomGenerator(seed: seed)
        return try Tensor.normal(shape, std: std, generator: &g)
    }

    // MARK: Causal depthwise convolution

    /// `causal_conv1d` by NN.conv1d on the torch layout: [N, L, C] -> [N, C, L] -> back.
    func referenceConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?) throws -> Tensor {
        let y = try NN.conv1d(x.transposed(1, 2).contiguous(), weight: w, bias: b, groups: x.shape[2], causal: true)
        return try y.transposed(1, 2).contiguous()
    }

    func testCausalConvMatchesTheTorchLayoutConvolution() throws {
        // Lengths shorter than, equal to and longer than the kernel; 40 channels (not a multiple of 8).
        for (length, kernel) in [(2, 4), (4, 4), (37, 4), (9, 1), (6, 3)] {
            let x = try random([3, length, 40], seed: 1)
            let w = try random([40, 1, kernel], seed: 2), b = try random([40], seed: 3)
            let y = try NN.causalDepthwiseConv1d(x, weight: w, bias: b)
            assertClose(y, try referenceConv(x, w, b), rtol: 1e-5, atol: 1e-6, "L \(length) k \(kernel)")
            let noBias = try NN.causalDepthwiseConv1d(x, weight: try w.reshaped([40, kernel]))
            assertClose(noBias, try referenceConv(x, w, nil), rtol: 1e-5, atol: 1e-6, "no bias")
        }
    }

    func testCausalConvHandDerived() throws {
        // One channel, taps (1, 2, 3): y_t = 1 x_{t-2} + 2 x_{t-1} + 3 x_t + 10.
        let x = try Tensor(shape: [1, 4, 1], scalars: [1, 2, 3, 4])
        let y = try NN.causalDepthwiseConv1d(x, weight: try Tensor(shape: [1, 1, 3], scalars: [1, 2, 3]),
                                             bias: try Tensor(shape: [1], scalars: [10]))
        let expected: [Float] = [13, 18, 24, 30]  // 10 + 3*1; 10 + 2*1 + 3*2; 10 + 1 + 4 + 9; 10 + 2 + 6 + 12
        XCTAssertEqual(y.scalars, expected)
    }

    func testCausalConvGradientsMatchFiniteDifferences() throws {
        let x = try random([2, 6, 5], seed: 4), w = try random([5, 1, 4], seed: 5), b = try random([5], seed: 6)
        let r = try random([2, 6, 5], seed: 7)
        try assertGradientsMatchFiniteDifferences([x, w, b]) { t in
            try (try NN.causalDepthwiseConv1d(t[0], weight: t[1], bias: t[2]) * r).sum()
        }
    }

    func testCausalConvGradientsMatchTheTorchLayoutConvolutionAtWidth() throws {
        // Enough work to split the channels and rows over both workers.
        let x = try random([2, 300, 136], seed: 8).requiringGrad()
        let w = try random([136, 1, 4], seed: 9).requiringGrad(), b = try random([136], seed: 10).requiringGrad()
        let r = try random([2, 300, 136], seed: 11)
        let fast = try Autograd.gradients(of: (try NN.causalDepthwiseConv1d(x, weight: w, bias: b) * r).sum(), wrt: [x, w, b])
        let slow = try Autograd.gradients(of: (try referenceConv(x, w, b) * r).sum(), wrt: [x, w, b])
        for (a, e) in zip(fast, slow) { assertClose(a, e, rtol: 1e-4, atol: 1e-4) }
    }

    func testCausalConvRejectsBadShapes() throws {
        let x = try Tensor.zeros([1, 4, 3])
        XCTAssertThrowsError(try NN.causalDepthwiseConv1d(x, weight: try Tensor.zeros([4, 1, 2])))
        XCTAssertThrowsError(try NN.causalDepthwiseConv1d(x, weight: try Tensor.zeros([3, 2, 2])))
        XCTAssertThrowsError(try NN.causalDepthwiseConv1d(try Tensor.zeros([4, 3]), weight: try Tensor.zeros([3, 2])))
        XCTAssertThrowsError(try NN.causalDepthwiseConv1d(x, weight: try Tensor.zeros([3, 2]), bias: try Tensor.zeros([2])))
    }

    // MARK: Sliding-window attention

    /// Masked full attention (NN.attention's window) on q, k, v split from the fused layout.
    func referenceAttention(_ qkv: Tensor, heads: Int, window: Int) throws -> Tensor {
        let n = qkv.shape[0], l = qkv.shape[1], c = qkv.shape[2] / 3, d = c / heads
        let parts = try qkv.reshaped([n, l, 3, heads, d]).permuted([2, 0, 3, 1, 4])
        func part(_ i: Int) throws -> Tensor { try parts.sliced(axis: 0, start: i, end: i + 1).reshaped([n, heads, l, d]) }
        let out = try NN.scaledDotProductAttention(query: try part(0), key: try part(1), value: try part(2), window: window)
        return try out.transposed(1, 2).reshaped([n, l, c])
    }

    func testSlidingWindowMatchesMaskedFullAttention() throws {
        for (length, window) in [(20, 4), (3, 4), (9, 0), (12, 2)] {
            let qkv = try random([2, length, 3 * 24], seed: 12)
            let banded = try NN.slidingWindowAttention(qkv: qkv, heads: 3, left: window, right: window)
            assertClose(banded, try referenceAttention(qkv, heads: 3, window: window), rtol: 1e-5, atol: 1e-6,
                        "L \(length) window \(window)")
        }
    }

    func testAsymmetricWindowHandDerived() throws {
        // One head of width 1, window (1, 0): token i averages v_{i-1}, v_i by softmax(q k).
        // q = 1 everywhere, k = (0, ln 3, 0): token 1 weighs v_0 : v_1 = 1 : 3, token 2 weighs 3 : 1.
        let k: [Float] = [0, Float(log(3.0)), 0], v: [Float] = [4, 8, 16]
        let qkv = try Tensor(shape: [1, 3, 3], scalars: (0..<3).flatMap { [1, k[$0], v[$0]] })
        let y = try NN.slidingWindowAttention(qkv: qkv, heads: 1, left: 1, right: 0, scale: 1)
        assertClose(y, try Tensor(shape: [1, 3, 1], scalars: [4, (4 + 3 * 8) / 4, (3 * 8 + 16) / 4]), rtol: 1e-6)
    }

    func testSlidingWindowGradientsMatchFiniteDifferences() throws {
        let qkv = try random([2, 7, 3 * 6], seed: 13)
        let r = try random([2, 7, 6], seed: 14)
        for (left, right) in [(2, 2), (1, 3), (0, 0)] {
            try assertGradientsMatchFiniteDifferences([qkv]) { t in
                try (try NN.slidingWindowAttention(qkv: t[0], heads: 2, left: left, right: right) * r).sum()
            }
        }
    }

    func testSlidingWindowGradientMatchesMaskedFullAttention() throws {
        let qkv = try random([1, 40, 3 * 32], seed: 15).requiringGrad()
        let r = try random([1, 40, 32], seed: 16)
        let fast = try Autograd.gradients(of: (try NN.slidingWindowAttention(qkv: qkv, heads: 4, left: 4, right: 4) * r).sum(), wrt: [qkv])
        let slow = try Autograd.gradients(of: (try referenceAttention(qkv, heads: 4, window: 4) * r).sum(), wrt: [qkv])
        assertClose(fast[0], slow[0], rtol: 1e-4, atol: 1e-5)
    }

    func testSlidingWindowRejectsBadShapes() throws {
        XCTAssertThrowsError(try NN.slidingWindowAttention(qkv: try Tensor.zeros([1, 4, 10]), heads: 2, left: 1, right: 1))
        XCTAssertThrowsError(try NN.slidingWindowAttention(qkv: try Tensor.zeros([1, 4, 12]), heads: 3, left: 1, right: 1))
        XCTAssertThrowsError(try NN.slidingWindowAttention(qkv: try Tensor.zeros([1, 4, 12]), heads: 2, left: -1, right: 1))
    }

    // MARK: Selective scan

    func testScanHandDerivedScalarRecurrence() throws {
        // One head, P = S = 1: s_t = e^{dt A} s_{t-1} + dt x B, y = s C + D x.
        let x: [Float] = [1, 2, -1], dt: [Float] = [0.5, 1, 2], b: [Float] = [1, -1, 3], c: [Float] = [2, 1, 0.5]
        let a: Float = -0.7, d: Float = 0.3
        var s: Double = 0
        var expected: [Float] = []
        for t in 0..<3 {
            s = exp(Double(dt[t] * a)) * s + Double(dt[t] * x[t] * b[t])
            expected.append(Float(s * Double(c[t])) + d * x[t])
        }
        let y = try NN.selectiveScan(x: try Tensor(shape: [1, 3, 1], scalars: x), dt: try Tensor(shape: [1, 3, 1], scalars: dt),
                                     A: try Tensor(shape: [1], scalars: [a]), B: try Tensor(shape: [1, 3, 1], scalars: b),
                                     C: try Tensor(shape: [1, 3, 1], scalars: c), D: try Tensor(shape: [1], scalars: [d]), headDim: 1)
        assertClose(y, try Tensor(shape: [1, 3, 1], scalars: expected), rtol: 1e-6, atol: 1e-6)
    }

    /// The recurrence written out with tensors, one token at a time (the definition).
    func referenceScan(x: Tensor, dt: Tensor, a: Tensor, b: Tensor, c: Tensor, d: Tensor,
                       headDim p: Int, groups: Int) throws -> Tensor {
        let n = x.shape[0], l = x.shape[1], h = x.shape[2] / p, s = b.shape[2] / groups
        var out = [Float](repeating: 0, count: n * l * h * p)
        let xs = x.scalars, dts = dt.scalars, as_ = a.scalars, bs = b.scalars, cs = c.scalars, ds = d.scalars
        for image in 0..<n {
            for head in 0..<h {
                let g = head / (h / groups)
                var state = [Double](repeating: 0, count: p * s)
                for t in 0..<l {
                    let row = image * l + t, step = Double(dts[row * h + head])
                    let decay = exp(step * Double(as_[head]))
                    for i in 0..<p {
                        let xi = Double(xs[row * h * p + head * p + i])
                        var acc = 0.0
                        for j in 0..<s {
                            state[i * s + j] = decay * state[i * s + j] + step * xi * Double(bs[(row * groups + g) * s + j])
                            acc += state[i * s + j] * Double(cs[(row * groups + g) * s + j])
                        }
                        out[row * h * p + head * p + i] = Float(acc + Double(ds[head]) * xi)
                    }
                }
            }
        }
        return try Tensor(shape: x.shape, scalars: out)
    }

    func scanInputs(n: Int, l: Int, heads: Int, p: Int, groups: Int, s: Int, seed: UInt64) throws -> [Tensor] {
        let x = try random([n, l, heads * p], seed: seed)
        let dt = try random([n, l, heads], seed: seed + 1).softplus()
        var g = RandomGenerator(seed: seed + 2)
        let a = try Tensor.uniform([heads], low: -1.5, high: -0.2, generator: &g)
        let b = try random([n, l, groups * s], seed: seed + 3), c = try random([n, l, groups * s], seed: seed + 4)
        let d = try random([heads], seed: seed + 5)
        return [x, dt, a, b, c, d]
    }

    func testScanMatchesTheRecurrenceAcrossCheckpointsAndGroups() throws {
        // 150 tokens cross two 64-token checkpoints; two groups of two heads; state 12 (not a multiple of 8).
        let t = try scanInputs(n: 2, l: 150, heads: 4, p: 3, groups: 2, s: 12, seed: 20)
        let y = try NN.selectiveScan(x: t[0], dt: t[1], A: t[2], B: t[3], C: t[4], D: t[5], headDim: 3, groups: 2)
        let expected = try referenceScan(x: t[0], dt: t[1], a: t[2], b: t[3], c: t[4], d: t[5], headDim: 3, groups: 2)
        assertClose(y, expected, rtol: 1e-4, atol: 1e-4)
    }

    func testScanGradientsMatchFiniteDifferences() throws {
        let t = try scanInputs(n: 2, l: 5, heads: 4, p: 2, groups: 2, s: 3, seed: 30)
        let r = try random([2, 5, 8], seed: 36)
        try assertGradientsMatchFiniteDifferences(t, step: 1e-2, rtol: 2e-2, atol: 3e-3) { v in
            try (try NN.selectiveScan(x: v[0], dt: v[1], A: v[2], B: v[3], C: v[4], D: v[5], headDim: 2, groups: 2) * r).sum()
        }
    }

    func testScanGradientsAcrossCheckpointsMatchFiniteDifferences() throws {
        // 70 tokens: the backward pass recomputes a second chunk from its checkpoint. Only dt and
        // A (whose gradients depend on every state) are checked numerically.
        let t = try scanInputs(n: 1, l: 70, heads: 2, p: 2, groups: 1, s: 8, seed: 40)
        let dtSmall = try t[1] * 0.2
        let r = try random([1, 70, 4], seed: 46)
        try assertGradientsMatchFiniteDifferences([dtSmall, t[2]], step: 1e-2, rtol: 2e-2, atol: 3e-3) { v in
            try (try NN.selectiveScan(x: t[0], dt: v[0], A: v[1], B: t[3], C: t[4], D: t[5], headDim: 2) * r).sum()
        }
    }

    func testScanRejectsBadShapes() throws {
        let t = try scanInputs(n: 1, l: 4, heads: 2, p: 2, groups: 1, s: 3, seed: 50)
        XCTAssertThrowsError(try NN.selectiveScan(x: t[0], dt: t[1], A: t[2], B: t[3], C: t[4], headDim: 3))
        XCTAssertThrowsError(try NN.selectiveScan(x: t[0], dt: t[1], A: t[2], B: t[3], C: t[4], headDim: 2, groups: 3))
        XCTAssertThrowsError(try NN.selectiveScan(x: t[0], dt: t[1], A: t[2], B: t[3], C: try Tensor.zeros([1, 4, 2]), headDim: 2))
        XCTAssertThrowsError(try NN.selectiveScan(x: t[0], dt: t[1], A: try Tensor.zeros([3]), B: t[3], C: t[4], headDim: 2))
    }
}
