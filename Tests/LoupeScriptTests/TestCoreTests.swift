import XCTest
import LoupeModels
import LoupeModelsTestSupport
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
