import XCTest
@testable import LoupeTensor
import LoupeTestSupport

/// Finite-difference checks of composed blocks (conv-bn-relu, attention block, losses) and
/// hand-derived behaviour.
final class NNCompositeTests: XCTestCase {
    func random(_ shape: [Int], _ rng: inout RandomGenerator, scale: Float = 1) throws -> Tensor {
        try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextNormal() * scale })
    }

    /// ReLU for the tests (elementwise ops live elsewhere).
    func relu(_ x: Tensor) -> Tensor {
        let y = x.map { max($0, 0) }
        let mask = x.detached().map { $0 > 0 ? 1 : 0 }
        return Tensor.record(y, op: "relu", inputs: [x]) { g in [try g * mask] }
    }

    func testConvBatchNormReluBlockGradients() throws {
        var rng = RandomGenerator(seed: 11)
        let x = try random([2, 2, 5, 4], &rng)
        let w = try random([3, 2, 3, 3], &rng, scale: 0.5)
        let gamma = try random([3], &rng), beta = try random([3], &rng)
        let r = try random([2, 3, 3, 2], &rng)
        try assertGradientsMatchFiniteDifferences([x, w, gamma, beta], step: 2e-3, rtol: 3e-2, atol: 1e-2) { t in
            let y = try NN.conv2d(t[0], weight: t[1], stride: (2, 1), padding: (1, 0))
            let bn = try NN.batchNorm(y, runningMean: nil, runningVar: nil, weight: t[2], bias: t[3], training: true)
            return NN.reduce(try self.relu(bn.output) * r, .sum)
        }
    }

    func testAttentionBlockGradients() throws {
        var rng = RandomGenerator(seed: 12)
        let (l, e, heads) = (5, 6, 2)
        let x = try random([1, l, e], &rng)
        let wq = try random([e, e], &rng, scale: 0.4), wk = try random([e, e], &rng, scale: 0.4)
        let wv = try random([e, e], &rng, scale: 0.4), wo = try random([e, e], &rng, scale: 0.4)
        let bo = try random([e], &rng), lnw = try random([e], &rng)
        let r = try random([1, l, e], &rng)
        func split(_ t: Tensor) throws -> Tensor {
            try t.reshaped([1, l, heads, e / heads]).permuted([0, 2, 1, 3])
        }
        try assertGradientsMatchFiniteDifferences([x, wq, wk, wv, wo, bo, lnw], step: 1e-2, rtol: 3e-2, atol: 5e-3) { t in
            let q = try split(NN.linear(t[0], weight: t[1]))
            let k = try split(NN.linear(t[0], weight: t[2]))
            let v = try split(NN.linear(t[0], weight: t[3]))
            let a = try NN.attention(query: q, key: k, value: v, window: 2).output
            let merged = try a.permuted([0, 2, 1, 3]).reshaped([1, l, e])
            let y = try NN.linear(merged, weight: t[4], bias: t[5]) + t[0]
            return NN.reduce(try NN.layerNorm(y, shape: [e], weight: t[6]) * r, .sum)
        }
    }

    func testDecoderBlockGradients() throws {
        var rng = RandomGenerator(seed: 17)
        let x = try random([1, 4, 3, 3], &rng)
        let w = try random([4, 3, 3, 3], &rng, scale: 0.5), dw = try random([6, 1, 3, 3], &rng, scale: 0.5)
        let gamma = try random([6], &rng)
        let r = try random([1, 6, 2, 2], &rng)
        try assertGradientsMatchFiniteDifferences([x, w, dw, gamma], step: 1e-2, rtol: 3e-2, atol: 5e-3) { t in
            let up = try NN.convTranspose2d(t[0], weight: t[1], stride: 2, padding: 1, outputPadding: 1)
            let big = try NN.upsampleBilinear2d(up, size: (8, 7), alignCorners: false)
            let d = try NN.conv2d(big, weight: t[2], stride: 1, padding: 1, groups: 3)
            let n = try NN.groupNorm(d, groups: 2, weight: t[3])
            let pooled = try NN.adaptiveAvgPool2d(try NN.avgPool2d(n, kernel: 2, countIncludePad: false), outputSize: 2)
            return NN.reduce(try NN.logSoftmax(pooled * r, axis: 1), .sum)
        }
    }

    func testLossGradients() throws {
        var rng = RandomGenerator(seed: 13)
        let logits = try random([4, 5], &rng)
        let targets = Tensor([0, 4, 2, 2])
        try assertGradientsMatchFiniteDifferences([logits]) { t in
            try NN.crossEntropy(logits: t[0], targets: targets, labelSmoothing: 0.1)
        }
        let x = try random([3, 4], &rng), y = try random([3, 4], &rng)
        try assertGradientsMatchFiniteDifferences([x, y]) { t in
            try NN.bceWithLogits(t[0], NN.softmax(t[1], axis: 1)) + NN.huber(t[0], t[1], delta: 0.5, reduction: .sum)
        }
    }

    func testFourierParameterizationRoundTrip() throws {
        var rng = RandomGenerator(seed: 14)
        let image = try random([2, 6, 5], &rng)
        let spectrum = try NN.rfft2(image, norm: .ortho)
        XCTAssertEqual(spectrum.shape, [2, 6, 3, 2])
        assertClose(try NN.irfft2(spectrum, size: (6, 5), norm: .ortho), image, rtol: 1e-4, atol: 1e-5, "round trip")
        let r = try random([2, 6, 5], &rng)
        try assertGradientsMatchFiniteDifferences([spectrum]) { t in
            NN.reduce(try NN.irfft2(t[0], size: (6, 5), norm: .ortho) * r, .sum)
        }
    }

    func testDropoutIsSeededAndScaled() throws {
        let x = try Tensor.ones([10_000])
        var a = RandomGenerator(seed: 5), b = RandomGenerator(seed: 5)
        let ya = try NN.dropout(x, p: 0.25, training: true, generator: &a)
        let yb = try NN.dropout(x, p: 0.25, training: true, generator: &b)
        XCTAssertEqual(ya.scalars, yb.scalars)
        let kept = ya.scalars.filter { $0 != 0 }
        XCTAssertTrue(kept.allSatisfy { abs($0 - 1 / 0.75) < 1e-6 })
        XCTAssertEqual(Double(kept.count) / 10_000, 0.75, accuracy: 0.02)
        XCTAssertEqual(try NN.dropout(x, p: 0.5, training: false, generator: &a).scalars, x.scalars)
    }

    func testFullyMaskedQueryGetsZeroProbabilities() throws {
        var rng = RandomGenerator(seed: 15)
        let q = try random([2, 3], &rng), k = try random([4, 3], &rng), v = try random([4, 2], &rng)
        let keep = try Tensor(shape: [2, 4], scalars: [0, 0, 0, 0, 1, 0, 1, 0])
        let r = try NN.attention(query: q, key: k, value: v, mask: NN.additiveMask(keep: keep))
        XCTAssertEqual(Array(r.probabilities.scalars[0..<4]), [0, 0, 0, 0])
        XCTAssertEqual(r.probabilities.scalars[5], 0)
        XCTAssertEqual(r.probabilities.scalars[4] + r.probabilities.scalars[6], 1, accuracy: 1e-6)
    }

    func testCausalConv1dSeesOnlyThePast() throws {
        let x = try Tensor(shape: [1, 1, 5], scalars: [1, 2, 3, 4, 5])
        let w = try Tensor(shape: [1, 1, 2], scalars: [10, 1])
        // y[t] = 10 x[t - 2] + x[t] with dilation 2 (zero before the start).
        XCTAssertEqual(try NN.conv1d(x, weight: w, dilation: 2, causal: true).scalars, [1, 2, 13, 24, 35])
    }

    func testBatchedConvMatchesPerItemConv() throws {
        var rng = RandomGenerator(seed: 16)
        let x = try random([2, 32, 28, 28], &rng), w = try random([48, 32, 3, 3], &rng, scale: 0.1)
        let y = try NN.conv2d(x, weight: w, stride: 1, padding: 1)
        // Batch item 1 alone must give the same result as inside the batch.
        let x1 = try Tensor(shape: [1, 32, 28, 28], scalars: Array(x.scalars[(32 * 28 * 28)...]))
        let y1 = try NN.conv2d(x1, weight: w, stride: 1, padding: 1)
        assertClose(y1, try Tensor(shape: [1, 48, 28, 28], scalars: Array(y.scalars[(48 * 28 * 28)...])), "batch item")
    }
}
