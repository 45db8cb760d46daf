import XCTest
@testable import LoupeModels
import LoupeTensor

final class ModuleTreeTests: XCTestCase {
    func testPathsAndTypes() throws {
        let model = try VisionTransformer(ViTConfig(imageSize: 32, patchSize: 8, dim: 48, depth: 2, heads: 3, classes: 10,
                                                    layerScale: 0.1))
        let modules = Dictionary(uniqueKeysWithValues: model.modules.map { ($0.path, $0.typeName) })
        XCTAssertEqual(modules[""], "VisionTransformer")
        XCTAssertEqual(modules["blocks"], "Sequential")
        XCTAssertEqual(modules["blocks.1"], "ViTBlock")
        XCTAssertEqual(modules["blocks.1.attn"], "Attention")
        XCTAssertEqual(modules["blocks.1.attn.qkv"], "Linear")
        XCTAssertEqual(modules["blocks.0.ls2"], "LayerScale")
        XCTAssertEqual(modules["patch_embed.proj"], "Conv2d")
        let names = model.namedParameters().map(\.path)
        XCTAssertEqual(Array(names.prefix(4)), ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"])
        XCTAssertTrue(names.contains("blocks.1.attn.qkv.weight"))
        XCTAssertTrue(names.contains("blocks.0.ls1.gamma"))
        XCTAssertTrue(model.namedBuffers().isEmpty)
        XCTAssertTrue(model.module(at: "blocks.1.mlp.fc2") is Linear)
        XCTAssertNil(model.module(at: "blocks.7"))
        // 48 * 3 * 64 + 48 conv, class token, 17 position embeddings, per block: 2 norms, qkv, proj, fc1, fc2, 2 gammas, final norm, head.
        let block = 4 * 48 + (48 * 144 + 144) + (48 * 48 + 48) + (48 * 192 + 192) + (192 * 48 + 48) + 2 * 48
        XCTAssertEqual(model.parameterCount, 48 * 192 + 48 + 48 + 17 * 48 + 2 * block + 2 * 48 + 48 * 10 + 10)
    }

    func testSummary() throws {
        let model = try VisionTransformer(ViTConfig(imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, classes: 3))
        let lines = model.summary.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "(root)              VisionTransformer  48")
        XCTAssertTrue(lines.contains("patch_embed.proj    Conv2d             392"), model.summary)
        XCTAssertTrue(lines.contains("blocks.0.attn       Attention"), model.summary)
        XCTAssertEqual(lines.last, "\(Module.grouped(model.parameterCount)) parameters")
        XCTAssertEqual(Module.grouped(1234567), "1,234,567")
    }

    func testBuffersJoinTheStateDict() throws {
        final class Norm: Module {
            init(size: Int) throws {
                super.init()
                registerParameter("weight", try Tensor.ones([size]))
                registerBuffer("running_mean", try Tensor.zeros([3]))
            }
        }
        let root = Sequential([try Norm(size: 3), try Linear(3, 2)])
        XCTAssertEqual(root.namedBuffers().map(\.path), ["0.running_mean"])
        XCTAssertEqual(Set(root.stateDict().keys), ["0.weight", "0.running_mean", "1.weight", "1.bias"])
        XCTAssertEqual(root.parameterCount, 3 + 6 + 2)
    }

    func testTrainableParametersAreLeavesTheOptimizerUpdatesInPlace() throws {
        let (model, c) = try TimmFixtures.model("deit3_p16")
        let parameters = model.parameters(trainable: true)
        XCTAssertEqual(parameters.count, model.namedParameters().count)
        XCTAssertTrue(parameters.allSatisfy(\.requiresGrad))
        let before = try forward(model, try c.tensor("input"))
        let loss = try before.sum()
        try loss.backward()
        XCTAssertNotNil(model.head!.weight.value.grad)
        let headBefore = model.head!.weight.value.scalars
        let optimizer = try SGD(parameters: parameters, learningRate: 0.1)
        try optimizer.step()
        XCTAssertNotEqual(model.head!.weight.value.scalars, headBefore)
        // Loading weights writes into the same storage, so the optimizer still holds the model's tensors.
        try loadWeights(model, from: TimmFixtures.weightsPath("deit3_p16"))
        XCTAssertEqual(model.head!.weight.value.scalars, headBefore)
        XCTAssertEqual(parameters.last!.scalars, model.namedParameters().last!.parameter.value.scalars)
        let inference = model.parameters(trainable: false)
        XCTAssertFalse(inference.contains(where: \.requiresGrad))
    }
}
