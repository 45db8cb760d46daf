import XCTest
import LoupeModels
import LoupeInversion
@testable import LoupeScript
import LoupeTensor

/// Inversion builtins under the interpreter's step budget, on a tiny random ViT given as `m`.
final class InversionBindingTests: XCTestCase {
    func tinyViT(channels: Int = 1, dim: Int = 32) throws -> VisionTransformer {
        let model = try VisionTransformer(ViTConfig(imageSize: 16, patchSize: 4, dim: dim, depth: 2, heads: 2, classes: 10,
                                                    channels: channels))
        var generator = RandomGenerator(seed: 1)
        try model.initialize(generator: &generator)
        return model
    }

    /// The step budget (as Ctrl-C) stops a long inversion or training between steps (the
    /// rest of the inversion builtins are tested in Scripts/inversion/*.loupe).
    func testStepBudgetStopsLongRuns() throws {
        let model = try tinyViT()
        for call in ["invert(m, rand(1, 1, 16, 16), \"tokens\", steps: 100000)", "train_inverse(m, rand(4, 1, 16, 16), epochs: 100000, batch: 1)"] {
            let interpreter = try Interpreter()
            interpreter.setVariable("m", .handle(ModelHandle(model)))
            interpreter.stepBudget = 50
            XCTAssertThrowsError(try interpreter.run(SourceFile(name: "budget.loupe", text: call))) { error in
                XCTAssertTrue("\(error)".contains("step budget exhausted"), "\(error)")
            }
        }
    }
}
