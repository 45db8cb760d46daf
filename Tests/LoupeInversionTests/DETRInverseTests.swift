import XCTest
import LoupeInputOptimization
@testable import LoupeInversion
import LoupeTensor
import LoupeModels
import LoupeTestSupport
import LoupeIO

/// The DETR inverse chain: module shapes and wiring, the padded transposed convolution against a
/// direct loop, saving, modular training and the layer report with detection agreement.
final class DETRInverseTests: XCTestCase {
    func tinyDETR(seed: UInt64 = 1) throws -> DETR {
        let config = DETRConfig(classes: 3, queries: 5, dim: 16, heads: 2, encoderLayers: 1, decoderLayers: 2, ffn: 32,
                                backbone: "resnet18", width: 8, channels: 3, frozenBatchNorm: true, evalSize: 64, evalMaxSize: 64)
        let model = try DETR(config)
        var generator = RandomGenerator(seed: seed)
        try model.initialize(generator: &generator)
        model.setTraining(false)
        return model
    }

    /// The stages run from DETR's predictions to pixels, and every start reconstructs images of
    /// the chain's size in [0, 1], including a size that is not a multiple of 32 (cropped).
    func testChainShapesAndStarts() throws {
        let model = try tinyDETR()
        for (height, width) in [(64, 64), (70, 50)] {
            var generator = RandomGenerator(seed: 2)
            let chain = try DETRInverseChain(model: model, height: height, width: width, generator: &generator)
            XCTAssertEqual(chain.startPaths, ["predictions", "transformer.decoder.layers.1.normed", "transformer.encoder", "input_proj"])
            let images = try Tensor.uniform([2, 3, height, width], generator: &generator)
            let acts = try GradMode.withoutGrad {
                try representations(model, try Normalization.imageNet.apply(images), chain.startPaths).activations
            }
            let layout = DETRInverseLayout(model.config, height: height, width: width)
            XCTAssertEqual(acts["input_proj"]?.shape, [2, 16, layout.gridHeight, layout.gridWidth])
            XCTAssertEqual(acts["transformer.encoder"]?.shape, [2, layout.tokens, 16])
            XCTAssertEqual(acts["predictions"]?.shape, [2, 5, 3 + 1 + 4])
            for path in chain.startPaths {
                let image = try GradMode.withoutGrad { try chain.reconstruct(acts, from: path) }
                XCTAssertEqual(image.shape, [2, 3, height, width], path)
                XCTAssertTrue(image.scalars.allSatisfy { $0 >= 0 && $0 <= 1 }, path)
            }
            // Each stage maps its input to the representation the next one starts from.
            for (index, stage) in chain.config.stages.enumerated() where stage.to != InverseChainConfig.pixels {
                let output = try GradMode.withoutGrad { try chain.runStage(index, acts[stage.from]!) }
                XCTAssertEqual(output.shape, acts[stage.to]?.shape, stage.from)
            }
        }
        XCTAssertEqual(DETRInverseLayout(model.config, height: 70, width: 50).gridHeight, 3)
        XCTAssertEqual(DETRInverseLayout(model.config, height: 70, width: 50).gridWidth, 2)
    }

    /// DETR's predictions representation: the one-hot arg-max class beside the box.
    func testPredictions() throws {
        let logits = try Tensor(shape: [1, 2, 3], scalars: [0.1, 2, 0.3, 5, -1, 0])
        let boxes = try Tensor(shape: [1, 2, 4], scalars: [0.5, 0.5, 0.2, 0.2, 0.1, 0.2, 0.3, 0.4])
        let predictions = try DETR.predictions(from: .record([("pred_logits", .tensor(logits)), ("pred_boxes", .tensor(boxes))]))
        XCTAssertEqual(predictions.shape, [1, 2, 7])
        XCTAssertEqual(predictions.scalars, [0, 1, 0, 0.5, 0.5, 0.2, 0.2, 1, 0, 0, 0.1, 0.2, 0.3, 0.4])
        XCTAssertThrowsError(try DETR.predictions(from: .tensor(logits)))
    }

    /// torch's ConvTranspose2d with padding 1 and output padding 1 (kernel 3, stride 2) against a
    /// direct scatter loop: output (H - 1) * 2 - 2 + 3 + 1 = 2H.
    func testPaddedTransposedConvolution() throws {
        var generator = RandomGenerator(seed: 3)
        let conv = try ConvTranspose2d(2, 3, kernel: 3, stride: 2, padding: 1, outputPadding: 1)
        conv.weight.value = try Tensor.uniform([2, 3, 3, 3], low: -1, high: 1, generator: &generator)
        conv.bias.value = try Tensor.uniform([3], low: -1, high: 1, generator: &generator)
        let x = try Tensor.uniform([1, 2, 3, 4], low: -1, high: 1, generator: &generator)
        let y = try ForwardContext().run(conv, x)
        XCTAssertEqual(y.shape, [1, 3, 6, 8])
        let w = conv.weight.value.scalars, b = conv.bias.value.scalars, input = x.scalars
        var expected = [Float](repeating: 0, count: 3 * 6 * 8)
        for o in 0..<3 {
            for i in 0..<6 { for j in 0..<8 { expected[(o * 6 + i) * 8 + j] = b[o] } }
        }
        for c in 0..<2 {
            for h in 0..<3 {
                for v in 0..<4 {
                    for o in 0..<3 {
                        for ki in 0..<3 {
                            for kj in 0..<3 {
                                let i = h * 2 + ki - 1, j = v * 2 + kj - 1
                                guard i >= 0, i < 6, j >= 0, j < 8 else { continue }
                                expected[(o * 6 + i) * 8 + j] += input[(c * 3 + h) * 4 + v] * w[((c * 3 + o) * 3 + ki) * 3 + kj]
                            }
                        }
                    }
                }
            }
        }
        assertClose(y, try Tensor(shape: [1, 3, 6, 8], scalars: expected), rtol: 0, atol: 1e-5)
        XCTAssertThrowsError(try ConvTranspose2d(2, 3, kernel: 3, stride: 2, padding: 1, outputPadding: 2))
    }

    /// A saved DETR chain comes back as a DETRInverseChain (architecture detr-inverse) and
    /// reconstructs the same images; a ViT chain config cannot build a DETR chain by accident.
    func testSaveAndLoad() throws {
        let model = try tinyDETR()
        var generator = RandomGenerator(seed: 4)
        let chain = try DETRInverseChain(model: model, height: 64, width: 64, generator: &generator)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("detr-inverse-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try chain.save(to: url.path)
        let loaded = try InverseChain.load(url.path)
        XCTAssertTrue(loaded is DETRInverseChain)
        XCTAssertEqual(loaded.config, chain.config)
        let embedding = try Tensor.uniform([1, 16, 2, 2], low: -1, high: 1, generator: &generator)
        let a = try GradMode.withoutGrad { try chain.reconstruct(embedding, from: "input_proj") }
        let b = try GradMode.withoutGrad { try loaded.reconstruct(embedding, from: "input_proj") }
        assertClose(a, b, rtol: 0, atol: 0)
        XCTAssertThrowsError(try InverseChain(chain.config))
        XCTAssertTrue(try InverseChain.make(chain.config) is DETRInverseChain)
    }

    /// Modular training lowers every stage's loss, and the report rows carry detection agreement.
    func testTrainingAndReport() throws {
        let model = try tinyDETR()
        var generator = RandomGenerator(seed: 5)
        // Smooth images (a few blobs) so that the backbone inverse has something learnable.
        let images = try Tensor.uniform([24, 3, 1, 1], low: 0.1, high: 0.9, generator: &generator)
            .expanded(to: [24, 3, 64, 64]).contiguous()
        var options = InverseTrainingOptions()
        options.epochs = 4
        options.batchSize = 8
        options.learningRate = 3e-3
        options.seed = 6
        let result = try trainInverse(model, images: images, options: options)
        XCTAssertEqual(result.history.map(\.stage), ["predictions -> transformer.decoder.layers.1.normed",
                                                     "transformer.decoder.layers.1.normed -> transformer.encoder",
                                                     "transformer.encoder -> input_proj", "input_proj -> pixels"])
        for (stage, losses) in result.history {
            XCTAssertEqual(losses.count, 4)
            XCTAssertLessThan(losses.last!, losses.first!, stage)
        }
        let report = try layerReport(model, result.chain, images: try images.sliced(axis: 0, start: 0, end: 4))
        XCTAssertEqual(report.agreementName, "detections")
        XCTAssertEqual(report.rows.count, 4)
        XCTAssertTrue(report.table.contains("detect"))
        for row in report.rows { XCTAssertTrue(row.agreement.isNaN || (0...1).contains(row.agreement)) }
    }

    /// Detection agreement counts the original's detections found again with the same label at
    /// IoU >= 0.5, each reconstruction detection used once.
    func testDetectionAgreement() throws {
        let model = try tinyDETR()
        func output(_ classes: [Int], _ boxes: [[Float]]) throws -> ModuleValue {
            var logits = [Float](repeating: -10, count: classes.count * 4)
            for (q, c) in classes.enumerated() { logits[q * 4 + c] = 10 }
            return .record([("pred_logits", .tensor(try Tensor(shape: [1, classes.count, 4], scalars: logits))),
                            ("pred_boxes", .tensor(try Tensor(shape: [1, boxes.count, 4], scalars: boxes.flatMap { $0 })))])
        }
        // Originals: class 0 and class 1 objects, and a no-object query (class 3).
        let original = try output([0, 1, 3], [[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2], [0.5, 0.5, 0.1, 0.1]])
        // Reconstruction: class 0 in place twice (one counts), class 1 moved far away.
        let again = try output([0, 0, 1], [[0.3, 0.3, 0.2, 0.2], [0.31, 0.3, 0.2, 0.2], [0.2, 0.8, 0.2, 0.2]])
        XCTAssertEqual(try PredictionAgreement.fraction(model, original: original, reconstructed: again, height: 64, width: 64), 0.5)
        XCTAssertEqual(try PredictionAgreement.fraction(model, original: original, reconstructed: original, height: 64, width: 64), 1)
        let empty = try output([3], [[0.5, 0.5, 0.1, 0.1]])
        XCTAssertTrue(try PredictionAgreement.fraction(model, original: empty, reconstructed: original, height: 64, width: 64).isNaN)
    }

    /// Each inverse module against the same module in PyTorch, built and wired as inverse-tvm
    /// does for DETR from facebookresearch/detr's own transformer layers and position embedding
    /// (Scripts/fixtures/detr_inverse.py): inverse encoder, inverse decoder, inverse predictor and
    /// the backbone inverse's transposed convolutions with BatchNorm, on a 3 x 2 grid.
    func testModulesMatchPyTorch() throws {
        let file = try SafeTensorsFile(path: Fixtures.directory.appendingPathComponent("detr_inverse.safetensors").path)
        let tensors = try file.allTensors()
        func tensor(_ name: String) throws -> Tensor {
            guard let t = tensors[name] else { throw LoupeError("detr_inverse fixture: no tensor '\(name)'") }
            return t
        }
        func load(_ module: Module, prefix: String) throws {
            var loaded = 0
            for (name, parameter) in module.namedState() {
                guard let value = tensors["weights.\(prefix).\(name)"] else {
                    if name.hasSuffix("num_batches_tracked") { continue }
                    throw LoupeError("detr_inverse fixture: no weight for \(prefix).\(name)")
                }
                XCTAssertEqual(value.shape, parameter.value.shape, name)
                parameter.value = value
                loaded += 1
            }
            XCTAssertEqual(loaded, tensors.keys.filter { $0.hasPrefix("weights.\(prefix).") }.count, prefix)
            module.setTraining(false)
        }
        let layout = DETRInverseLayout(height: 96, width: 64, channels: 3, dim: 32)
        XCTAssertEqual([layout.gridHeight, layout.gridWidth], [3, 2])
        let encoder = try DETREncoderInverse(layout: layout, heads: 4, ffn: 64, depth: 2)
        let decoder = try DETRDecoderInverse(layout: layout, queries: 5, heads: 4, ffn: 64, depth: 2)
        let predictor = try DETRPredictorInverse(classes: 3, dim: 32, hidden: [48, 24])
        let backbone = try DETRBackboneInverse(layout: layout, widths: [64, 32, 16, 16, 3])
        try load(encoder, prefix: "encoder")
        try load(decoder, prefix: "decoder")
        try load(predictor, prefix: "predictor")
        try load(backbone, prefix: "backbone")
        try GradMode.withoutGrad {
            assertClose(try ForwardContext().run(encoder, try tensor("encoder.input")), try tensor("encoder.output"), rtol: 0, atol: 2e-5, "encoder")
            assertClose(try ForwardContext().run(decoder, try tensor("decoder.input")), try tensor("decoder.output"), rtol: 0, atol: 2e-5, "decoder")
            let predictions = try DETR.predictions(from: .record([("pred_logits", .tensor(try tensor("predictor.logits"))),
                                                                  ("pred_boxes", .tensor(try tensor("predictor.boxes")))]))
            assertClose(try ForwardContext().run(predictor, predictions), try tensor("predictor.output"), rtol: 0, atol: 2e-5, "predictor")
            assertClose(try ForwardContext().run(backbone, try tensor("backbone.input")), try tensor("backbone.output"), rtol: 0, atol: 2e-5, "backbone")
        }
    }
}
