import Foundation
import XCTest
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// DETR's configuration, saving, initialisation, gradients and errors (its numerics are in
/// DETRParityTests).
final class DETRModelTests: XCTestCase {
    static let tiny = DETRConfig(classes: 5, queries: 4, dim: 16, heads: 2, encoderLayers: 1, decoderLayers: 2, ffn: 32,
                                 backbone: "resnet18", width: 8, evalSize: 64, evalMaxSize: 96)

    static func model(_ config: DETRConfig = tiny, seed: UInt64 = 1) throws -> DETR {
        let model = try DETR(config)
        var generator = RandomGenerator(seed: seed)
        try model.initialize(generator: &generator)
        return model
    }

    static func run(_ model: DETR, _ x: Tensor, mask: Tensor? = nil) throws -> ModuleValue {
        var inputs: [(name: String, value: ModuleValue)] = [("x", .tensor(x))]
        if let mask { inputs.append(("mask", .tensor(mask))) }
        return try model(inputs: ModuleInputs(inputs))
    }

    func testOutputRecordShapes() throws {
        let model = try Self.model()
        var generator = RandomGenerator(seed: 2)
        let output = try Self.run(model, try Tensor.uniform([2, 3, 64, 96], generator: &generator))
        XCTAssertEqual(try output["pred_logits"]?.tensor("logits").shape, [2, 4, 6])
        let boxes = try XCTUnwrap(try output["pred_boxes"]?.tensor("boxes"))
        XCTAssertEqual(boxes.shape, [2, 4, 4])
        XCTAssertTrue(boxes.scalars.allSatisfy { $0 > 0 && $0 < 1 }, "boxes are sigmoids")
        guard case .list(let aux)? = output["aux_outputs"] else { return XCTFail("no aux_outputs") }
        XCTAssertEqual(aux.count, 1)
        XCTAssertEqual(try aux[0]["pred_boxes"]?.tensor("aux").shape, [2, 4, 4])
    }

    func testSaveAndRebuildFromMetadata() throws {
        let model = try Self.model()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("detr-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try saveModel(model, to: path)
        let rebuilt = try XCTUnwrap(try loadModel(path, architectures: .loupeModels) as? DETR)
        XCTAssertEqual(rebuilt.config, model.config)
        let x = try Tensor.full([1, 3, 64, 64], 0.3)
        XCTAssertEqual(try Self.run(rebuilt, x)["pred_logits"]?.tensor("l").scalars, try Self.run(model, x)["pred_logits"]?.tensor("l").scalars)
    }

    func testPaddingChangesNothingWhereTheMaskKeepsTheImageAlone() throws {
        // A batch of one image with an all-zero mask computes what the image alone computes.
        let model = try Self.model()
        var generator = RandomGenerator(seed: 3)
        let x = try Tensor.uniform([1, 3, 64, 64], generator: &generator)
        let plain = try Self.run(model, x)["pred_boxes"]?.tensor("b")
        let masked = try Self.run(model, x, mask: try Tensor.zeros([1, 64, 64]))["pred_boxes"]?.tensor("b")
        assertClose(try XCTUnwrap(masked), try XCTUnwrap(plain), rtol: 0, atol: 1e-6, "zero mask")
        // Padding one image changes its result (the positions and the attention see the mask).
        var mask = [Float](repeating: 0, count: 64 * 64)
        for y in 0..<64 { for x in 32..<64 { mask[y * 64 + x] = 1 } }
        let padded = try Self.run(model, x, mask: try Tensor(shape: [1, 64, 64], scalars: mask))["pred_boxes"]?.tensor("b")
        XCTAssertNotEqual(try XCTUnwrap(padded).scalars, try XCTUnwrap(plain).scalars)
    }

    func testGradientReachesTheInputImage() throws {
        let model = try Self.model()
        var generator = RandomGenerator(seed: 4)
        let x = try Tensor.uniform([1, 3, 64, 64], generator: &generator).requiringGrad()
        let logits = try XCTUnwrap(try Self.run(model, x)["pred_logits"]?.tensor("l"))
        let grads = try Autograd.gradients(of: try logits.sum(), wrt: [x])
        XCTAssertEqual(grads[0].shape, x.shape)
        XCTAssertGreaterThan(grads[0].scalars.map(abs).max() ?? 0, 0)
    }

    func testInitializationFollowsDETR() throws {
        let model = try Self.model(DETRConfig(classes: 3, queries: 50, dim: 64, heads: 4, encoderLayers: 1, decoderLayers: 1,
                                              ffn: 64, backbone: "resnet18", width: 8))
        let state = Dictionary(uniqueKeysWithValues: model.namedState().map { ($0.path, $0.parameter.value) })
        let inProj = try XCTUnwrap(state["transformer.encoder.layers.0.self_attn.in_proj_weight"])
        let bound = (6 / Float(192 + 64)).squareRoot()
        XCTAssertLessThanOrEqual(inProj.scalars.map(abs).max() ?? 1, bound)
        XCTAssertGreaterThan(inProj.scalars.map(abs).max() ?? 0, 0.9 * bound)
        XCTAssertEqual(state["transformer.encoder.layers.0.self_attn.in_proj_bias"]?.scalars.allSatisfy { $0 == 0 }, true)
        let queries = try XCTUnwrap(state["query_embed.weight"]).scalars
        let variance = queries.map { $0 * $0 }.reduce(0, +) / Float(queries.count)
        XCTAssertEqual(variance, 1, accuracy: 0.1, "query embeddings are standard normal")
        XCTAssertEqual(state["backbone.0.body.bn1.running_var"]?.scalars.allSatisfy { $0 == 1 }, true)
        XCTAssertNil(state["backbone.0.body.bn1.num_batches_tracked"], "frozen batch norm has no counter")
    }

    func testBadConfigurationsAndInputsAreClearErrors() throws {
        func message(_ body: () throws -> Any) -> String? {
            do { _ = try body(); return nil } catch { return (error as? LoupeError)?.message }
        }
        XCTAssertEqual(message { try DETR(DETRConfig(backbone: "vgg16")) },
                       "detr: backbone must be \"resnet18\", \"resnet34\", \"resnet50\" or \"resnet101\", got \"vgg16\"")
        XCTAssertEqual(message { try DETR(DETRConfig(dim: 250, heads: 8)) }, "detr: dim 250 is not divisible by heads 8")
        XCTAssertEqual(message { try DETR(DETRConfig(queries: 0)) }, "detr: queries must be positive, got 0")
        let model = try Self.model()
        XCTAssertEqual(message { try Self.run(model, try Tensor.zeros([1, 1, 64, 64])) },
                       "DETR: expected images [B, 3, H, W], got [1, 1, 64, 64]")
        XCTAssertEqual(message { try Self.run(model, try Tensor.zeros([1, 3, 64, 64]), mask: try Tensor.zeros([1, 32, 64])) },
                       "DETR: mask [1, 32, 64] does not match images [1, 3, 64, 64]; expected [1, 64, 64]")
        XCTAssertEqual(message { try model(try Tensor.zeros([1, 3, 64, 64])) },
                       "DETR at 'output' returns a record {pred_logits, pred_boxes, aux_outputs}, not a tensor: run it with its named inputs to get the record")
    }
}
