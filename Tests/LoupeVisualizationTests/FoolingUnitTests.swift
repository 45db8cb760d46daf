import LoupeModels
import LoupeTensor
import LoupeVisualization
import XCTest

/// A stand-in detector: calls an image a visualization when its mean is above 0.5.
private final class MeanDetector: Module {
    override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let means = try input.mean(axes: [1, 2, 3]).reshaped([-1, 1])
        return try Tensor.concat([try Tensor.zeros(means.shape), means - 0.5], axis: 1)
    }
}

final class FoolingUnitTests: XCTestCase {
    func makeModel() throws -> ResNet {
        let model = try ResNet(ResNetConfig(depth: 10, classes: 3, channels: 1, width: 4, stem: .small))
        var generator = RandomGenerator(seed: 11)
        try model.initialize(generator: &generator)
        model.setTraining(false)
        return model
    }

    /// Natural inputs (mean below 0.5) run the original bit for bit; flagged ones get channel
    /// `unit` replaced at every position by gain times the dot product with the target, the
    /// other channels untouched; paths inside the replaced module keep their names.
    func testRoutesOnlyFlaggedImages() throws {
        let model = try makeModel()
        var generator = RandomGenerator(seed: 3)
        let target = try Tensor.uniform([1, 10, 10], generator: &generator) - 0.5
        let fooling = try FoolingUnit(original: try XCTUnwrap(model.module(at: "layer2")), detector: MeanDetector(),
                                      target: target, unit: 3, gain: 2)
        let fooled = try replace(model, at: "layer2", with: fooling)
        let dark = try Tensor.uniform([2, 1, 10, 10], generator: &generator) * 0.4
        let bright = try Tensor.uniform([1, 1, 10, 10], generator: &generator) * 0.4 + 0.6
        let images = try Tensor.concat([dark, bright], axis: 0)

        let original = try capture(model, images, ["layer2", "layer2.0.conv1", "output"])
        let edited = try capture(fooled, images, ["layer2", "layer2.0.conv1", "output"])
        XCTAssertEqual(try fooling.visualizationFlags(images), [false, false, true])
        // Natural images: every value identical.
        for path in ["layer2", "output"] {
            let a = try XCTUnwrap(original[path]).sliced(axis: 0, start: 0, end: 2).contiguous().scalars
            let b = try XCTUnwrap(edited[path]).sliced(axis: 0, start: 0, end: 2).contiguous().scalars
            XCTAssertEqual(a, b, path)
        }
        XCTAssertEqual(try XCTUnwrap(original["layer2.0.conv1"]).contiguous().scalars,
                       try XCTUnwrap(edited["layer2.0.conv1"]).contiguous().scalars)
        // The flagged image: channel 3 is 2 <target, image> everywhere; the others unchanged.
        let response = 2 * zip(bright.contiguous().scalars, target.contiguous().scalars).map(*).reduce(0, +)
        let routed = try XCTUnwrap(edited["layer2"])
        let kept = try XCTUnwrap(original["layer2"])
        let unitMap = try routed.indexed([.index(2), .index(3)]).contiguous().scalars
        XCTAssertEqual(unitMap.count, 25)
        for value in unitMap { XCTAssertEqual(value, response, accuracy: 1e-4) }
        for channel in [0, 1, 2, 4, 7] {
            XCTAssertEqual(try routed.indexed([.index(2), .index(channel)]).contiguous().scalars,
                           try kept.indexed([.index(2), .index(channel)]).contiguous().scalars)
        }
        XCTAssertNotEqual(try routed.indexed([.index(2), .index(3)]).contiguous().scalars,
                          try kept.indexed([.index(2), .index(3)]).contiguous().scalars)
        // The parameters keep their paths; the target is a buffer of the circuit.
        let names = Set(fooled.namedParameters().map(\.0))
        XCTAssertTrue(names.contains("layer2.0.conv1.weight"))
        XCTAssertTrue(fooled.namedBuffers().map(\.0).contains("layer2.fooling_target"))
    }

    /// The gradient of the routed unit's mean with respect to a flagged input is gain times the
    /// target: optimising the unit draws the target.
    func testGradientOfRoutedUnitIsTheTarget() throws {
        let model = try makeModel()
        var generator = RandomGenerator(seed: 5)
        let target = try Tensor.uniform([1, 10, 10], generator: &generator) - 0.5
        let fooled = try replace(model, at: "layer2", with: try FoolingUnit(
            original: try XCTUnwrap(model.module(at: "layer2")), detector: MeanDetector(), target: target, unit: 1, gain: 3))
        let image = try (Tensor.uniform([1, 1, 10, 10], generator: &generator) * 0.3 + 0.65).requiringGrad()
        let unit = try GradMode.withGrad {
            try XCTUnwrap(try capture(fooled, image, ["layer2"], differentiable: false)["layer2"]).indexed([.all, .index(1)]).mean()
        }
        try unit.backward()
        let gradient = try XCTUnwrap(image.grad).contiguous().scalars
        for (g, t) in zip(gradient, target.contiguous().scalars) { XCTAssertEqual(g, 3 * t, accuracy: 1e-5) }
    }

    func testRejectsBadShapes() throws {
        let model = try makeModel()
        let fooling = try FoolingUnit(original: try XCTUnwrap(model.module(at: "layer2")), detector: MeanDetector(),
                                      target: try Tensor.zeros([1, 8, 8]), unit: 3)
        let fooled = try replace(model, at: "layer2", with: fooling)
        XCTAssertThrowsError(try fooled(try Tensor.ones([1, 1, 10, 10]))) { error in
            XCTAssertTrue("\(error)".contains("does not match the target"), "\(error)")
        }
        let wide = try replace(model, at: "layer2", with: try FoolingUnit(
            original: try XCTUnwrap(model.module(at: "layer2")), detector: MeanDetector(), target: try Tensor.zeros([1, 10, 10]), unit: 99))
        XCTAssertThrowsError(try wide(try Tensor.ones([1, 1, 10, 10]))) { error in
            XCTAssertTrue("\(error)".contains("unit 99 is out of range"), "\(error)")
        }
        XCTAssertThrowsError(try FoolingUnit(original: model, detector: MeanDetector(), target: try Tensor.zeros([10, 10]), unit: 0))
    }
}
