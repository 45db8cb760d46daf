import Foundation
import XCTest
@testable import LoupeScript
import LoupeModels
import LoupeTensor

/// Model builtins that need a checkpoint the language cannot write itself (class names).
final class ModelBindingsTests: XCTestCase {
    func run(_ text: String, _ interpreter: Interpreter) throws -> [String] {
        var lines: [String] = []
        interpreter.output = { lines.append($0) }
        try interpreter.run(SourceFile(name: "test", text: text))
        return lines
    }

    func testClassNamesTravelFromCheckpointToPredictAndBack() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-classes-\(ProcessInfo.processInfo.processIdentifier).safetensors").path
        let copy = path + ".copy.safetensors"
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: copy) }
        let model = try VisionTransformer(ViTConfig(imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, classes: 3))
        // Zero weights but head bias [0, 2, 1]: the logits are the bias for every image.
        let bias = try XCTUnwrap(model.head?.bias)
        bias.value = try Tensor(shape: [3], scalars: [0, 2, 1])
        try saveModel(model, to: path, classNames: ["ant", "bee", "cat"])

        let interpreter = try Interpreter()
        let lines = try run("""
            m = model("\(path)")
            print(m.classes)
            p = predict(m, zeros(3, 8, 8), top: 2)
            print(p[0].name, p[1].name, p[0].class)
            save_model(replace(m, "blocks.0", identity()), "\(copy)")
            print(model("\(copy)").classes[2], model("\(copy)").replaced)
            """, interpreter)
        XCTAssertEqual(lines, ["[\"ant\", \"bee\", \"cat\"]", "bee cat 1", "cat [\"blocks.0\"]"])
        XCTAssertTrue(interpreter.filesRead.contains { $0.path == path }, "model() records the file it read")
    }

    /// The shipped checkpoints were saved with camelCase configurations (`imageSize`,
    /// `patchSize`, `stem`); they still load, and `m.config` shows the constructors' names.
    func testShippedCheckpointsLoadAndShowConstructorNames() throws {
        let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Examples/models").standardized.path
        let lines = try run("""
            v = model("\(models)/vit-fmnist.safetensors")
            print(v.config.image_size, v.config.patch, v.config.mlp_ratio, v.config.class_token, v.config.channels)
            print(join(keys(v.config), " "))
            c = model("\(models)/cnn-fmnist.safetensors")
            print(c.config)
            inv = load_inverse("\(models)/vit-fmnist-inverse.safetensors")
            print(type(inv))
            again = vit(image_size: v.config.image_size, patch: v.config.patch, dim: v.config.dim, depth: v.config.depth, heads: v.config.heads, classes: v.config.classes, channels: v.config.channels, mlp_ratio: v.config.mlp_ratio)
            print(again.config)
            print(v.config)
            """, Interpreter())
        XCTAssertEqual(lines.count, 6)
        XCTAssertEqual(lines.last, lines.dropLast().last, "vit(...) with v.config's values rebuilds its configuration")
        XCTAssertEqual(Array(lines.prefix(4)), [
            "28 4 2 true 1",
            "channels class_token classes depth dim eps heads image_size mlp_ratio patch position_embeds_class_token",
            "{channels: 1, classes: 10, depth: 10, small: true, width: 16}",
            "inverse",
        ])
    }
}
