import XCTest
import LoupeModels
import LoupeIO
import LoupeTensor
import LoupeTestSupport

final class WeightLoadingTests: XCTestCase {
    func testStrictLoadingNamesMissingUnexpectedAndMismatchedKeys() throws {
        // deit3_p16 has 2 blocks with LayerScale, 5 classes, pos_embed of 4 patches.
        let config = ViTConfig(imageSize: 32, patchSize: 16, dim: 32, depth: 3, heads: 4, classes: 6, mlpRatio: 2)
        let model = try VisionTransformer(config)
        let before = model.stateDict()["blocks.0.attn.qkv.weight"]!.scalars
        XCTAssertThrowsError(try loadWeights(model, from: TimmFixtures.weightsPath("deit3_p16"))) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("load_weights: '"), text)
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
            XCTAssertTrue("\(error)".hasPrefix("model: '") && "\(error)".contains("loupe.architecture"), "\(error)")
        }
        XCTAssertThrowsError(try ArchitectureCatalog.loupeModels.build(architecture: "nope", configurationJSON: "{}")) { error in
            XCTAssertTrue("\(error)".contains("unknown architecture 'nope'") && "\(error)".contains("vit"), "\(error)")
        }
        XCTAssertThrowsError(try ArchitectureCatalog.loupeModels.build(architecture: "vit", configurationJSON: "{\"dim\": 3}")) { error in
            XCTAssertTrue("\(error)".contains("ViTConfig"), "\(error)")
        }
        XCTAssertThrowsError(try saveModel(try Attention(dim: 4, heads: 2), to: TimmFixtures.temporaryPath("x"))) { error in
            XCTAssertTrue("\(error)".contains("save_model: Attention"), "\(error)")
        }
    }

    /// `loupe.config` holds the language's constructor argument names; configurations written
    /// before, with the Swift property names, still load.
    func testConfigurationUsesConstructorNamesAndReadsOldNames() throws {
        let vit = ViTConfig(imageSize: 32, patchSize: 8, dim: 32, depth: 2, heads: 2, classes: 10, mlpRatio: 2, layerScale: 0.5)
        XCTAssertEqual(try VisionTransformer(vit).configurationJSON(),
                       #"{"channels":3,"class_token":true,"classes":10,"depth":2,"dim":32,"eps":1e-06,"heads":2,"image_size":32,"# +
                       #""layer_scale":0.5,"mlp_ratio":2,"patch":8,"position_embeds_class_token":true}"#)
        let old = #"{"channels":3,"classToken":true,"classes":10,"depth":2,"dim":32,"eps":1e-06,"heads":2,"imageSize":32,"# +
            #""layerScale":0.5,"mlpRatio":2,"patchSize":8,"positionEmbedsClassToken":true}"#
        XCTAssertEqual((try ArchitectureCatalog.loupeModels.build(architecture: "vit", configurationJSON: old) as? VisionTransformer)?.config, vit)
        let minimal = #"{"image_size":32,"patch":8,"dim":32,"depth":2,"heads":2,"classes":10,"mlp_ratio":2,"layer_scale":0.5}"#
        XCTAssertEqual((try ArchitectureCatalog.loupeModels.build(architecture: "vit", configurationJSON: minimal) as? VisionTransformer)?.config, vit)

        let resnet = ResNetConfig(depth: 18, classes: 10, channels: 1, width: 4, stem: .small)
        XCTAssertEqual(try ResNet(resnet).configurationJSON(), #"{"channels":1,"classes":10,"depth":18,"small":true,"width":4}"#)
        let oldResNet = #"{"channels":1,"classes":10,"depth":18,"stem":"small","width":4}"#
        XCTAssertEqual((try ArchitectureCatalog.loupeModels.build(architecture: "resnet", configurationJSON: oldResNet) as? ResNet)?.config, resnet)
        XCTAssertThrowsError(try ArchitectureCatalog.loupeModels.build(architecture: "resnet", configurationJSON: #"{"depth":18}"#)) { error in
            XCTAssertTrue("\(error)".hasPrefix("model: 'resnet' configuration"), "\(error)")
        }

        // A replacement at a snake_case path keeps its path, and its configuration its names.
        let model = try VisionTransformer(ViTConfig(imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, classes: 3, classToken: false))
        let edited = try replace(model, at: "fc_norm", with: try Linear(8, 8))
        let path = TimmFixtures.temporaryPath("snake-replacement")
        try saveModel(edited, to: path)
        let metadata = try SafeTensorsFile(path: path).metadata
        XCTAssertEqual(metadata["loupe.replacements"],
                       #"{"fc_norm":{"architecture":"linear","config":"{\"bias\":true,\"in_features\":8,\"out_features\":8}"}}"#)
        let loaded = try loadModel(path, architectures: .loupeModels)
        XCTAssertTrue(loaded.module(at: "fc_norm") is Linear)
    }

    /// Strict loading of a checkpoint without batch norm `num_batches_tracked` buffers (made from
    /// torchvision's export by Scripts/fixtures/drop_num_batches_tracked.py) succeeds, as torch's
    /// strict `load_state_dict` does, and keeps the buffers' current values as torch 2.x does.
    /// Any other missing key still fails.
    func testCheckpointWithoutBatchesTrackedLoadsStrictly() throws {
        func exported(_ name: String) -> String { Fixtures.directory.appendingPathComponent("exported/" + name).path }
        let path = exported("resnet18_w4_no_batches_tracked.safetensors")
        let file = try SafeTensorsFile(path: path)
        XCTAssertFalse(file.names.contains { $0.hasSuffix("num_batches_tracked") })

        let model = try loadModel(path, architectures: .loupeModels)
        let check = try SafeTensorsFile(path: exported("resnet18_w4.check.safetensors"))
        assertClose(try forward(model, try check.tensor(named: "input")), try check.tensor(named: "logits"), rtol: 1e-4, atol: 1e-5, "logits")

        let resnet = try ResNet(ResNetConfig(depth: 18, classes: 10, width: 4))
        let counters = resnet.namedBuffers().filter { $0.path.hasSuffix("num_batches_tracked") }
        XCTAssertEqual(counters.count, 20)
        for counter in counters { counter.parameter.value = Tensor(7) }
        let report = try loadWeights(resnet, from: path, strict: true)
        XCTAssertTrue(report.isClean, "\(report)")
        XCTAssertEqual(report.loaded.count, 102)
        XCTAssertEqual(try counters[0].parameter.value.item(), 7, "a missing counter keeps its value")
        XCTAssertEqual(resnet.stateDict()["fc.weight"]?.scalars, try file.tensor(named: "fc.weight").scalars)

        var tensors = try file.allTensors()
        tensors["layer1.0.bn1.running_mean"] = nil
        let lacking = TimmFixtures.temporaryPath("no-running-mean")
        try SafeTensors.write(tensors, to: lacking)
        XCTAssertThrowsError(try loadWeights(try ResNet(ResNetConfig(depth: 18, classes: 10, width: 4)), from: lacking)) { error in
            XCTAssertTrue("\(error)".hasPrefix("load_weights: '\(lacking)' does not match the model: 1 missing: layer1.0.bn1.running_mean"), "\(error)")
        }
        let partial = try loadWeights(try ResNet(ResNetConfig(depth: 18, classes: 10, width: 4)), from: lacking, strict: false)
        XCTAssertEqual(partial.missing, ["layer1.0.bn1.running_mean"])
    }
}
