import XCTest
@testable import LoupeInversion
import LoupeTensor
import LoupeModels
import LoupeInputOptimization
import LoupeTestSupport

/// Each inverse-chain layout against a PyTorch reference of the same modules
/// (Scripts/fixtures/inverse_modules.py): block, sub-layer and stage inverses, the enhanced patch
/// inverse (transposed convolutions, batch norm in evaluation mode, ReLU, sigmoid) and the linear
/// one, with the weights loaded by their Loupe paths; the reconstruction from every start path
/// must match. Then save and load keep every chain type.
final class InverseModuleParityTests: XCTestCase {
    private func config(_ c: FixtureCase) throws -> InverseChainConfig {
        let vit = ViTConfig(imageSize: c.int("image")!, patchSize: c.int("patch_size")!, dim: c.int("dim")!,
                            depth: c.int("depth")!, heads: c.int("heads")!, classes: 10, channels: c.int("channels")!,
                            classToken: c.bool("class_token")!)
        let layout: InverseLayout
        switch c.string("layout") {
        case "blocks": layout = .blocks
        case "sublayers": layout = .sublayers
        default: layout = .stages(c.int("stage_size")!)
        }
        return try InverseChainConfig.vit(vit, layout: layout, patch: PatchInverseKind(rawValue: c.string("patch")!)!)
    }

    func testChainsMatchPyTorchModules() throws {
        let cases = try Fixtures.load("inverse_modules")
        XCTAssertEqual(cases.count, 4)
        for c in cases {
            let config = try config(c)
            // Loupe builds the same stages as the reference.
            let stages = c.args["stages"] as? [[String: Any]] ?? []
            XCTAssertEqual(config.stages.map(\.from), stages.map { $0["from"] as? String ?? "" }, c.name)
            XCTAssertEqual(config.stages.map(\.to), stages.map { $0["to"] as? String ?? "" }, c.name)
            XCTAssertEqual(config.stages.map(\.kind), stages.map { $0["kind"] as? String ?? "" }, c.name)
            XCTAssertEqual(config.stages.map { $0.depth ?? 0 }, stages.map { ($0["depth"] as? NSNumber)?.intValue ?? 0 }, c.name)
            XCTAssertEqual(config.stages.map { $0.widths ?? [] }, stages.map { ($0["widths"] as? [NSNumber] ?? []).map(\.intValue) }, c.name)

            let chain = try InverseChain(config)
            let weights = c.tensors.filter { $0.key.hasPrefix("w.") }
            XCTAssertEqual(Set(chain.namedState().map { "w." + $0.path }), Set(weights.keys), "\(c.name): the same weights by path")
            for (path, parameter) in chain.namedState() { parameter.value = try c.tensor("w." + path) }
            chain.setTraining(false)
            for start in chain.startPaths {
                let output = try GradMode.withoutGrad { try chain.reconstruct(try c.tensor("in." + start), from: start) }
                assertClose(output, try c.tensor("out." + start), rtol: 1e-4, atol: 2e-5, "\(c.name): from \(start)")
            }
        }
    }

    /// Every chain type (each layout with each learned patch inverse, and the analytic one)
    /// survives save and load: same configuration, same state bit for bit, same reconstruction.
    func testSaveAndLoadKeepEveryChainType() throws {
        let model = try tinyViT(imageSize: 8, patch: 4, dim: 16, depth: 3, channels: 3)
        var generator = RandomGenerator(seed: 21)
        let acts = try Tensor.uniform([2, 5, 16], low: -1, high: 1, generator: &generator)
        let normalization = Normalization(mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3])
        var kinds = 0
        for layout in [InverseLayout.blocks, .sublayers, .stages(2), .stages(3)] {
            for patch in PatchInverseKind.allCases {
                let chain = try InverseChain(model: model, layout: layout, patch: patch, normalization: normalization,
                                             generator: &generator)
                // Non-trivial batch-norm buffers, so their saving is checked too.
                for (path, parameter) in chain.namedBuffers() where path.hasSuffix("running_var") || path.hasSuffix("running_mean") {
                    parameter.value = try Tensor.uniform(parameter.value.shape, low: 0.5, high: 1.5, generator: &generator)
                }
                let url = FileManager.default.temporaryDirectory.appendingPathComponent("chain-\(UUID().uuidString).safetensors")
                defer { try? FileManager.default.removeItem(at: url) }
                try chain.save(to: url.path)
                let loaded = try InverseChain.load(url.path)
                let name = "\(layout) \(patch)"
                XCTAssertEqual(loaded.config, chain.config, name)
                let original = chain.stateDict(), restored = loaded.stateDict()
                XCTAssertEqual(Set(restored.keys), Set(original.keys), name)
                for (key, value) in original { XCTAssertEqual(restored[key]?.scalars, value.scalars, "\(name): \(key)") }
                for start in chain.startPaths {
                    let a = try GradMode.withoutGrad { try chain.reconstruct(acts, from: start) }
                    let b = try GradMode.withoutGrad { try loaded.reconstruct(acts, from: start) }
                    XCTAssertEqual(a.scalars, b.scalars, "\(name): from \(start)")
                }
                kinds += 1
            }
        }
        XCTAssertEqual(kinds, 12)
    }
}
