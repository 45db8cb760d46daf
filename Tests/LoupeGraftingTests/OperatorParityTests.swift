import Foundation
import XCTest
import LoupeGrafting
import LoupeIO
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// The grafting operators against the grafting paper's own code (Scripts/fixtures/
/// grafting_operators.py): Hyena-X/Y/SE and MLP-Hyena-X from keshik6/grafting with causal_conv1d
/// on the CPU, flash-attn's MHA with the (4, 4) window, transformers' Mamba2Mixer torch path and
/// timm's Mlp. Each module is rebuilt from its architecture name and configuration through
/// `GraftingArchitectures.catalog`, loads the reference's state dict by name, and must match the
/// output (1e-4) and the gradients of sum(output * R) to the input and every parameter (1e-3
/// relative). Parameter counts at DiT-XL/2's width (1152) must equal the reference's.
final class OperatorParityTests: XCTestCase {
    static let fixtures = FixtureDirectory(testFile: #filePath)

    struct Case {
        var operatorName: String
        var config: String
        var tensors: [String: Tensor]

        func tensor(_ name: String) throws -> Tensor {
            guard let t = tensors[name] else { throw LoupeError("fixture: no tensor '\(name)'") }
            return t
        }
    }

    static func load(_ name: String) throws -> Case {
        let file = try SafeTensorsFile(path: fixtures.directory.appendingPathComponent("operators/\(name).safetensors").path)
        return Case(operatorName: file.metadata["operator"] ?? "", config: file.metadata["config"] ?? "{}",
                    tensors: try file.allTensors())
    }

    /// The largest absolute difference and the largest difference relative to `expected`'s largest magnitude.
    static func differences(_ a: Tensor, _ e: Tensor) -> (absolute: Float, relative: Float) {
        let scale = max(e.scalars.map(abs).max() ?? 0, 1e-12)
        let worst = zip(a.scalars, e.scalars).map { abs($0 - $1) }.max() ?? 0
        return (worst, worst / scale)
    }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Self.load(name)
        let module = try GraftingArchitectures.catalog.build(architecture: fixture.operatorName, configurationJSON: fixture.config)
        // Every state entry comes from the fixture under the reference's name, and every stored weight is used.
        let state = module.namedState()
        for (path, parameter) in state {
            let stored = try fixture.tensor("weights." + path)
            XCTAssertEqual(stored.shape, parameter.value.shape, "\(name) \(path)", file: file, line: line)
            parameter.value = stored
        }
        let used = Set(state.map { "weights." + $0.path })
        XCTAssertEqual(fixture.tensors.keys.filter { $0.hasPrefix("weights.") && !used.contains($0) }, [],
                       "\(name): weights the module has no place for", file: file, line: line)

        let input = try fixture.tensor("input")
        let output = try GradMode.withoutGrad { try module(input) }
        let expected = try fixture.tensor("output")
        assertClose(output, expected, rtol: 1e-4, atol: 1e-4, "\(name) output", file: file, line: line)
        var report = "\(name): output max |diff| \(Self.differences(output, expected).absolute)"

        let parameters = module.parameters(trainable: true)
        let x = input.requiringGrad()
        let loss = try GradMode.withGrad { try (try module(x) * fixture.tensor("loss_weights")).sum() }
        let gradients = try Autograd.gradients(of: loss, wrt: [x] + parameters)
        let names = ["input"] + module.namedParameters().map { "weights." + $0.path }
        var worstRelative: Float = 0
        for (key, gradient) in zip(names, gradients) {
            let reference = try fixture.tensor("grad." + key)
            let scale = max(reference.scalars.map(abs).max() ?? 0, 1e-6)
            assertClose(gradient, reference, rtol: 1e-3, atol: 1e-3 * scale, "\(name) grad.\(key)", file: file, line: line)
            worstRelative = max(worstRelative, Self.differences(gradient, reference).relative)
        }
        report += ", gradients max |diff| / max |reference| \(worstRelative)"
        print(report)
    }

    func testHyenaX() throws { try check("hyena_x") }
    func testHyenaY() throws { try check("hyena_y") }
    func testHyenaSE() throws { try check("hyena_se") }
    func testSlidingWindowAttention() throws { try check("swa") }
    func testSlidingWindowAttentionShorterThanTheWindow() throws { try check("swa_short") }
    func testMamba2() throws { try check("mamba2") }
    func testMamba2TwoGroups() throws { try check("mamba2_groups") }
    func testMLPRatio3() throws { try check("mlp_ratio_3") }
    func testMLPRatio6() throws { try check("mlp_ratio_6") }
    func testMLPHyenaX() throws { try check("mlp_hyena_x") }

    func testParameterCountsAtDiTXL2EqualTheReference() throws {
        let data = try Data(contentsOf: Self.fixtures.directory.appendingPathComponent("operators/param_counts.json"))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let counts = root["counts"] as? [String: Int], let shapes = root["mamba2_shapes"] as? [String: [Int]] else {
            return XCTFail("param_counts.json is not {counts, mamba2_shapes}")
        }
        let c = 1152
        var generator = RandomGenerator(seed: 0)
        let mamba = try Mamba2(Mamba2.Config(dModel: c))
        let modules: [(String, Module)] = [
            ("hyena_x", try HyenaX(dim: c)), ("hyena_y", try HyenaY(dim: c)), ("hyena_se", try HyenaSE(dim: c)),
            ("swa", try SlidingWindowAttention(dim: c, heads: 16)), ("mamba2", mamba),
            ("mha", try Attention(dim: c, heads: 16)),
            ("mlp_ratio_3", try GraftingArchitectures.ratioMLP(dim: c, ratio: 3, generator: &generator)),
            ("mlp_ratio_4", try GraftingArchitectures.ratioMLP(dim: c, ratio: 4, generator: &generator)),
            ("mlp_ratio_6", try GraftingArchitectures.ratioMLP(dim: c, ratio: 6, generator: &generator)),
            ("mlp_hyena_x", try MLPHyenaX(dim: c, tokens: 256)),
        ]
        XCTAssertEqual(Set(modules.map(\.0)), Set(counts.keys))
        for (name, module) in modules {
            XCTAssertEqual(module.parameterCount, counts[name], name)
        }
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: mamba.namedState().map { ($0.path, $0.parameter.shape) }), shapes)
    }
}
