import XCTest
import LoupeModels
import LoupeIO

final class WeightLoadingTests: XCTestCase {
    func testStrictLoadingNamesMissingUnexpectedAndMismatchedKeys() throws {
        // deit3_p16 has 2 blocks with LayerScale, 5 classes, pos_embed of 4 patches.
        let config = ViTConfig(imageSize: 32, patchSize: 16, dim: 32, depth: 3, heads: 4, classes: 6, mlpRatio: 2)
        let model = try VisionTransformer(config)
        let before = model.stateDict()["blocks.0.attn.qkv.weight"]!.scalars
        XCTAssertThrowsError(try loadWeights(model, from: TimmFixtures.weightsPath("deit3_p16"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("loadWeights"), text)
            XCTAssertTrue(text.contains("12 missing: blocks.2."), text)
            XCTAssertTrue(text.contains("4 unexpected: blocks.0.ls1.gamma"), text)
            XCTAssertTrue(text.contains("head.weight (model [6, 32], checkpoint [5, 32])"), text)
            XCTAssertTrue(text.contains("pos_embed (model [1, 5, 32], checkpoint [1, 4, 32])"), text)
            XCTAssertTrue(text.contains("3 shape-mismatched"), text)
            XCTAssertTrue(text.contains("more)"), text)
        }
        XCTAssertEqual(model.stateDict()["blocks.0.attn.qkv.weight"]!.scalars, before, "strict failure loads nothing")

        let report = try loadWeights(model, from: TimmFixtures.weightsPath("deit3_p16"), strict: false)
        XCTAssertEqual(report.missing.count, 12)
        XCTAssertEqual(report.unexpected, ["blocks.0.ls1.gamma", "blocks.0.ls2.gamma", "blocks.1.ls1.gamma", "blocks.1.ls2.gamma"])
        XCTAssertEqual(report.mismatched.map(\.key), ["pos_embed", "head.weight", "head.bias"])
        XCTAssertTrue(report.loaded.contains("blocks.0.attn.qkv.weight"))
        let file = try SafeTensorsFile(path: TimmFixtures.weightsPath("deit3_p16"))
        XCTAssertEqual(model.stateDict()["blocks.0.attn.qkv.weight"]!.scalars, try file.tensor(named: "blocks.0.attn.qkv.weight").scalars)
    }

    func testShardedCheckpointLoads() throws {
        let (reference, c) = try TimmFixtures.model("vit_p8_cls")
        let state = reference.stateDict()
        let directory = TimmFixtures.temporaryPath("sharded")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = state.keys.sorted()
        let halves = [Array(keys.prefix(keys.count / 2)), Array(keys.dropFirst(keys.count / 2))]
        var weightMap: [String] = []
        for (i, half) in halves.enumerated() {
            let name = "model-0000\(i + 1)-of-00002.safetensors"
            try SafeTensors.write(Dictionary(uniqueKeysWithValues: half.map { ($0, state[$0]!) }), to: directory + "/" + name)
            weightMap += half.map { "\"\($0)\": \"\(name)\"" }
        }
        let index = directory + "/model.safetensors.index.json"
        try "{\"metadata\": {}, \"weight_map\": {\(weightMap.joined(separator: ", "))}}".write(toFile: index, atomically: true, encoding: .utf8)
        let model = try VisionTransformer(reference.config)
        XCTAssertTrue(try loadWeights(model, from: index).isClean)
        let x = try c.tensor("input")
        XCTAssertEqual(try forward(model, x).scalars, try forward(reference, x).scalars)
    }

    func testSaveAndLoadModelRebuildsFromMetadata() throws {
        for name in ["vit_p8_cls", "vit_p4_avg_ls", "deit3_p16"] {
            let (model, c) = try TimmFixtures.model(name)
            let path = TimmFixtures.temporaryPath(name + ".safetensors")
            defer { try? FileManager.default.removeItem(atPath: path) }
            try saveModel(model, to: path)
            let file = try SafeTensorsFile(path: path)
            XCTAssertEqual(file.metadata["loupe.architecture"], "vit")
            XCTAssertNotNil(file.metadata["loupe.config"])
            let rebuilt = try loadModel(path, architectures: .loupeModels)
            guard let vit = rebuilt as? VisionTransformer else { XCTFail("\(name): not a ViT"); continue }
            XCTAssertEqual(vit.config, model.config)
            let x = try c.tensor("input")
            XCTAssertEqual(try forward(vit, x).scalars, try forward(model, x).scalars, name)
        }
    }

    func testLoadModelWithoutMetadataExplains() throws {
        XCTAssertThrowsError(try loadModel(TimmFixtures.weightsPath("vit_p8_cls"), architectures: .loupeModels)) { error in
            XCTAssertTrue("\(error)".contains("loupe.architecture"), "\(error)")
        }
        XCTAssertThrowsError(try ArchitectureCatalog.loupeModels.build(architecture: "nope", configurationJSON: "{}")) { error in
            XCTAssertTrue("\(error)".contains("unknown architecture 'nope'") && "\(error)".contains("vit"), "\(error)")
        }
        XCTAssertThrowsError(try ArchitectureCatalog.loupeModels.build(architecture: "vit", configurationJSON: "{\"dim\": 3}")) { error in
            XCTAssertTrue("\(error)".contains("ViTConfig"), "\(error)")
        }
        XCTAssertThrowsError(try saveModel(try Attention(dim: 4, heads: 2), to: TimmFixtures.temporaryPath("x"))) { error in
            XCTAssertTrue("\(error)".contains("saveModel: Attention"), "\(error)")
        }
    }
}
