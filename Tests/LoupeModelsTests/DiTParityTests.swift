import Foundation
import XCTest
import LoupeIO
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// Loupe's DiT against facebookresearch/DiT's own `models.py` (Scripts/fixtures/models_dit.py):
/// random weights with the adaLN and output layers (zero in DiT's initialisation) randomised;
/// the embedders' outputs, the conditioning `c`, each block's modulation, attention input and
/// output and output, the final layer, the output, and gradients of `sum(output * R)` to the
/// input and to five parameters. Also DiT's timestep embedding and 2-D sin-cos position embedding.
final class DiTParityTests: XCTestCase {
    struct Case {
        var config: DiTConfig
        var keys: [String]
        var tensors: [String: Tensor]

        func tensor(_ name: String) throws -> Tensor {
            guard let t = tensors[name] else { throw LoupeError("fixture: no tensor '\(name)'") }
            return t
        }
    }

    static func load(_ name: String) throws -> Case {
        let file = try SafeTensorsFile(path: Fixtures.directory.appendingPathComponent("dit/\(name).safetensors").path)
        let kwargs = file.metadata["kwargs"] ?? "{}"
        let keys = try JSONDecoder().decode([String].self, from: Data((file.metadata["keys"] ?? "[]").utf8))
        let config = try decodeConfiguration(DiTConfig.self, kwargs, architecture: "dit")
        return Case(config: config, keys: keys, tensors: try file.allTensors())
    }

    /// A DiT with the fixture's weights; every state entry must be stored and every stored
    /// weight used. The computed `pos_embed` is checked against DiT's before it is overwritten.
    static func model(_ fixture: Case, file: StaticString = #filePath, line: UInt = #line) throws -> DiT {
        let model = try DiT(fixture.config)
        assertClose(model.positionEmbedding.value, try fixture.tensor("weights.pos_embed"), rtol: 0, atol: 1e-6,
                    "pos_embed computed as DiT does", file: file, line: line)
        let state = model.namedState()
        for (path, parameter) in state {
            let stored = try fixture.tensor("weights." + path)
            XCTAssertEqual(stored.shape, parameter.value.shape, path, file: file, line: line)
            parameter.value = stored
        }
        let used = Set(state.map { "weights." + $0.path })
        XCTAssertEqual(fixture.tensors.keys.filter { $0.hasPrefix("weights.") && !used.contains($0) }, [],
                       "weights the model has no place for", file: file, line: line)
        return model
    }

    static func inputs(_ fixture: Case, x: Tensor? = nil) throws -> ModuleInputs {
        ModuleInputs([("x", .tensor(try x ?? fixture.tensor("input.x"))), ("t", .tensor(try fixture.tensor("input.t"))),
                      ("y", .tensor(try fixture.tensor("input.y")))])
    }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Self.load(name)
        let model = try Self.model(fixture, file: file, line: line)
        let context = ForwardContext(capture: fixture.keys)
        let output = try GradMode.withoutGrad { try context.run(model, inputs: try Self.inputs(fixture)).tensor("output") }
        try context.checkAllPathsUsed(op: "parity")
        var worst: Float = 0
        for key in fixture.keys {
            guard let actual = context.activations[key] else { XCTFail("\(name): no activation at \(key)", file: file, line: line); continue }
            let expected = try fixture.tensor(key)
            assertClose(actual, expected, rtol: 1e-4, atol: 1e-4, "\(name) \(key)", file: file, line: line)
            if actual.shape == expected.shape { worst = max(worst, Self.maxDifference(actual, expected)) }
        }
        let expected = try fixture.tensor("output")
        assertClose(output, expected, rtol: 1e-4, atol: 1e-4, "\(name) output", file: file, line: line)
        print("\(name): max |Loupe - DiT| over the sites \(worst), output \(Self.maxDifference(output, expected))")

        // The gradient of sum(output * R) to the input and to some parameters, with the tape.
        let x = try fixture.tensor("input.x").requiringGrad()
        let names = fixture.tensors.keys.filter { $0.hasPrefix("grad.") && $0 != "grad.x" }.sorted()
        let parameters = names.map { key in model.namedParameters().first { "grad." + $0.path == key }!.parameter }
        for parameter in parameters { parameter.value = parameter.value.requiringGrad() }
        defer { for parameter in parameters { parameter.value = parameter.value.detached() } }
        let gradients = try GradMode.withGrad { () throws -> [Tensor] in
            let out = try ForwardContext().run(model, inputs: try Self.inputs(fixture, x: x)).tensor("output")
            return try Autograd.gradients(of: (out * fixture.tensor("input.R")).sum(), wrt: [x] + parameters.map(\.value))
        }
        for (key, gradient) in zip(["grad.x"] + names, gradients) {
            let expected = try fixture.tensor(key)
            let scale = expected.scalars.map(abs).max() ?? 1
            assertClose(gradient, expected, rtol: 1e-3, atol: 1e-4 * scale, "\(name) \(key)", file: file, line: line)
            print("\(name): \(key) max |difference| \(Self.maxDifference(gradient, expected)) (largest value \(scale))")
        }
    }

    static func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    func testInput8Patch2LearnSigmaWithTheNullClass() throws { try check("dit_i8_p2_sigma") }
    func testInput16Patch4WithoutSigmaOrNullClass() throws { try check("dit_i16_p4_eps") }

    func testTimestepAndPositionEmbeddingsMatchDiTs() throws {
        let file = try SafeTensorsFile(path: Fixtures.directory.appendingPathComponent("dit/embeddings.safetensors").path)
        let t = try file.tensor(named: "t")
        for dim in [256, 7] {
            let expected = try file.tensor(named: "timestep_embedding.\(dim)")
            let actual = try DiTOps.timestepEmbedding(t, dim: dim)
            // Arguments reach 1000: float32's cos and sin there differ by an ulp of the argument.
            assertClose(actual, expected, rtol: 0, atol: 1e-4, "timestep_embedding dim \(dim)")
            print("timestep_embedding dim \(dim): max |difference| \(Self.maxDifference(actual, expected))")
        }
        for (dim, grid) in [(64, 4), (96, 2), (1152, 2)] {
            let expected = try file.tensor(named: "pos_embed.\(dim).\(grid)")
            let actual = try DiTOps.sinCosPositionEmbedding(dim: dim, gridSize: grid)
            assertClose(actual, expected, rtol: 0, atol: 1e-7, "pos_embed \(dim) \(grid)")
        }
    }
}
