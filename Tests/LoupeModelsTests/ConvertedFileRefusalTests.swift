import XCTest
import LoupeModels
import LoupeTensor
import LoupeIO

/// The Loupe side of the converters' refusals: a checkpoint written by Scripts/export_timm.py or
/// export_torchvision.py that was altered afterwards (or converted wrongly) is refused by `loadModel`
/// with the reason, never half-loaded. (The converters' own refusals of models Loupe cannot
/// represent are checked by Scripts/test_exporters.py where timm and torchvision are installed.)
final class ConvertedFileRefusalTests: XCTestCase {
    private func exported(_ name: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let file = try SafeTensorsFile(path: Fixtures.directory.appendingPathComponent("exported/\(name).safetensors").path)
        var tensors: [String: Tensor] = [:]
        for key in file.names { tensors[key] = try file.tensor(named: key) }
        return (tensors, file.metadata)
    }

    /// Writes the altered checkpoint and returns loadModel's error text (nil when it loads).
    private func loadError(_ tensors: [String: Tensor], _ metadata: [String: String]) throws -> String? {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("altered-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write(tensors, to: path, metadata: metadata)
        do {
            _ = try loadModel(path, architectures: try ArchitectureCatalog.loupeModels)
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func assertRefused(_ tensors: [String: Tensor], _ metadata: [String: String], _ expected: [String],
                               _ what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard let text = try loadError(tensors, metadata) else {
            return XCTFail("\(what): loaded", file: file, line: line)
        }
        for part in expected { XCTAssertTrue(text.contains(part), "\(what): \(text)", file: file, line: line) }
    }

    func testAlteredViTCheckpointsAreRefusedWithTheReason() throws {
        let (tensors, metadata) = try exported("vit_tiny")
        XCTAssertNil(try loadError(tensors, metadata), "the unaltered copy loads")
        let config = try XCTUnwrap(metadata["loupe.config"])

        var deeper = metadata
        deeper["loupe.config"] = config.replacingOccurrences(of: "\"depth\":2", with: "\"depth\":3")
        XCTAssertNotEqual(deeper["loupe.config"], config)
        try assertRefused(tensors, deeper, ["missing", "blocks.2."], "a config deeper than the weights")

        var missing = tensors
        missing["blocks.1.mlp.fc2.bias"] = nil
        try assertRefused(missing, metadata, ["missing", "blocks.1.mlp.fc2.bias"], "a dropped tensor")

        var extra = tensors
        extra["blocks.0.ls1.gamma"] = try Tensor.ones([32])
        try assertRefused(extra, metadata, ["unexpected", "blocks.0.ls1.gamma"], "a LayerScale the config does not have")

        var reshaped = tensors
        reshaped["head.weight"] = try tensors["head.weight"]!.reshaped([5, 64])
        try assertRefused(reshaped, metadata, ["head.weight", "[5, 64]"], "a tensor of the wrong shape")

        var badHeads = metadata
        badHeads["loupe.config"] = config.replacingOccurrences(of: "\"heads\":2", with: "\"heads\":3")
        XCTAssertNotEqual(badHeads["loupe.config"], config)
        try assertRefused(tensors, badHeads, ["heads"], "heads that do not divide the width")

        var noArchitecture = metadata
        noArchitecture["loupe.architecture"] = nil
        try assertRefused(tensors, noArchitecture, ["loupe.architecture"], "no architecture in the metadata")

        var unknown = metadata
        unknown["loupe.architecture"] = "swin"
        try assertRefused(tensors, unknown, ["swin"], "an unknown architecture")
    }

    func testResNetWeightsUnderAViTArchitectureAreRefused() throws {
        let (tensors, metadata) = try exported("resnet18_w4")
        XCTAssertNil(try loadError(tensors, metadata), "the unaltered copy loads")
        var relabelled = metadata
        relabelled["loupe.architecture"] = "vit"
        try assertRefused(tensors, relabelled, ["vit"], "a ResNet configuration read as a ViT")
        let vit = try exported("vit_tiny")
        var swapped = metadata
        swapped["loupe.config"] = vit.metadata["loupe.config"]
        swapped["loupe.architecture"] = "vit"
        try assertRefused(tensors, swapped, ["missing", "unexpected"], "ResNet weights under a ViT configuration")
    }
}
