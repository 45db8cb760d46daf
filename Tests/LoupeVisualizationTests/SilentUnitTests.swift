import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor
import LoupeVisualization
import XCTest

/// Silent units: exactly silent on the natural images, visible elsewhere.
final class SilentUnitTests: XCTestCase {
    static func natural(_ count: Int = 24, seed: UInt64 = 2) throws -> Tensor {
        try SanityCheckTests.images(count, seed: seed)
    }

    static func options(scale: Float = 1, seed: UInt64 = 11) -> SilentUnitOptions {
        var options = SilentUnitOptions()
        options.scale = scale
        options.seed = seed
        options.batchSize = 5
        return options
    }

    static func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    func testFilterIsOrthogonalWithTheRequestedNorm() throws {
        let model = try SanityCheckTests.tinyResNet()
        let w = try model.layer1Conv2Weight(unit: 1)
        for scale: Float in [1, 2.5] {
            let result = try silentUnit(model, path: "layer1.0.conv2", unit: 1, natural: try Self.natural(),
                                        options: Self.options(scale: scale))
            let filter = result.module.silent.weight.value.scalars
            XCTAssertEqual(result.module.silent.weight.shape, [1, 4, 3, 3])
            let norm = Self.dot(filter, filter).squareRoot(), reference = Self.dot(w, w).squareRoot()
            XCTAssertEqual(norm, Double(scale) * reference, accuracy: 1e-5 * reference, "norm scale * |w|")
            XCTAssertLessThan(abs(Self.dot(filter, w)) / (norm * reference), 1e-6, "cosine with the unit's filter")
            XCTAssertEqual(result.module.silent.bias!.value.scalars, [-result.maxNatural])
            XCTAssertGreaterThan(result.maxNatural, 0)
        }
        // Another seed, another direction.
        let a = try orthogonalFilter(to: try Tensor(shape: [1, 4, 3, 3], scalars: w), scale: 1, seed: 1).scalars
        let b = try orthogonalFilter(to: try Tensor(shape: [1, 4, 3, 3], scalars: w), scale: 1, seed: 2).scalars
        XCTAssertNotEqual(a, b)
    }

    /// On the natural images the added term is 0 everywhere (and exactly 0 where the filter
    /// responds most), and the model's outputs are bit-identical, in any batch size.
    func testSilentAndBitIdenticalOnNaturalImages() throws {
        let model = try SanityCheckTests.tinyResNet()
        let natural = try Self.natural()
        let result = try silentUnit(model, path: "layer1.0.conv2", unit: 1, natural: natural, labels: nil, options: Self.options())
        XCTAssertEqual(result.silentOn, 24)
        XCTAssertEqual(result.total, 24)
        XCTAssertEqual(result.maxTest, 0, "the most responsive position sits exactly at 0")
        let edited = result.model
        let sites = try GradMode.withoutGrad {
            try capture(edited, natural, ["layer1.0.conv2.added", "layer1.0.conv2.silent", "layer1.0.conv2"])
        }
        XCTAssertEqual(sites["layer1.0.conv2.added"]!.shape, [24, 1, 8, 8])
        XCTAssertTrue(sites["layer1.0.conv2.added"]!.scalars.allSatisfy { $0 == 0 })
        XCTAssertEqual(sites["layer1.0.conv2.silent"]!.scalars.max(), 0)
        let original = try GradMode.withoutGrad { try forward(model, natural) }
        XCTAssertEqual(try GradMode.withoutGrad { try forward(edited, natural) }.scalars, original.scalars, "whole batch")
        for i in [0, 7, 23] {
            let one = try natural.sliced(axis: 0, start: i, end: i + 1)
            XCTAssertEqual(try GradMode.withoutGrad { try forward(edited, one) }.scalars,
                           Array(original.scalars[(i * 3)..<(i * 3 + 3)]), "image \(i) alone")
        }
        // The original model is unchanged and keeps its convolution.
        XCTAssertTrue(model.module(at: "layer1.0.conv2") is Conv2d)
        XCTAssertTrue(edited.module(at: "layer1.0.conv2") is SilentUnitConv2d)
        XCTAssertEqual(edited.namedParameters().count, model.namedParameters().count + 2)
        XCTAssertTrue(edited.namedParameters().contains { $0.path == "layer1.0.conv2.silent.bias" })
        XCTAssertTrue(edited.namedParameters().contains { $0.path == "layer1.0.conv2.conv.weight" })
        // Labels: accuracy is unchanged.
        let labels = (0..<24).map { $0 % 3 }
        let labelled = try silentUnit(model, path: "layer1.0.conv2", unit: 1, natural: natural, labels: labels, options: Self.options())
        XCTAssertEqual(labelled.accuracyBefore, labelled.accuracyAfter)
        XCTAssertNotNil(labelled.accuracyBefore)
        let data = try LabeledImages(images: natural, labels: labels)
        XCTAssertEqual(labelled.accuracyAfter, try Trainer.evaluate(labelled.model, data).accuracy)
        XCTAssertEqual(labelled.accuracyBefore, try Trainer.evaluate(model, data).accuracy)
    }

    /// An input with the new filter's pattern wakes the unit: the term and the outputs change.
    func testConstructedInputWakesTheUnit() throws {
        let model = try SanityCheckTests.tinyResNet()
        let natural = try Self.natural()
        let result = try silentUnit(model, path: "conv1", unit: 2, natural: natural, options: Self.options())
        let filter = result.module.silent.weight.value.scalars  // [1, 1, 3, 3]: the stem sees the image itself
        let energy = Self.dot(filter, filter)
        let gain = Float(2 * Double(result.maxNatural) / energy + 1)
        var pixels = [Float](repeating: 0, count: 64)
        for dy in 0..<3 { for dx in 0..<3 { pixels[(2 + dy) * 8 + 2 + dx] = gain * filter[dy * 3 + dx] } }
        let probe = try Tensor(shape: [1, 1, 8, 8], scalars: pixels)
        let added = try GradMode.withoutGrad { try capture(result.model, probe, ["conv1.added"]) }["conv1.added"]!
        // At the centre (3, 3) the response is gain * |w'|^2 - max > max > 0.
        XCTAssertGreaterThan(added.scalars[3 * 8 + 3], result.maxNatural)
        XCTAssertNotEqual(try forward(result.model, probe).scalars, try forward(model, probe).scalars)
        let test = try silentUnit(model, path: "conv1", unit: 2, natural: natural, test: try Tensor.concat([natural, probe], axis: 0),
                                  options: Self.options())
        XCTAssertEqual(test.silentOn, 24)
        XCTAssertEqual(test.total, 25)
        XCTAssertGreaterThan(test.maxTest, 0)
        // Accuracy after is the edited model's own, measured in the same pass.
        let labels = (0..<25).map { $0 % 3 }
        let labelled = try silentUnit(model, path: "conv1", unit: 2, natural: natural, test: try Tensor.concat([natural, probe], axis: 0),
                                      labels: labels, options: Self.options())
        let data = try LabeledImages(images: try Tensor.concat([natural, probe], axis: 0), labels: labels)
        XCTAssertEqual(labelled.accuracyAfter, try Trainer.evaluate(labelled.model, data).accuracy)
        // The unit's objective reaches the new filter through the module (it is differentiable).
        var settings = VisualizationOptions()
        settings.steps = 2
        settings.transforms = nil
        let made = try visualize(result.model, objective: .channel("conv1", 2), channels: 1, size: [8, 8], options: settings)
        XCTAssertEqual(made.losses.count, 2)
    }

    func testSavedAndRebuilt() throws {
        let model = try SanityCheckTests.tinyResNet()
        let natural = try Self.natural()
        let result = try silentUnit(model, path: "layer1.0.conv2", unit: 3, natural: natural, options: Self.options())
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("silent-unit-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try saveModel(result.model, to: file)
        var catalog = try ArchitectureCatalog.loupeModels
        try catalog.add([SilentUnitConv2d.self], owner: "test")
        let loaded = try loadModel(file, architectures: catalog)
        XCTAssertTrue(loaded.module(at: "layer1.0.conv2") is SilentUnitConv2d)
        let probe = try Tensor.concat([natural, try Tensor.full([1, 1, 8, 8], 3)], axis: 0)
        XCTAssertEqual(try forward(loaded, probe).scalars, try forward(result.model, probe).scalars)
    }

    func testErrors() throws {
        let model = try SanityCheckTests.tinyResNet()
        let natural = try Self.natural(4)
        func message(_ path: String, _ unit: Int, scale: Float = 1) -> String {
            do {
                _ = try silentUnit(model, path: path, unit: unit, natural: natural, options: Self.options(scale: scale))
                return "no error"
            } catch { return "\(error)" }
        }
        XCTAssertTrue(message("layer1.0.bn1", 0).contains("is a BatchNorm2d, not a convolution (Conv2d)"), message("layer1.0.bn1", 0))
        XCTAssertTrue(message("layer1.0.bn1", 0).contains("layer1.0.conv1"), "names nearby convolutions")
        XCTAssertTrue(message("layer1.9.conv1", 0).contains("no module at 'layer1.9.conv1'"))
        XCTAssertTrue(message("layer1.0.conv1", 4).contains("unit 4 is out of range for the 4 output channels"))
        XCTAssertTrue(message("layer1.0.conv1", -1).contains("out of range"))
        XCTAssertTrue(message("layer1.0.conv1", 0, scale: 0).contains("scale must be positive"))
    }
}

extension ResNet {
    /// The filter of output channel `unit` of `layer1.0.conv2`, flattened.
    func layer1Conv2Weight(unit: Int) throws -> [Float] {
        guard let conv = module(at: "layer1.0.conv2") as? Conv2d else { throw LoupeError("no layer1.0.conv2") }
        return try conv.weight.value.sliced(axis: 0, start: unit, end: unit + 1).contiguous().scalars
    }
}
