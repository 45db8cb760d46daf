import Foundation
import XCTest
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// Loupe's ResNet against torchvision's resnet18 and resnet50 (Scripts/fixtures/models_torchvision.py).
/// The weights come from a formula of each tensor's name and element index, the same in the
/// exporter and here; the outputs were computed by torchvision.
final class ResNetParityTests: XCTestCase {
    func testLogitsAndStageOutputsMatchTorchvision() throws {
        let cases = try Fixtures.load("resnet_torchvision")
        XCTAssertEqual(cases.map(\.name), ["resnet18", "resnet50"])
        for c in cases {
            let model = try ResNet(ResNetConfig(depth: c.int("depth") ?? 0, classes: c.int("classes") ?? 0))
            let keys = (c.args["keys"] as? [String]) ?? []
            XCTAssertEqual(Set(model.namedState().map(\.path)), Set(keys), "\(c.name): state-dict keys")
            XCTAssertEqual(model.namedState().count, keys.count, "\(c.name): state-dict size")
            try FormulaWeights.fill(model)
            let result = try GradMode.withoutGrad {
                try trace(model, try c.tensor("input"), capture: ["layer1", "layer2", "layer3", "layer4"])
            }
            // Absolute tolerance relative to each tensor's scale: summation order differs from
            // torchvision's convolution algorithms, and stage outputs reach magnitudes near 100.
            func scaled(_ t: Tensor) -> Float { 1e-5 * max(1, t.scalars.map(abs).max() ?? 0) }
            let logits = try c.tensor("logits")
            assertClose(result.output, logits, rtol: 1e-4, atol: scaled(logits), "\(c.name) logits")
            for stage in 1...4 {
                guard let output = result.activations["layer\(stage)"] else {
                    XCTFail("\(c.name): layer\(stage) not captured"); continue
                }
                let expected = try c.tensor("layer\(stage)")
                assertClose(output, expected, rtol: 1e-4, atol: scaled(expected), "\(c.name) layer\(stage)")
            }
        }
    }

    func testSaveAndRebuildFromMetadata() throws {
        let model = try ResNet(ResNetConfig(depth: 18, classes: 10, channels: 1, width: 8, stem: .small))
        try FormulaWeights.fill(model)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("resnet-\(getpid()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try saveModel(model, to: path)
        guard let rebuilt = try loadModel(path, architectures: .loupeModels) as? ResNet else { return XCTFail("not rebuilt as a ResNet") }
        XCTAssertEqual(rebuilt.config, model.config)
        let x = try Tensor.full([2, 1, 28, 28], 0.5)
        XCTAssertEqual(try forward(rebuilt, x).scalars, try forward(model, x).scalars)
        XCTAssertEqual(try forward(model, x).shape, [2, 10])
    }

    func testBadConfigurationsAndInputsAreClearErrors() throws {
        XCTAssertThrowsError(try ResNet(ResNetConfig(depth: 19, classes: 10))) { error in
            XCTAssertEqual((error as? LoupeError)?.message, "resnet: depth must be 10, 18, 34, 50, 101 or 152, got 19")
        }
        let model = try ResNet(ResNetConfig(depth: 10, classes: 3, channels: 1, width: 4, stem: .small))
        XCTAssertThrowsError(try forward(model, Tensor.zeros([1, 3, 8, 8]))) { error in
            XCTAssertEqual((error as? LoupeError)?.message, "ResNet: expected images [N, 1, H, W], got [1, 3, 8, 8]")
        }
    }
}
