import Foundation
import XCTest
import LoupeGrafting
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// The grafting operators as modules: their reference initialisations, saving a model grafted
/// with them and rebuilding it by architecture name, and their errors.
final class OperatorModuleTests: XCTestCase {
    func values(_ p: Parameter) -> [Float] { p.value.scalars }

    func testInitializationIsSeededAndFollowsTorchDefaults() throws {
        func make(_ seed: UInt64) throws -> HyenaX {
            let h = try HyenaX(dim: 48)
            var g = RandomGenerator(seed: seed)
            try h.initialize(generator: &g)
            return h
        }
        let a = try make(1), b = try make(1), c = try make(2)
        XCTAssertEqual(values(a.inProj.weight), values(b.inProj.weight))
        XCTAssertNotEqual(values(a.inProj.weight), values(c.inProj.weight))
        // kaiming_uniform(a = sqrt(5)) and the bias: U(±1/sqrt(fan_in)); fan_in 48 for the
        // projections, 4 (one channel, 4 taps) for the depthwise filter.
        for (parameter, bound) in [(a.inProj.weight, 1 / Float(48).squareRoot()), (a.outProj.bias!, 1 / Float(48).squareRoot()),
                                   (a.shortFilter.weight, 0.5), (a.shortFilter.bias, 0.5)] {
            let v = values(parameter)
            XCTAssertLessThanOrEqual(v.map(abs).max()!, bound)
            XCTAssertGreaterThan(v.map(abs).max()!, 0.9 * bound)
            XCTAssertEqual(v.reduce(0, +) / Float(v.count), 0, accuracy: 0.1 * bound)
        }
    }

    func testHyenaYInnerFilterStartsAtIdentity() throws {
        let h = try HyenaY(dim: 8)
        var g = RandomGenerator(seed: 3)
        try h.initialize(generator: &g)
        XCTAssertEqual(values(h.innerFilter.weight), (0..<8).flatMap { _ in [0, 0, 0, 1] as [Float] })
        XCTAssertEqual(values(h.innerFilter.bias), [Float](repeating: 0, count: 8))
        // With the identity filter, y = out_proj(q * (k * v)).
        var xg = RandomGenerator(seed: 4)
        let x = try Tensor.normal([2, 5, 8], generator: &xg)
        let qkv = try h.inProj(x).split(sizes: [8, 8, 8], axis: 2)
        assertClose(try h(x), try h.outProj(try qkv[0] * (try qkv[1] * qkv[2])), rtol: 1e-5, atol: 1e-6)
        let se = try HyenaSE(dim: 8)
        try se.initialize(generator: &g)
        XCTAssertEqual(values(se.innerFilter.weight), values(h.innerFilter.weight))
        XCTAssertNotEqual(values(se.shortFilter.weight).filter { $0 != 0 }.count, 0)
    }

    func testMamba2InitializationFollowsMambaSSM() throws {
        let m = try Mamba2(Mamba2.Config(dModel: 64, dState: 16, headdim: 8))
        var g = RandomGenerator(seed: 5)
        try m.initialize(generator: &g)
        let steps = values(m.dtBias).map { log1p(exp($0)) }  // softplus(dt_bias)
        XCTAssertEqual(steps.count, 16)
        for s in steps { XCTAssertGreaterThanOrEqual(s, 0.001 * 0.999); XCTAssertLessThanOrEqual(s, 0.1 * 1.001) }
        for a in values(m.aLog).map(exp) { XCTAssertGreaterThanOrEqual(a, 1 - 1e-5); XCTAssertLessThanOrEqual(a, 16 + 1e-4) }
        XCTAssertEqual(values(m.d), [Float](repeating: 1, count: 16))
        XCTAssertEqual(values(m.norm.weight), [Float](repeating: 1, count: 128))
        XCTAssertEqual(m.conv1d.weight.shape, [128 + 32, 1, 4])
        XCTAssertLessThanOrEqual(values(m.conv1d.weight).map(abs).max()!, 0.5)
    }

    /// A ViT-Ti-like model (17 tokens of width 32) with every operator grafted in.
    func graftedViT() throws -> (ReplacedModel, VisionTransformer) {
        let vit = try VisionTransformer(ViTConfig(imageSize: 16, patchSize: 4, dim: 32, depth: 3, heads: 4, classes: 5))
        var g = RandomGenerator(seed: 6)
        try vit.initialize(generator: &g)
        let hyenaSE = try HyenaSE(dim: 32), mamba = try Mamba2(Mamba2.Config(dModel: 32, dState: 8, headdim: 8))
        let swa = try SlidingWindowAttention(dim: 32, heads: 4), mlpHyena = try MLPHyenaX(dim: 32, tokens: 17)
        try hyenaSE.initialize(generator: &g)
        try mamba.initialize(generator: &g)
        try swa.initialize(generator: &g)
        try mlpHyena.initialize(generator: &g)
        var model = try replace(vit, at: "blocks.0.attn", with: hyenaSE)
        model = try replace(model, at: "blocks.1.attn", with: mamba)
        model = try replace(model, at: "blocks.2.attn", with: swa)
        model = try replace(model, at: "blocks.0.mlp", with: mlpHyena)
        model = try replace(model, at: "blocks.1.mlp", with: try GraftingArchitectures.ratioMLP(dim: 32, ratio: 3, generator: &g))
        return (model, vit)
    }

    func testAGraftedModelSavesAndRebuildsThroughTheCatalog() throws {
        let (model, _) = try graftedViT()
        var g = RandomGenerator(seed: 7)
        let image = try Tensor.normal([2, 3, 16, 16], generator: &g)
        let expected = try GradMode.withoutGrad { try model(image) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("grafted-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try saveModel(model, to: path)
        let rebuilt = try loadModel(path, architectures: try GraftingArchitectures.catalog)
        XCTAssertEqual(rebuilt.modules.map(\.typeName), model.modules.map(\.typeName))
        XCTAssertEqual(try GradMode.withoutGrad { try rebuilt(image) }.scalars, expected.scalars)
        XCTAssertTrue(rebuilt.stateDict().keys.contains("blocks.1.attn.A_log"))
        XCTAssertTrue(rebuilt.stateDict().keys.contains("blocks.2.attn.Wqkv.weight"))
        // LoupeModels' own catalog does not know the operators, and says which one is missing.
        XCTAssertThrowsError(try loadModel(path, architectures: try ArchitectureCatalog.loupeModels)) { error in
            XCTAssertTrue("\(error)".contains("unknown architecture"), "\(error)")
        }
    }

    func testASequentialOfOperatorsRebuilds() throws {
        var g = RandomGenerator(seed: 8)
        let x1 = try HyenaX(dim: 16), y1 = try HyenaY(dim: 16)
        try x1.initialize(generator: &g)
        try y1.initialize(generator: &g)
        let chain = Sequential([x1, y1, try GraftingArchitectures.ratioMLP(dim: 16, ratio: 6, generator: &g)])
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("chain-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try saveModel(chain, to: path)
        let rebuilt = try loadModel(path, architectures: try GraftingArchitectures.catalog)
        let x = try Tensor.normal([1, 6, 16], generator: &g)
        XCTAssertEqual(try rebuilt(x).scalars, try chain(x).scalars)
        let mlp = try XCTUnwrap(rebuilt.module(at: "2") as? MLP)
        XCTAssertTrue(mlp.act.approximate)
        XCTAssertEqual(mlp.fc1.weight.shape, [96, 16])
    }

    func testSlidingWindowCopiedFromAttentionEqualsItWhenTheWindowCoversTheSequence() throws {
        let attention = try Attention(dim: 24, heads: 3)
        var g = RandomGenerator(seed: 9)
        for linear in [attention.qkv, attention.proj] { try linear.resetParameters(generator: &g) }
        let x = try Tensor.normal([2, 7, 24], generator: &g)
        let wide = try SlidingWindowAttention(copying: attention, left: 6, right: 6)
        assertClose(try wide(x), try attention(x), rtol: 1e-5, atol: 1e-6)
        let narrow = try SlidingWindowAttention(copying: attention)
        XCTAssertGreaterThan(try (try narrow(x) - attention(x)).abs().max().item(), 1e-3)
    }

    func testBadInputsAndSizesAreNamed() throws {
        let hyena = try HyenaX(dim: 8)
        XCTAssertThrowsError(try hyena(try Tensor.zeros([1, 4, 6]))) { XCTAssertTrue("\($0)".contains("[N, T, 8]"), "\($0)") }
        XCTAssertThrowsError(try hyena(try Tensor.zeros([4, 8])))
        let mlp = try MLPHyenaX(dim: 8, tokens: 16)
        XCTAssertThrowsError(try mlp(try Tensor.zeros([1, 15, 8]))) { XCTAssertTrue("\($0)".contains("l_max = 16"), "\($0)") }
        XCTAssertThrowsError(try Mamba2(Mamba2.Config(dModel: 10, headdim: 3)))
        XCTAssertThrowsError(try SlidingWindowAttention(dim: 10, heads: 3))
        XCTAssertThrowsError(try HyenaY(dim: 0))
        XCTAssertThrowsError(try GraftingArchitectures.catalog.build(architecture: "swa", configurationJSON: #"{"embed_dim": 8}"#))
        XCTAssertThrowsError(try GraftingArchitectures.catalog.build(architecture: "swa",
            configurationJSON: #"{"embed_dim": 8, "num_heads": 2, "window_size": [4], "qkv_proj_bias": true, "out_proj_bias": true}"#))
    }
}
