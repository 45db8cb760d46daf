import XCTest
@testable import LoupeModels
import LoupeTensor

/// DetectorTrainer: targets and batches as DETR's transforms make them, parameter groups, the
/// learning-rate drop, determinism, and a tiny DETR learning a toy detection task.
final class DetectorTrainingTests: XCTestCase {
    static let config = DETRConfig(classes: 2, queries: 4, dim: 16, heads: 2, encoderLayers: 1, decoderLayers: 2, ffn: 32,
                                   backbone: "resnet18", width: 8, evalSize: 64, evalMaxSize: 64)

    static func model(seed: UInt64 = 1) throws -> DETR {
        let model = try DETR(config)
        var generator = RandomGenerator(seed: seed)
        try model.initialize(generator: &generator)
        return model
    }

    /// `count` 64x64 images, each a dark background with one square: red for class 0, green for
    /// class 1, at a random place and size.
    static func toyData(count: Int, seed: UInt64 = 9) throws -> DetectionDataset {
        var generator = RandomGenerator(seed: seed)
        let size = 64
        var pixels = [Float](repeating: 0.1, count: count * 3 * size * size)
        var annotations: [LabeledBoxes] = []
        for n in 0..<count {
            let label = n % 2
            let side = 16 + generator.nextInt(below: 17)
            let x0 = generator.nextInt(below: size - side + 1), y0 = generator.nextInt(below: size - side + 1)
            for y in y0..<(y0 + side) {
                for x in x0..<(x0 + side) { pixels[((n * 3 + label) * size + y) * size + x] = 0.9 }
            }
            annotations.append(try LabeledBoxes(labels: [label], boxes: [BoundingBox(x0: Float(x0), y0: Float(y0),
                                                                                     x1: Float(x0 + side), y1: Float(y0 + side))]))
        }
        return try DetectionDataset(images: try Tensor(shape: [count, 3, size, size], scalars: pixels), annotations: annotations)
    }

    func testTargetsAreNormalisedCentresAndFlipsMirrorBoxes() throws {
        let objects = try LabeledBoxes(labels: [1, 0], boxes: [BoundingBox(x0: 4, y0: 2, x1: 12, y1: 10), BoundingBox(x0: 0, y0: 0, x1: 40, y1: 20)])
        let plain = try DetectorTrainer.target(objects, height: 20, width: 40, flip: false)
        XCTAssertEqual(plain.labels, [1, 0])
        // (4, 2)-(12, 10) in a 40 x 20 image: centre (8, 6), size 8 x 8.
        XCTAssertEqual(plain.boxes.scalars, [0.2, 0.3, 0.2, 0.4, 0.5, 0.5, 1, 1])
        // Mirrored: x from 28 to 36, centre 32.
        let flipped = try DetectorTrainer.target(objects, height: 20, width: 40, flip: true)
        XCTAssertEqual(flipped.boxes.scalars, [0.8, 0.3, 0.2, 0.4, 0.5, 0.5, 1, 1])
    }

    func testBatchMirrorsAndNormalisesImages() throws {
        // Two 3 x 1 x 2 images: channel c of image n holds [n + c, n + c + 0.5].
        var values: [Float] = []
        for n in 0..<2 { for c in 0..<3 { values += [Float(n + c) / 4, Float(n + c) / 4 + 0.125] } }
        let data = try DetectionDataset(images: try Tensor(shape: [2, 3, 1, 2], scalars: values),
                                        annotations: [try LabeledBoxes(labels: [], boxes: []), try LabeledBoxes(labels: [0], boxes: [BoundingBox(x0: 0, y0: 0, x1: 1, y1: 1)])])
        let (images, targets) = try DetectorTrainer.batch(data, indices: [1, 0], flips: [true, false])
        var expected: [Float] = []
        for (n, flip) in [(1, true), (0, false)] {
            for c in 0..<3 {
                var row = [Float(n + c) / 4, Float(n + c) / 4 + 0.125]
                if flip { row.reverse() }
                expected += row.map { ($0 - DETR.imageMean[c]) / DETR.imageStd[c] }
            }
        }
        XCTAssertEqual(images.shape, [2, 3, 1, 2])
        XCTAssertEqual(images.scalars.count, expected.count)
        for (a, e) in zip(images.scalars, expected) { XCTAssertEqual(a, e, accuracy: 1e-6) }
        XCTAssertEqual(targets.map(\.count), [1, 0])
        XCTAssertEqual(targets[0].boxes.scalars, [0.75, 0.5, 0.5, 1])  // (0, 0)-(1, 1) mirrored in a 2-pixel-wide image: (1, 0)-(2, 1)
    }

    func testTrainingLearnsTheToyTaskDeterministically() throws {
        let data = try Self.toyData(count: 16)
        let options = DetectorTrainingOptions(epochs: 12, batchSize: 4, learningRate: 1e-3, backboneLearningRate: 1e-4,
                                              clipNorm: 0.1, horizontalFlip: true, seed: 3)
        let model = try Self.model()
        let records = try DetectorTrainer(model: model, classes: 2, options: options).fit(data)
        XCTAssertEqual(records.count, 12)
        let losses = records.map(\.loss)
        XCTAssertLessThan(losses[11], losses[0] * 0.8, "\(losses)")
        XCTAssert(records.allSatisfy { $0.learningRate == 1e-3 })
        // The model is left in evaluation mode and detached.
        XCTAssertFalse(model.training)
        XCTAssertFalse(model.namedParameters().contains { $0.parameter.value.requiresGrad })
        // The same seed repeats the run exactly; another seed does not.
        let again = try DetectorTrainer(model: try Self.model(), classes: 2, options: options).fit(data)
        XCTAssertEqual(again.map(\.loss), losses)
        var other = options
        other.seed = 4
        XCTAssertNotEqual(try DetectorTrainer(model: try Self.model(), classes: 2, options: other).fit(data).map(\.loss), losses)
    }

    /// detr/main.py's two groups: `backbone.*` at backbone_lr (0: not trained at all), the rest at lr.
    func testBackboneHasItsOwnLearningRate() throws {
        let data = try Self.toyData(count: 4)
        func changes(backboneRate: Double) throws -> (backbone: Float, head: Float) {
            let model = try Self.model()
            let before = Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.path, $0.parameter.value.scalars) })
            let options = DetectorTrainingOptions(epochs: 1, batchSize: 4, learningRate: 1e-3, backboneLearningRate: backboneRate)
            _ = try DetectorTrainer(model: model, classes: 2, options: options).fit(data)
            var largest = (backbone: Float(0), head: Float(0))
            for (path, parameter) in model.namedParameters() {
                let change = zip(parameter.value.scalars, before[path] ?? []).map { abs($0 - $1) }.max() ?? 0
                if path.hasPrefix("backbone.") { largest.backbone = max(largest.backbone, change) } else { largest.head = max(largest.head, change) }
            }
            return largest
        }
        let frozen = try changes(backboneRate: 0)
        XCTAssertEqual(frozen.backbone, 0)
        XCTAssertGreaterThan(frozen.head, 5e-4)  // AdamW's first step moves each weight by about lr
        let slow = try changes(backboneRate: 1e-5)
        XCTAssertGreaterThan(slow.backbone, 1e-6)
        XCTAssertLessThan(slow.backbone, 2e-5)
    }

    func testLearningRateDropsEveryDropEpochs() throws {
        let data = try Self.toyData(count: 4)
        let options = DetectorTrainingOptions(epochs: 5, batchSize: 2, learningRate: 1e-4, learningRateDropEpochs: 2)
        let records = try DetectorTrainer(model: try Self.model(), classes: 2, options: options).fit(data)
        let rates = records.map(\.learningRate)
        for (rate, expected) in zip(rates, [1e-4, 1e-4, 1e-5, 1e-5, 1e-6]) { XCTAssertEqual(rate, expected, accuracy: 1e-15) }
    }

    func testBadInputsThrow() throws {
        let data = try Self.toyData(count: 2)
        XCTAssertThrowsError(try DetectorTrainer(model: try Self.model(), classes: 1, options: .init(epochs: 1)).fit(data)) {
            XCTAssert("\($0)".contains("target 1 has label 1, but the model has 1 classes"), "\($0)")
        }
        for (options, message) in [(DetectorTrainingOptions(epochs: 0), "epochs"), (.init(batchSize: 0), "batch"),
                                   (.init(learningRate: 0), "lr"), (.init(backboneLearningRate: -1), "backbone_lr"),
                                   (.init(weightDecay: -1), "weight_decay"), (.init(clipNorm: 0), "clip"),
                                   (.init(learningRateDropEpochs: 0), "drop_at")] {
            XCTAssertThrowsError(try DetectorTrainer(model: try Self.model(), classes: 2, options: options)) {
                XCTAssert("\($0)".contains(message), "\($0)")
            }
        }
        XCTAssertThrowsError(try DetectionDataset(images: try Tensor.zeros([2, 3, 4, 4]), annotations: [])) {
            XCTAssert("\($0)".contains("2 images but 0 targets"), "\($0)")
        }
        XCTAssertThrowsError(try DetectionDataset(images: try Tensor.zeros([3, 4, 4]), annotations: []))
    }
}
