import Foundation
import XCTest
import LoupeIO
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// Loupe's DETR against facebookresearch/detr's own modules (Scripts/fixtures/models_detr.py):
/// DETR-R50 at 128x160 and 96x96, and a ResNet-18 DETR on a padded batch of two image sizes
/// (the padding mask of DETR's `NestedTensor`). Weights and inputs come from formulas of the
/// tensor names and element indices, the same in the exporter and here.
final class DETRParityTests: XCTestCase {
    /// The exporter's `input_value`.
    static func formulaImage(height: Int, width: Int, seed: Int) throws -> Tensor {
        let values = FormulaWeights.uniformSigned(seed: 20011 + seed, count: 3 * height * width).map { Float(0.5 + 0.5 * $0) }
        return try Tensor(shape: [3, height, width], scalars: values)
    }

    struct Case {
        var config: DETRConfig
        var sizes: [[Int]]
        var keptQueries: Int
        var keys: [String]
        var expected: [String: Tensor]
    }

    static func load(_ name: String) throws -> Case {
        let file = try SafeTensorsFile(path: Fixtures.directory.appendingPathComponent("detr/\(name).safetensors").path)
        func json<T: Decodable>(_ key: String, _ type: T.Type) throws -> T {
            guard let text = file.metadata[key] else { throw LoupeError("fixture \(name): no metadata '\(key)'") }
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        }
        let config = try JSONDecoder().decode(DETRConfig.self, from: Data((file.metadata["config"] ?? "").utf8))
        return Case(config: config, sizes: try json("sizes", [[Int]].self), keptQueries: Int(file.metadata["keep_queries"] ?? "") ?? 0,
                    keys: try json("keys", [String].self), expected: try file.allTensors())
    }

    /// Images padded at the bottom and right to the largest size, with the mask (1 = padding).
    static func batch(_ sizes: [[Int]]) throws -> (images: Tensor, mask: Tensor?) {
        let images = try sizes.enumerated().map { try formulaImage(height: $1[0], width: $1[1], seed: $0) }
        guard images.count > 1 else { return (try images[0].reshaped([1, 3, sizes[0][0], sizes[0][1]]), nil) }
        let h = sizes.map { $0[0] }.max() ?? 0, w = sizes.map { $0[1] }.max() ?? 0
        var pixels = [Float](repeating: 0, count: images.count * 3 * h * w)
        var mask = [Float](repeating: 1, count: images.count * h * w)
        for (n, image) in images.enumerated() {
            let ih = image.shape[1], iw = image.shape[2], source = image.scalars
            for c in 0..<3 { for y in 0..<ih { for x in 0..<iw { pixels[((n * 3 + c) * h + y) * w + x] = source[(c * ih + y) * iw + x] } } }
            for y in 0..<ih { for x in 0..<iw { mask[(n * h + y) * w + x] = 0 } }
        }
        return (try Tensor(shape: [images.count, 3, h, w], scalars: pixels), try Tensor(shape: [images.count, h, w], scalars: mask))
    }

    func check(_ name: String) throws {
        let c = try Self.load(name)
        let model = try DETR(c.config)
        XCTAssertEqual(model.namedState().map(\.path).sorted(), c.keys.sorted(), "\(name): state-dict keys")
        try FormulaWeights.fill(model)
        let (images, mask) = try Self.batch(c.sizes)
        if let mask, let expectedMask = c.expected["mask"] { XCTAssertEqual(mask.scalars, expectedMask.scalars, "\(name): mask") }
        var inputs: [(name: String, value: ModuleValue)] = [("x", .tensor(images))]
        if let mask { inputs.append(("mask", .tensor(mask))) }
        let capture = ["input_proj", "backbone.1", "transformer.encoder.layers.*", "transformer.decoder.layers.*.normed"]
        let result = try GradMode.withoutGrad { try trace(model, inputs: ModuleInputs(inputs), capture: capture) }
        func compare(_ actual: Tensor?, _ key: String, queries: Bool = false) throws {
            guard let expected = c.expected[key] else { return XCTFail("\(name): fixture has no '\(key)'") }
            guard var actual else { return XCTFail("\(name): '\(key)' not computed") }
            if queries { actual = try actual.sliced(axis: 1, start: 0, end: c.keptQueries) }
            assertClose(actual, expected, rtol: 0, atol: 1e-4, "\(name) \(key)")
        }
        let output = result.output
        try compare(try output["pred_logits"]?.tensor("logits"), "pred_logits")
        try compare(try output["pred_boxes"]?.tensor("boxes"), "pred_boxes")
        guard case .list(let aux)? = output["aux_outputs"] else { return XCTFail("\(name): no aux_outputs list") }
        XCTAssertEqual(aux.count, c.config.decoderLayers - 1)
        for (i, item) in aux.enumerated() {
            try compare(try item["pred_logits"]?.tensor("aux logits"), "aux.\(i).pred_logits", queries: true)
            try compare(try item["pred_boxes"]?.tensor("aux boxes"), "aux.\(i).pred_boxes", queries: true)
        }
        try compare(result.activations["input_proj"], "input_proj")
        try compare(result.activations["backbone.1"], "pos")
        for i in 0..<c.config.encoderLayers { try compare(result.activations["transformer.encoder.layers.\(i)"], "encoder.\(i)") }
        for i in 0..<c.config.decoderLayers {
            try compare(result.activations["transformer.decoder.layers.\(i).normed"], "decoder.\(i)", queries: true)
        }
    }

    func testDETRR50MatchesAtANonSquareSize() throws { try check("r50_128x160") }

    func testDETRR50MatchesAtASquareSize() throws { try check("r50_96x96") }

    func testPaddedBatchOfTwoSizesMatches() throws { try check("r18_small_batch") }
}
