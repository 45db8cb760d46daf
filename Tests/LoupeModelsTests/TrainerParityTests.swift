import XCTest
@testable import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// conv 3x3 (no bias) -> BatchNorm -> ReLU -> conv 3x3 stride 2 -> ReLU -> global average pool -> linear:
/// the small convolutional classifier of Scripts/fixtures/training.py.
private final class SmallCNN: Module {
    let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, fc: Linear
    let pool = AdaptiveAvgPool2d(1)

    init(channels: Int = 1, width: Int = 4, classes: Int = 3) throws {
        conv1 = try Conv2d(channels, width, kernel: 3, padding: 1, bias: false)
        bn1 = try BatchNorm2d(width)
        conv2 = try Conv2d(width, width, kernel: 3, stride: 2, padding: 1)
        fc = try Linear(width, classes)
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("conv2", conv2)
        registerModule("fc", fc)
    }

    override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = try context.apply(conv1, input)
        x = try context.apply(bn1, x).relu()
        x = try context.apply(conv2, x).relu()
        x = try context.apply(pool, x)
        return try context.apply(fc, try x.reshaped([x.shape[0], x.shape[1]]))
    }
}

/// The trainer against PyTorch (Scripts/fixtures/training.py): same initial weights and data, a
/// few steps of AdamW, Adam and SGD with momentum, with weight-decay groups, label smoothing,
/// clipping, warm-up and the cosine, step and constant schedules. Every step's loss and rate and
/// the final parameters and batch-norm running statistics must match.
final class TrainerParityTests: XCTestCase {
    private func number(_ c: FixtureCase, _ key: String) -> Double? { (c.args[key] as? NSNumber)?.doubleValue }

    func testTrainerMatchesPyTorch() throws {
        let cases = try Fixtures.load("training_torch").filter { $0.op == "train" }
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            let model = try SmallCNN()
            let keys = (c.args["keys"] as? [String]) ?? []
            XCTAssertEqual(Set(model.namedState().map(\.path)), Set(keys), c.name)
            for (path, parameter) in model.namedState() { parameter.value = try c.tensor("initial." + path).contiguousCopy() }
            let labels = try c.tensor("labels").scalars.map { Int($0) }
            let data = try LabeledImages(images: try c.tensor("images"), labels: labels)
            guard let optimizer = TrainingOptions.OptimizerKind(rawValue: c.string("optimizer") ?? ""),
                  let schedule = TrainingOptions.ScheduleKind(rawValue: c.string("schedule") ?? "") else {
                return XCTFail("\(c.name): bad case")
            }
            let options = TrainingOptions(
                epochs: c.int("epochs")!, batchSize: data.count, learningRate: number(c, "lr")!, optimizer: optimizer,
                weightDecay: number(c, "weight_decay")!, momentum: number(c, "momentum")!, nesterov: false,
                schedule: schedule, warmupEpochs: number(c, "warmup")!, labelSmoothing: c.float("label_smoothing")!,
                clipNorm: number(c, "clip"), augmentation: .none, seed: 9)
            let trainer = try Trainer(model: model, options: options)
            let records = try trainer.fit(data)
            let losses = (c.args["losses"] as? [NSNumber] ?? []).map(\.doubleValue)
            let rates = (c.args["rates"] as? [NSNumber] ?? []).map(\.doubleValue)
            XCTAssertEqual(records.count, losses.count, c.name)
            for (k, record) in records.enumerated() {
                // One step per epoch: the epoch's loss is that step's loss, its rate that step's rate.
                XCTAssertEqual(record.loss, losses[k], accuracy: 2e-5 + 1e-4 * abs(losses[k]), "\(c.name): loss of step \(k + 1)")
                XCTAssertEqual(record.learningRate, rates[k], accuracy: 1e-12 + 1e-9 * rates[k], "\(c.name): lr of step \(k + 1)")
            }
            let state = model.stateDict()
            for key in keys {
                let expected = try c.tensor("final." + key)
                guard let actual = state[key] else { XCTFail("\(c.name): no \(key)"); continue }
                assertClose(actual, expected, rtol: 1e-3, atol: 5e-5, "\(c.name): \(key) after training")
            }
            // The run moved every parameter (so matching the final state is not matching the start).
            for (path, _) in model.namedParameters() {
                XCTAssertNotEqual(state[path]!.scalars, try c.tensor("initial." + path).scalars, "\(c.name): \(path) did not change")
            }
        }
    }

    /// BatchNorm2d in training mode normalises with the batch statistics and updates its running
    /// mean and (unbiased) variance with momentum 0.1 and its batch count; in evaluation mode it
    /// uses the running statistics.
    func testBatchNormModuleRunningStatisticsMatchPyTorch() throws {
        let c = try XCTUnwrap(try Fixtures.load("training_torch").first { $0.op == "batchnorm" })
        let bn = try BatchNorm2d(3)
        bn.weight.value = try c.tensor("weight")
        bn.bias.value = try c.tensor("bias")
        bn.setTraining(true)
        for k in 0..<2 {
            let y = try GradMode.withoutGrad { try ForwardContext().run(bn, try c.tensor("x\(k)")) }
            assertClose(y, try c.tensor("y\(k)"), rtol: 1e-5, atol: 1e-5, "training output \(k)")
            assertClose(bn.runningMean.value, try c.tensor("mean\(k)"), rtol: 1e-5, atol: 1e-6, "running mean after batch \(k)")
            assertClose(bn.runningVar.value, try c.tensor("var\(k)"), rtol: 1e-5, atol: 1e-6, "running variance after batch \(k)")
        }
        XCTAssertEqual(try bn.batchesTracked.value.item(), Float(c.int("tracked")!))
        bn.setTraining(false)
        let trained = bn.runningMean.value.scalars
        let y = try ForwardContext().run(bn, try c.tensor("x_eval"))
        assertClose(y, try c.tensor("y_eval"), rtol: 1e-5, atol: 1e-5, "evaluation output")
        XCTAssertEqual(bn.runningMean.value.scalars, trained, "evaluation leaves the running mean")
    }
}
