import Foundation
import XCTest
import LoupeModels
import LoupeTestSupport
import LoupeTensor
import LoupeIO

final class ReplacementTests: XCTestCase {
    /// A freshly initialised MLP of width 48 (the fixture ViT's) with a narrower hidden layer.
    func narrowMLP(seed: UInt64 = 7) throws -> MLP {
        let mlp = try MLP(dim: 48, hidden: 16)
        var generator = RandomGenerator(seed: seed)
        try mlp.resetParameters(generator: &generator)
        return mlp
    }

    func parameterObjects(_ model: Module) -> [String: ObjectIdentifier] {
        Dictionary(uniqueKeysWithValues: model.namedState().map { ($0.path, ObjectIdentifier($0.parameter)) })
    }

    func testOriginalIsUntouchedAndOtherParametersAreShared() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        let clean = try forward(model, x)
        let before = parameterObjects(model)
        let beforeValues = model.stateDict()

        let mlp = try narrowMLP()
        let edited = try replace(model, at: "blocks.0.mlp", with: mlp)

        XCTAssertEqual(try forward(model, x).scalars, clean.scalars, "the original's forward is bit-identical")
        XCTAssertEqual(parameterObjects(model), before, "the original's parameter objects are the same")
        for (key, value) in model.stateDict() { XCTAssertEqual(value.scalars, beforeValues[key]!.scalars, key) }
        XCTAssertTrue(model.module(at: "blocks.0.mlp") is MLP && model.module(at: "blocks.0.mlp") !== mlp)

        let shared = parameterObjects(edited)
        for (path, id) in before where !path.hasPrefix("blocks.0.mlp.") {
            XCTAssertEqual(shared[path], id, "\(path) is the same Parameter object")
        }
        XCTAssertEqual(shared["blocks.0.mlp.fc1.weight"], ObjectIdentifier(mlp.fc1.weight))
        XCTAssertEqual(edited.namedParameters().first { $0.path == "blocks.0.mlp.fc1.weight" }?.parameter.shape, [16, 48])
        XCTAssertEqual(Set(shared.keys), Set(before.keys), "same keys, the MLP has the same parameter names")
        XCTAssertTrue(edited.module(at: "blocks.0.mlp") === mlp)
        XCTAssertTrue(edited.module(at: "blocks.0.mlp.fc2") === mlp.fc2)
        XCTAssertTrue(edited.module(at: "blocks.1.mlp") === model.module(at: "blocks.1.mlp"))
        XCTAssertNil(edited.module(at: "blocks.0.mlp.fc3"))
        XCTAssertEqual(edited.modules.map(\.path), model.modules.map(\.path))
        XCTAssertEqual(edited.typeName, "VisionTransformer")
        XCTAssertEqual(edited.parameterCount, model.parameterCount - (2 * 48 * 96 + 96 + 48) + (2 * 48 * 16 + 16 + 48))
        XCTAssertTrue(edited.summary.contains("blocks.0.mlp.fc1"))
    }

    func testIdentityAtABlockSkipsIt() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        let edited = try replace(model, at: "blocks.1", with: Identity())
        // Hand-derived: skipping block 1 is the model whose block-1 output is patched by its input.
        let input = try XCTUnwrap(try capture(model, x, ["blocks.1.input"])["blocks.1.input"])
        let skipped = try patch(model, x, ["blocks.1": .tensor(input)])
        XCTAssertEqual(try forward(edited, x).scalars, skipped.scalars)
        XCTAssertEqual(try edited(x).scalars, skipped.scalars, "callAsFunction runs the overlay")
        XCTAssertFalse(edited.namedParameters().contains { $0.path.hasPrefix("blocks.1.") })
        XCTAssertEqual(edited.namedModules().filter { $0.path.hasPrefix("blocks.1") }.map(\.path), ["blocks.1"])
        let paths = try activationPaths(edited, x)
        XCTAssertTrue(paths.contains("blocks.1") && paths.contains("blocks.1.input"))
        XCTAssertFalse(paths.contains("blocks.1.attn"))
    }

    func testANewMLPChangesTheOutputAndCanBeCaptured() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        let mlp = try narrowMLP()
        let edited = try replace(model, at: "blocks.0.mlp", with: mlp)
        let out = try forward(edited, x)
        let clean = try forward(model, x)
        XCTAssertGreaterThan(zip(out.scalars, clean.scalars).map { abs($0 - $1) }.max()!, 1e-3)

        let acts = try capture(edited, x, ["blocks.0.norm2", "blocks.0.mlp", "blocks.0.mlp.fc1", "blocks.0.mlp.fc2.input",
                                           "blocks.0.resid_attn", "blocks.0.resid_mlp"])
        XCTAssertEqual(acts["blocks.0.mlp.fc1"]?.shape, [2, 17, 16])
        XCTAssertEqual(acts["blocks.0.mlp.fc2.input"]?.shape, [2, 17, 16])
        // The captured sub-layer output is the new MLP applied to the captured norm2 output.
        XCTAssertEqual(try forward(mlp, acts["blocks.0.norm2"]!).scalars, acts["blocks.0.mlp"]!.scalars)
        XCTAssertEqual(try (acts["blocks.0.resid_attn"]! + acts["blocks.0.mlp"]!).scalars, acts["blocks.0.resid_mlp"]!.scalars)
        // Patching inside the replacement: zeroing its output skips the MLP sub-layer.
        let ablated = try trace(edited, x, capture: ["blocks.0.resid_attn", "blocks.0.resid_mlp"], patches: ["blocks.0.mlp.fc2": .zeros])
        XCTAssertEqual(ablated.activations["blocks.0.resid_attn"]!.scalars, ablated.activations["blocks.0.resid_mlp"]!.scalars)
    }

    func testEditsCompose() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        let mlp = try narrowMLP()
        let first = try replace(model, at: "blocks.1", with: Identity())
        let firstOutput = try forward(first, x)
        let second = try replace(first, at: "blocks.0.mlp", with: mlp)
        XCTAssertEqual(second.replacements.count, 2)
        XCTAssertTrue(second.base === model)
        XCTAssertEqual(try forward(first, x).scalars, firstOutput.scalars, "the first edit is untouched")
        // Same as both edits applied to the original in the other order.
        let other = try replace(try replace(model, at: "blocks.0.mlp", with: mlp), at: "blocks.1", with: Identity())
        XCTAssertEqual(try forward(second, x).scalars, try forward(other, x).scalars)
        // Replacing an enclosing path drops the edits inside it.
        let third = try replace(second, at: "blocks.0", with: Identity())
        XCTAssertEqual(Set(third.replacements.keys), ["blocks.0", "blocks.1"])
        // Edits inside a replacement: a Sequential at blocks.0.mlp whose second layer is replaced.
        let wrapped = try replace(model, at: "blocks.0.mlp", with: Sequential([Identity(), mlp]))
        XCTAssertTrue(wrapped.module(at: "blocks.0.mlp.1.fc1") === mlp.fc1)
        let inner = try replace(wrapped, at: "blocks.0.mlp.1", with: Identity())
        let direct = try replace(model, at: "blocks.0.mlp", with: Sequential([Identity(), Identity()]))
        XCTAssertEqual(try forward(inner, x).scalars, try forward(direct, x).scalars)
        XCTAssertNotEqual(try forward(inner, x).scalars, try forward(wrapped, x).scalars)
        // An edited model as a replacement brings its edits along.
        let block = try replace(XCTUnwrap(model.module(at: "blocks.0")), at: "mlp", with: mlp)
        let grafted = try replace(model, at: "blocks.0", with: block)
        XCTAssertEqual(try forward(grafted, x).scalars, try forward(replace(model, at: "blocks.0.mlp", with: mlp), x).scalars)
    }

    func testBadPathsAndCyclesAreClearErrors() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        let clean = try forward(model, x)
        XCTAssertThrowsError(try replace(model, at: "blocks.5", with: Identity())) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("replace: no module at path 'blocks.5'") && text.contains("closest: blocks.0, blocks.1"), text)
        }
        XCTAssertThrowsError(try replace(model, at: "blocks.0.attn.probs", with: Identity())) { error in
            XCTAssertTrue("\(error)".contains("closest: blocks.0.attn.proj, blocks.0.attn.qkv, blocks.0.attn, "), "\(error)")
        }
        XCTAssertThrowsError(try replace(model, at: "", with: Identity())) { error in
            XCTAssertTrue("\(error)".contains("the path is empty"), "\(error)")
        }
        XCTAssertThrowsError(try replace(model, at: "blocks.0", with: Sequential([model.blocks]))) { error in
            XCTAssertTrue("\(error)".contains("cannot put a module inside itself"), "\(error)")
        }
        // Putting the blocks in a Sequential did not rename them in the original.
        XCTAssertEqual(try forward(model, x).scalars, clean.scalars)
        XCTAssertTrue(try activationPaths(model, x).contains("blocks.0.attn"))
        let edited = try replace(model, at: "blocks.1", with: Identity())
        XCTAssertThrowsError(try replace(edited, at: "blocks.1.attn", with: Identity())) { error in
            XCTAssertTrue("\(error)".contains("no module at path 'blocks.1.attn'"), "\(error)")
        }
        XCTAssertThrowsError(try replace(model, at: "blocks.0", with: edited)) { error in
            XCTAssertTrue("\(error)".contains("cannot put a module inside itself"), "\(error)")
        }
    }

    func testSaveAndLoadRoundTrip() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        var generator = RandomGenerator(seed: 3)
        let linear = try Linear(48, 48)
        try linear.resetParameters(generator: &generator)
        var edited = try replace(model, at: "blocks.0.mlp", with: Sequential([try narrowMLP(), GELU(), linear]))
        edited = try replace(edited, at: "blocks.1", with: XCTUnwrap(model.module(at: "blocks.0")))
        edited = try replace(edited, at: "norm", with: Identity())
        let path = TimmFixtures.temporaryPath("replaced.safetensors")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try saveModel(edited, to: path, classNames: ["cat", "dog \"quoted\"", "ünï"])
        let metadata = try SafeTensorsFile(path: path).metadata
        XCTAssertEqual(try loadModelWithClasses(path, architectures: .loupeModels).classNames, ["cat", "dog \"quoted\"", "ünï"])
        XCTAssertEqual(metadata["loupe.architecture"], "vit")
        XCTAssertTrue(metadata["loupe.replacements"]?.contains("\"architecture\":\"sequential\"") ?? false, "\(metadata)")
        let loaded = try XCTUnwrap(try loadModel(path, architectures: .loupeModels) as? ReplacedModel)
        XCTAssertEqual(Set(loaded.replacements.keys), ["blocks.0.mlp", "blocks.1", "norm"])
        XCTAssertEqual(loaded.namedState().map(\.path), edited.namedState().map(\.path))
        XCTAssertEqual(try forward(loaded, x).scalars, try forward(edited, x).scalars)

        // A replacement that is not an architecture cannot be saved.
        let other = try VisionTransformer(model.config)
        let unsavable = try replace(model, at: "patch_embed", with: other.patchEmbed)
        XCTAssertThrowsError(try saveModel(unsavable, to: path + ".x")) { error in
            XCTAssertTrue("\(error)".contains("the replacement at 'patch_embed' is a PatchEmbed, which cannot be saved"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + ".x"))
    }

    func testResNetBlockReplacement() throws {
        let model = try ResNet(ResNetConfig(depth: 18, classes: 3, width: 4, stem: .small))
        var generator = RandomGenerator(seed: 11)
        try model.initialize(generator: &generator)
        let x = try Tensor.normal([2, 3, 8, 8], generator: &generator)
        let edited = try replace(model, at: "layer1.0", with: Identity())
        let input = try XCTUnwrap(try capture(model, x, ["layer1.0.input"])["layer1.0.input"])
        XCTAssertEqual(try forward(edited, x).scalars, try patch(model, x, ["layer1.0": .tensor(input)]).scalars)
        XCTAssertFalse(edited.namedBuffers().contains { $0.path.hasPrefix("layer1.0.") })
        XCTAssertTrue(edited.namedBuffers().contains { $0.path == "layer1.1.bn1.running_mean" })
    }
}
