import XCTest
import LoupeModels
import LoupeTensor

final class ViTInitializationTests: XCTestCase {
    func testInitializationFollowsTimmAndIsSeeded() throws {
        let config = ViTConfig(imageSize: 16, patchSize: 4, dim: 32, depth: 2, heads: 4, classes: 3, layerScale: 0.5)
        func make(seed: UInt64) throws -> VisionTransformer {
            let model = try VisionTransformer(config)
            var generator = RandomGenerator(seed: seed)
            try model.initialize(generator: &generator)
            return model
        }
        let a = try make(seed: 1), b = try make(seed: 1), c = try make(seed: 2)
        XCTAssertEqual(a.stateDict()["blocks.0.attn.qkv.weight"]?.scalars, b.stateDict()["blocks.0.attn.qkv.weight"]?.scalars)
        XCTAssertNotEqual(a.stateDict()["blocks.0.attn.qkv.weight"]?.scalars, c.stateDict()["blocks.0.attn.qkv.weight"]?.scalars)
        let qkv = a.stateDict()["blocks.0.attn.qkv.weight"]!.scalars
        let std = (qkv.map { $0 * $0 }.reduce(0, +) / Float(qkv.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.002)
        XCTAssertTrue(a.stateDict()["blocks.1.mlp.fc1.bias"]!.scalars.allSatisfy { $0 == 0 })
        XCTAssertTrue(a.stateDict()["blocks.1.ls2.gamma"]!.scalars.allSatisfy { $0 == 0.5 })
        XCTAssertTrue(a.stateDict()["fc_norm.weight"] == nil && a.stateDict()["norm.weight"]!.scalars.allSatisfy { $0 == 1 })
        let bound = 1 / Float(3 * 16).squareRoot()
        XCTAssertTrue(a.stateDict()["patch_embed.proj.weight"]!.scalars.allSatisfy { abs($0) <= bound })
        var generator = RandomGenerator(seed: 3)
        let x = try Tensor.normal([2, 3, 16, 16], generator: &generator)
        XCTAssertTrue(try forward(a, x).scalars.allSatisfy(\.isFinite))
    }

    func testAFewOptimizerStepsLowerTheLoss() throws {
        let model = try VisionTransformer(ViTConfig(imageSize: 8, patchSize: 4, dim: 16, depth: 1, heads: 2, classes: 2))
        var generator = RandomGenerator(seed: 5)
        try model.initialize(generator: &generator)
        let x = try Tensor.normal([4, 3, 8, 8], generator: &generator)
        let labels = Tensor([0, 1, 1, 0])
        let optimizer = try AdamW(parameters: model.parameters(trainable: true), learningRate: 1e-2)
        func loss() throws -> Tensor { try NN.crossEntropy(logits: try forward(model, x), targets: labels) }
        let first = try loss().item()
        for _ in 0..<10 {
            optimizer.zeroGrad()
            try loss().backward()
            try optimizer.step()
        }
        XCTAssertLessThan(try loss().item(), first * 0.8)
    }
}
