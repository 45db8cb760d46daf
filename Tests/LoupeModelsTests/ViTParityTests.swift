import XCTest
import LoupeModels
import LoupeTensor
import LoupeIO
import LoupeTestSupport

/// Loupe's ViT against timm's VisionTransformer on the committed fixtures.
final class ViTParityTests: XCTestCase {
    func testLogitsAndBlockOutputsMatchTimm() throws {
        let cases = try TimmFixtures.cases()
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            let model = try VisionTransformer(try TimmFixtures.config(c))
            let report = try loadWeights(model, from: TimmFixtures.weightsPath(c.name))
            XCTAssertTrue(report.isClean, c.name)
            let result = try GradMode.withoutGrad {
                try trace(model, try c.tensor("input"), capture: ["blocks.*"])
            }
            assertClose(result.output, try c.tensor("logits"), rtol: 1e-4, atol: 1e-5, "\(c.name) logits")
            for i in 0..<model.config.depth {
                guard let block = result.activations["blocks.\(i)"] else { XCTFail("\(c.name): blocks.\(i) not captured"); continue }
                assertClose(block, try c.tensor("block\(i)"), rtol: 1e-4, atol: 1e-5, "\(c.name) block \(i)")
            }
        }
    }

    func testParameterPathsAreTimmStateDictKeys() throws {
        for c in try TimmFixtures.cases() {
            let model = try VisionTransformer(try TimmFixtures.config(c))
            let file = try SafeTensorsFile(path: TimmFixtures.weightsPath(c.name))
            XCTAssertEqual(Set(model.stateDict().keys), Set(file.names), c.name)
            let stored = try file.names.reduce(0) { $0 + (try file.info($1)).count }
            XCTAssertEqual(model.parameterCount, stored, c.name)
        }
    }

    func testDefaultForwardEqualsCapturedOutput() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        let plain = try forward(model, x)
        let captured = try capture(model, x, ["output"])
        XCTAssertEqual(plain.scalars, captured["output"]?.scalars)
        XCTAssertEqual(try model(x).scalars, plain.scalars)
    }

    func testWrongImageSizeIsAClearError() throws {
        let (model, _) = try TimmFixtures.model("vit_p8_cls")
        XCTAssertThrowsError(try forward(model, try Tensor.zeros([1, 3, 16, 16]))) { error in
            XCTAssertTrue("\(error)".contains("[1, 3, 16, 16]") && "\(error)".contains("ViT"), "\(error)")
        }
        XCTAssertThrowsError(try VisionTransformer(ViTConfig(imageSize: 30, patchSize: 8, dim: 48, depth: 1, heads: 3, classes: 2))) { error in
            XCTAssertTrue("\(error)".contains("image_size must be a positive multiple of patch"), "\(error)")
        }
        XCTAssertThrowsError(try VisionTransformer(ViTConfig(imageSize: 32, patchSize: 8, dim: 48, depth: 1, heads: 5, classes: 2))) { error in
            XCTAssertTrue("\(error)".contains("heads"), "\(error)")
        }
    }
}
