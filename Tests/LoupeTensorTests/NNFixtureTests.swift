import XCTest
@testable import LoupeTensor
import LoupeTestSupport

/// Every NN op against PyTorch (Scripts/fixtures/nn_ops.py): forward output and the gradients
/// of every input under a random upstream gradient.
final class NNFixtureTests: XCTestCase {
    static let cases: [FixtureCase] = (try? Fixtures.load("nn_ops")) ?? []

    /// Runs `body` on the case's tensors (those with a `g_` gradient as leaves) and compares the
    /// output and input gradients with the fixture.
    func check(_ c: FixtureCase, rtol: Float = 1e-4, atol: Float = 1e-5,
               file: StaticString = #filePath, line: UInt = #line,
               _ body: ([String: Tensor]) throws -> Tensor) throws {
        let gradKeys = c.tensors.keys.filter { $0.hasPrefix("g_") }.map { String($0.dropFirst(2)) }.sorted()
        var inputs = c.tensors
        for key in gradKeys { inputs[key] = inputs[key]!.requiringGrad() }
        let out = try body(inputs)
        assertClose(out, try c.tensor("out"), rtol: rtol, atol: atol, "\(c.name) forward", file: file, line: line)
        guard !gradKeys.isEmpty else { return }
        let grads = try Autograd.gradients(of: out, wrt: gradKeys.map { inputs[$0]! }, seed: try c.tensor("gout"))
        for (key, g) in zip(gradKeys, grads) {
            assertClose(g, try c.tensor("g_" + key), rtol: rtol, atol: atol, "\(c.name) gradient of \(key)",
                        file: file, line: line)
        }
    }

    func cases(_ op: String) -> [FixtureCase] {
        let found = Self.cases.filter { $0.op == op }
        XCTAssertFalse(found.isEmpty, "no fixture cases for \(op)")
        return found
    }

    func pair(_ c: FixtureCase, _ key: String) -> (Int, Int) {
        let v = c.ints(key) ?? [0, 0]
        return (v[0], v[1])
    }

    func testFixtureLoads() {
        XCTAssertGreaterThan(Self.cases.count, 50)
    }

    func testLinear() throws {
        for c in cases("linear") {
            try check(c) { t in try NN.linear(t["x"]!, weight: t["w"]!, bias: t["b"]) }
        }
    }

    func testConv2d() throws {
        for c in cases("conv2d") {
            try check(c) { t in
                try NN.conv2d(t["x"]!, weight: t["w"]!, bias: t["b"], stride: pair(c, "stride"),
                              padding: pair(c, "padding"), dilation: pair(c, "dilation"), groups: c.int("groups")!)
            }
        }
    }

    func testConv1d() throws {
        for c in cases("conv1d") {
            try check(c) { t in
                try NN.conv1d(t["x"]!, weight: t["w"]!, bias: t["b"], stride: c.int("stride")!,
                              padding: c.int("padding")!, dilation: c.int("dilation")!, groups: c.int("groups")!,
                              causal: c.bool("causal")!)
            }
        }
    }

    func testConvTranspose2d() throws {
        for c in cases("convTranspose2d") {
            try check(c) { t in
                try NN.convTranspose2d(t["x"]!, weight: t["w"]!, bias: t["b"], stride: pair(c, "stride"),
                                       padding: pair(c, "padding"), outputPadding: pair(c, "outputPadding"),
                                       dilation: pair(c, "dilation"), groups: c.int("groups")!)
            }
        }
    }

    func testPooling() throws {
        for c in cases("avgPool2d") {
            try check(c) { t in
                try NN.avgPool2d(t["x"]!, kernel: pair(c, "kernel"), stride: pair(c, "stride"),
                                 padding: pair(c, "padding"), countIncludePad: c.bool("countIncludePad")!)
            }
        }
        for c in cases("maxPool2d") {
            try check(c) { t in
                try NN.maxPool2d(t["x"]!, kernel: pair(c, "kernel"), stride: pair(c, "stride"),
                                 padding: pair(c, "padding"), dilation: pair(c, "dilation"),
                                 ceilMode: c.bool("ceilMode") ?? false)
            }
        }
        for c in cases("adaptiveAvgPool2d") {
            try check(c) { t in try NN.adaptiveAvgPool2d(t["x"]!, outputSize: pair(c, "size")) }
        }
    }

    func testUpsampling() throws {
        for c in cases("upsampleNearest2d") {
            try check(c) { t in
                if let scale = c.float("scale") { return try NN.upsampleNearest2d(t["x"]!, scale: scale) }
                return try NN.upsampleNearest2d(t["x"]!, size: pair(c, "size"))
            }
        }
        for c in cases("upsampleBilinear2d") {
            try check(c) { t in
                let ac = c.bool("alignCorners")!
                if let scale = c.float("scale") { return try NN.upsampleBilinear2d(t["x"]!, scale: scale, alignCorners: ac) }
                return try NN.upsampleBilinear2d(t["x"]!, size: pair(c, "size"), alignCorners: ac)
            }
        }
    }

    /// torch.nn.functional.interpolate in every mode, by size and by (per-axis) scale.
    func testInterpolate() throws {
        for c in cases("interpolate") {
            try check(c) { t in
                let mode = try XCTUnwrap(NN.InterpolationMode(rawValue: c.string("mode")!))
                let ac = c.bool("alignCorners")!
                if let scale = c.args["scale"] as? [NSNumber] {
                    return try NN.interpolate(t["x"]!, scale: (scale[0].floatValue, scale[1].floatValue), mode: mode, alignCorners: ac)
                }
                return try NN.interpolate(t["x"]!, size: pair(c, "size"), mode: mode, alignCorners: ac)
            }
        }
    }

    func testNormalization() throws {
        for c in cases("layerNorm") {
            try check(c) { t in
                try NN.layerNorm(t["x"]!, shape: c.ints("shape")!, weight: t["w"], bias: t["b"], eps: c.float("eps")!)
            }
        }
        for c in cases("groupNorm") {
            try check(c) { t in
                try NN.groupNorm(t["x"]!, groups: c.int("groups")!, weight: t["w"], bias: t["b"], eps: c.float("eps")!)
            }
        }
        for c in cases("batchNorm") {
            var stats: (Tensor?, Tensor?) = (nil, nil)
            try check(c) { t in
                let r = try NN.batchNorm(t["x"]!, runningMean: t["mean"], runningVar: t["var"], weight: t["w"],
                                         bias: t["b"], training: c.bool("training")!, momentum: c.float("momentum")!,
                                         eps: c.float("eps")!)
                stats = (r.runningMean, r.runningVar)
                return r.output
            }
            if c.bool("training")! {
                assertClose(stats.0!, try c.tensor("new_mean"), "\(c.name) running mean")
                assertClose(stats.1!, try c.tensor("new_var"), "\(c.name) running variance")
            } else {
                assertClose(stats.0!, try c.tensor("mean"), "\(c.name) running mean unchanged")
            }
        }
    }

    func testSoftmax() throws {
        for c in cases("softmax") {
            try check(c) { t in try NN.softmax(t["x"]!, axis: c.int("axis")!) }
        }
        for c in cases("logSoftmax") {
            try check(c) { t in try NN.logSoftmax(t["x"]!, axis: c.int("axis")!) }
        }
    }

    func testAttention() throws {
        for c in cases("attention") {
            var probabilities: Tensor?
            try check(c) { t in
                var mask = t["mask"]
                if let keep = t["keep"] { mask = NN.additiveMask(keep: keep) }
                let r = try NN.attention(query: t["q"]!, key: t["k"]!, value: t["v"]!, mask: mask,
                                         window: c.int("window"), causal: c.bool("causal") ?? false,
                                         scale: c.float("scale"))
                probabilities = r.probabilities
                return r.output
            }
            assertClose(probabilities!, try c.tensor("probs"), rtol: 1e-4, atol: 1e-6, "\(c.name) probabilities")
        }
    }

    func testEmbedding() throws {
        for c in cases("embedding") {
            try check(c) { t in try NN.embedding(t["idx"]!, weight: t["w"]!) }
        }
    }

    func testLosses() throws {
        for c in cases("crossEntropy") {
            try check(c) { t in
                try NN.crossEntropy(logits: t["x"]!, targets: t["t"]!, labelSmoothing: c.float("labelSmoothing")!,
                                    weight: t["weight"], ignoreIndex: c.int("ignoreIndex") ?? -100,
                                    reduction: Reduction(rawValue: c.string("reduction")!)!)
            }
        }
        for op in ["mse", "l1", "huber", "smoothL1", "bceWithLogits"] {
            for c in cases(op) {
                try check(c) { t in
                    let x = t["x"]!, y = t["y"]!, red = Reduction(rawValue: c.string("reduction")!)!
                    switch op {
                    case "mse": return try NN.mse(x, y, reduction: red)
                    case "l1": return try NN.l1(x, y, reduction: red)
                    case "huber": return try NN.huber(x, y, delta: c.float("delta")!, reduction: red)
                    case "smoothL1": return try NN.smoothL1(x, y, beta: c.float("beta")!, reduction: red)
                    default:
                        guard let w = t["w"] else { return try NN.bceWithLogits(x, y, posWeight: t["pw"], reduction: red) }
                        // The element weight as the bce_with_logits builtin applies it.
                        return NN.reduce(try NN.bceWithLogits(x, y, posWeight: t["pw"], reduction: .none) * w, red)
                    }
                }
            }
        }
    }

    func testFFT() throws {
        for c in cases("rfft2") {
            try check(c) { t in try NN.rfft2(t["x"]!, norm: FFTNorm(rawValue: c.string("norm")!)!) }
        }
        for c in cases("irfft2") {
            try check(c) { t in
                try NN.irfft2(t["s"]!, size: pair(c, "size"), norm: FFTNorm(rawValue: c.string("norm")!)!)
            }
        }
    }
}
