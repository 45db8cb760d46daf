import XCTest
@testable import LoupeModels
import LoupeTensor

/// A linear classifier on flattened images, for training tests.
private final class FlatLinear: Module {
    let linear: Linear
    init(features: Int, classes: Int) throws {
        linear = try Linear(features, classes)
        super.init()
        registerModule("fc", linear)
    }
    override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try context.apply(linear, try input.reshaped([input.shape[0], input.count / input.shape[0]]))
    }
}

final class TrainingTests: XCTestCase {
    /// Two 1x3x3 images holding 1...9 and 11...19.
    private func images() throws -> Tensor {
        try Tensor(shape: [2, 1, 3, 3], scalars: (1...9).map(Float.init) + (11...19).map(Float.init))
    }

    func testShiftFlipAndCropAreHandDerived() throws {
        let shifts = [Trainer.ImageShift(dx: 1, dy: 0, flip: false), Trainer.ImageShift(dx: 0, dy: -1, flip: true)]
        let out = Trainer.assemble(try images(), indices: [0, 1], shifts: shifts)
        // Image 0 moved left by one (reads x + 1): rows [2 3 0], [5 6 0], [8 9 0].
        // Image 1 mirrored and moved down by one (reads y - 1): [0 0 0], [13 12 11], [16 15 14].
        XCTAssertEqual(out.scalars, [2, 3, 0, 5, 6, 0, 8, 9, 0, 0, 0, 0, 13, 12, 11, 16, 15, 14])
    }

    func testUnshiftedBatchIsAPlainGather() throws {
        let out = Trainer.assemble(try images(), indices: [1, 0, 1], shifts: Array(repeating: .init(dx: 0, dy: 0, flip: false), count: 3))
        XCTAssertEqual(out.shape, [3, 1, 3, 3])
        XCTAssertEqual(Array(out.scalars[0..<9]), (11...19).map(Float.init))
        XCTAssertEqual(Array(out.scalars[9..<18]), (1...9).map(Float.init))
    }

    /// The augmented batch itself, against crops of zero-padded images and mirrors computed here
    /// from the same draws (per image, in order: dx and dy uniform in -pad...pad, then a coin for
    /// the flip): a crop of the image padded by `pad` at offset (pad + dy, pad + dx), then mirrored.
    func testAugmentedBatchIsACropOfThePaddedImageThenAMirror() throws {
        let (count, channels, height, width, pad) = (48, 2, 5, 4, 2)
        var values = [Float]()
        for i in 0..<(count * channels * height * width) { values.append(Float(i + 1)) }  // every pixel distinct, none 0
        let images = try Tensor(shape: [count, channels, height, width], scalars: values)
        let data = try LabeledImages(images: images, labels: (0..<count).map { $0 % 3 })
        let indices = (0..<count).reversed().map { $0 }
        var generator = RandomGenerator(seed: 3)
        var copy = generator
        let batch = try Trainer.batch(data, indices: indices, augmentation: .init(horizontalFlip: true, cropPadding: pad),
                                      generator: &generator)
        XCTAssertEqual(batch.images.shape, [count, channels, height, width])
        XCTAssertEqual(batch.targets.scalars, indices.map { Float($0 % 3) })
        let got = batch.images.scalars
        var flips = 0, offsets = Set<[Int]>()
        for (i, source) in indices.enumerated() {
            let dx = copy.nextInt(below: 2 * pad + 1) - pad, dy = copy.nextInt(below: 2 * pad + 1) - pad
            let flip = copy.nextInt(below: 2) == 1
            flips += flip ? 1 : 0
            offsets.insert([dx, dy])
            for c in 0..<channels {
                // The channel zero-padded by `pad` on every side.
                var padded = [[Float]](repeating: [Float](repeating: 0, count: width + 2 * pad), count: height + 2 * pad)
                for y in 0..<height {
                    for x in 0..<width { padded[y + pad][x + pad] = values[((source * channels + c) * height + y) * width + x] }
                }
                for y in 0..<height {
                    var row = Array(padded[pad + dy + y][(pad + dx)..<(pad + dx + width)])
                    if flip { row.reverse() }
                    let start = ((i * channels + c) * height + y) * width
                    XCTAssertEqual(Array(got[start..<(start + width)]), row, "image \(i) (source \(source)), channel \(c), row \(y), dx \(dx) dy \(dy) flip \(flip)")
                }
            }
        }
        // The draws exercised flips and a spread of offsets (so a batch left as is would fail above).
        XCTAssert(flips > 0 && flips < count, "flips: \(flips)")
        XCTAssertGreaterThan(offsets.count, 15)
        XCTAssertNotEqual(got, try Trainer.batch(data, indices: indices, augmentation: .none, generator: &copy).images.scalars)
    }

    func testEvaluateMatchesHandComputedCrossEntropy() throws {
        // logits = x W^T with W = [[1, 0], [0, 1]]: image [2, 0] -> logits [2, 0]; [0, 1] -> [0, 1].
        let model = try FlatLinear(features: 2, classes: 2)
        model.linear.weight.value = try Tensor(shape: [2, 2], scalars: [1, 0, 0, 1])
        let data = try LabeledImages(images: try Tensor(shape: [2, 1, 1, 2], scalars: [2, 0, 0, 1]), labels: [0, 0])
        let result = try Trainer.evaluate(model, data)
        // CE = log(1 + e^-2) for the first (correct), log(1 + e^1) for the second (wrong).
        let expected = (log(1 + exp(-2.0)) + log(1 + exp(1.0))) / 2
        XCTAssertEqual(result.loss, expected, accuracy: 1e-6)
        XCTAssertEqual(result.accuracy, 0.5)
    }

    /// Two Gaussian blobs in 4 dimensions, labels by blob.
    private func blobs(_ count: Int, seed: UInt64) throws -> LabeledImages {
        var generator = RandomGenerator(seed: seed)
        var values: [Float] = [], labels: [Int] = []
        for i in 0..<count {
            let label = i % 2
            for d in 0..<4 { values.append(generator.nextNormal() * 0.5 + (label == 0 ? 1 : -1) * (d < 2 ? 1 : 0)) }
            labels.append(label)
        }
        return try LabeledImages(images: try Tensor(shape: [count, 1, 2, 2], scalars: values), labels: labels)
    }

    func testTrainingLearnsSeparableDataAndIsDeterministic() throws {
        func run() throws -> (records: [EpochRecord], weights: [Float]) {
            let model = try FlatLinear(features: 4, classes: 2)
            let trainer = try Trainer(model: model, options: TrainingOptions(epochs: 5, batchSize: 16, learningRate: 0.05, seed: 7))
            let records = try trainer.fit(try blobs(256, seed: 1), test: try blobs(128, seed: 2))
            XCTAssertFalse(model.linear.weight.value.requiresGrad, "parameters are detached after training")
            return (records, model.linear.weight.value.scalars)
        }
        let first = try run(), second = try run()
        XCTAssertEqual(first.weights, second.weights, "same seed, same weights bit for bit")
        XCTAssertEqual(first.records.count, 5)
        XCTAssertLessThan(first.records[4].loss, first.records[0].loss)
        XCTAssertGreaterThan(first.records[4].testAccuracy ?? 0, 0.95)
        XCTAssertEqual(first.records[4].learningRate, 0.05 * (1 + cos(Double.pi * 79 / 80)) / 2, accuracy: 1e-9, "cosine schedule at the last of 80 steps")
    }

    func testCosineRunsOverTheStepsAfterWarmup() throws {
        let model = try FlatLinear(features: 4, classes: 2)
        let trainer = try Trainer(model: model, options: TrainingOptions(epochs: 5, batchSize: 16, learningRate: 0.05,
                                                                         warmupEpochs: 1, seed: 7))
        let records = try trainer.fit(try blobs(256, seed: 1))
        // 16 warm-up steps from 0.05 / 3, then a cosine over the remaining 64 steps (PyTorch's
        // SequentialLR): the first epoch ends at 0.05 / 3 + (0.05 - 0.05 / 3) * 15 / 16, the last step is
        // cosine step 63 of 64.
        XCTAssertEqual(records[0].learningRate, 0.05 / 3 + (0.05 - 0.05 / 3) * 15 / 16, accuracy: 1e-12)
        XCTAssertEqual(records[4].learningRate, 0.05 * (1 + cos(Double.pi * 63 / 64)) / 2, accuracy: 1e-12)
    }

    func testBadOptionsAndDataThrow() throws {
        XCTAssertThrowsError(try Trainer(model: try FlatLinear(features: 1, classes: 1), options: TrainingOptions(epochs: 0))) {
            XCTAssert("\($0)".contains("epochs must be at least 1"))
        }
        XCTAssertThrowsError(try LabeledImages(images: try Tensor.zeros([3, 4]), labels: [0, 1, 2])) {
            XCTAssert("\($0)".contains("[N, C, H, W]"))
        }
        XCTAssertThrowsError(try LabeledImages(images: try Tensor.zeros([3, 1, 2, 2]), labels: [0, 1])) {
            XCTAssert("\($0)".contains("3 images but 2 labels"))
        }
        let model = try FlatLinear(features: 4, classes: 2)
        let trainer = try Trainer(model: model, options: TrainingOptions(epochs: 1))
        let poisoned = try LabeledImages(images: try Tensor.full([4, 1, 2, 2], .nan), labels: [0, 1, 0, 1])
        XCTAssertThrowsError(try trainer.fit(poisoned)) { XCTAssert("\($0)".contains("the loss became nan at epoch 1, step 1")) }
    }
}
