import XCTest
import LoupeModels
import LoupeModelsTestSupport
import LoupeTensor
@testable import LoupeScript

/// Scripts that need a model only the tests define: `TestCoreScripts/*.loupe` run with the
/// standard cores plus a test core whose `conditioned_test_net(seed: 7)` builds a model with two
/// inputs (`x [B, T, 6]`, `c [B, 3]`, an optional number `gain`) and a record output
/// `{logits, features, per_block}` (see `ConditionedTestNet`).
final class TestCoreTests: XCTestCase {
    static let directory = ScriptTests.scriptsDirectory.deletingLastPathComponent().appendingPathComponent("TestCoreScripts")

    static let testCore = CustomCore(name: "tests", builtins: [
        Builtin("conditioned_test_net(seed: 7)", "A model with inputs (x [B, T, 6], c [B, 3], gain: 1) and output {logits, features, per_block}.") { a in
            .handle(ModelHandle(try ConditionedTestNet(dim: 6, conditionDim: 3, classes: 4, seed: UInt64(try a.int("seed")))))
        },
    ])

    func testScriptsWithATwoInputModel() throws {
        try ScriptTests.checkScripts(in: Self.directory) { Interpreter(table: try BuiltinTable(cores: ScriptCores.standard + [Self.testCore])) }
    }
}

/// A classifier (a linear layer on flattened images) that requests an interrupt, as Ctrl-C does,
/// during its `after`-th forward pass: training stops before the next step.
final class InterruptingClassifier: Module {
    let linear: Linear
    let after: Int
    var calls = 0

    init(features: Int, classes: Int, after: Int) throws {
        linear = try Linear(features, classes)
        self.after = after
        super.init()
        registerModule("linear", linear)
    }

    override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        calls += 1
        if calls == after { Interrupt.requested = 1 }
        return try context.apply(linear, try input.reshaped([input.shape[0], -1]))
    }
}

extension TestCoreTests {
    static let interruptCore = CustomCore(name: "interrupts", builtins: [
        Builtin("interrupting_classifier(features, classes, after)", "A linear classifier that requests an interrupt during its after-th forward pass.") { a in
            .handle(ModelHandle(try InterruptingClassifier(features: try a.int("features"), classes: try a.int("classes"), after: try a.int("after"))))
        },
    ])

    func testCtrlCDuringTrainingSaysHowFarItGot() throws {
        let interpreter = Interpreter(table: try BuiltinTable(cores: ScriptCores.standard + [Self.interruptCore]))
        defer { Interrupt.requested = 0 }
        let code = """
            seed(1)
            m = interrupting_classifier(4, 3, 3)
            data = {images: rand(40, 1, 2, 2), labels: randint(0, 3, 40)}
            train(m, data, epochs: 2, batch: 8)
            """
        XCTAssertThrowsError(try interpreter.run(SourceFile(name: "t.loupe", text: code))) { error in
            XCTAssertEqual((error as? ScriptError)?.message, "interrupted at step 3 of 5 in epoch 1 of 2; m keeps the weights of step 3")
        }
        XCTAssertEqual(Interrupt.requested, 0, "the interrupt is consumed")
    }
}
