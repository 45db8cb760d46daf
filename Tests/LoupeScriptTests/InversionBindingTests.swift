import XCTest
import LoupeModels
import LoupeInversion
@testable import LoupeScript

/// The model-taking inversion builtins, on a tiny random ViT given to the script as `m`
/// (the `vit(...)` builtin lives on another branch).
final class InversionBindingTests: XCTestCase {
    func run(_ text: String, model: Module) throws -> [String] {
        let interpreter = Interpreter()
        var lines: [String] = []
        interpreter.output = { lines.append($0) }
        interpreter.setVariable("m", .handle(ModelHandle(model)))
        // Activations as capture() will return them (a record by path), normalised as below.
        interpreter.register(Builtin("capture_test(x)", "test helper") { a in
            let input = try Normalization(mean: [0.5], std: [0.25]).apply(try a.tensor(0))
            let acts = try LoupeModels.capture(model, input, ["tokens", "blocks.0", "blocks.1"])
            return .record(RecordBox(acts.keys.sorted().map { ($0, .tensor(acts[$0]!)) }))
        })
        _ = try interpreter.run(SourceFile(name: "inversion.loupe", text: text))
        return lines
    }

    func tinyViT(channels: Int = 1, dim: Int = 32) throws -> VisionTransformer {
        let model = try VisionTransformer(ViTConfig(imageSize: 16, patchSize: 4, dim: dim, depth: 2, heads: 2, classes: 10,
                                                    channels: channels))
        var generator = RandomGenerator(seed: 1)
        try model.initialize(generator: &generator)
        return model
    }

    func testInvertTrainReconstructSaveLoadReport() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("inv-\(UUID().uuidString).safetensors").path
        let gridPath = FileManager.default.temporaryDirectory.appendingPathComponent("grid-\(UUID().uuidString).png").path
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: gridPath)
        }
        let lines = try run("""
        seed(3)
        x = rand(2, 1, 16, 16) * 0.6 + 0.2
        r = invert(m, x, "tokens", steps: 150, lr: 0.1, mean: 0.5, std: 0.25)
        print(r.image.shape, len(r.losses), r.loss < r.losses[0].item() / 100, image_mse(r.image, x).max().item() < 0.001)
        f = invert(m, x[0:1], layer: "blocks.0", steps: 60, param: "fourier", loss: "cosine", tv: 0.1, jitter: 1)
        print(f.image.shape, f.losses[55:60].mean().item() < f.losses[0:5].mean().item())
        inv = train_inverse(m, x, patch: "analytic", epochs: 2, batch: 2, mean: 0.5, std: 0.25)
        print(type(inv), inv.stages, inv.starts)
        print(keys(inv.history), inv.history["blocks.1 -> blocks.0"].shape)
        acts = capture_test(x)
        y = reconstruct(inv, acts, "tokens")
        print(image_mse(y, x).max().item() < 1e-8)
        print(reconstruct(inv, acts["blocks.1"], from: "blocks.1").shape)
        save_inverse(inv, "\(path)")
        back = load_inverse("\(path)")
        print(back.starts, image_mse(reconstruct(back, acts, "blocks.1"), reconstruct(inv, acts, "blocks.1")).max().item() < 1e-10)
        rep = layer_report(m, inv, x, grid: "\(gridPath)")
        print(len(rep.rows), rep.rows[2].layer, rep.rows[2].top1, rep.grid.shape, keys(rep.images))
        s = train_inverse(m, {images: x}, stages: 2, patch: "linear", epochs: 1, batch: 2, end_to_end: true)
        print(s.stages, keys(s.history))
        """, model: try tinyViT())
        XCTAssertEqual(lines[0], "[2, 1, 16, 16] 150 true true")
        XCTAssertEqual(lines[1], "[1, 1, 16, 16] true")
        XCTAssertEqual(lines[2], #"inverse ["blocks.1 -> blocks.0", "blocks.0 -> tokens", "tokens -> pixels"] ["blocks.1", "blocks.0", "tokens"]"#)
        XCTAssertEqual(lines[3], #"["blocks.1 -> blocks.0", "blocks.0 -> tokens"] [2]"#)
        XCTAssertEqual(lines[4], "true")
        XCTAssertEqual(lines[5], "[2, 1, 16, 16]")
        XCTAssertEqual(lines[6], #"["blocks.1", "blocks.0", "tokens"] true"#)
        XCTAssertEqual(lines[7], #"3 tokens 1 [1, 74, 38] ["blocks.1", "blocks.0", "tokens"]"#)
        XCTAssertEqual(lines[8], #"["blocks.1 -> tokens", "tokens -> pixels"] ["end_to_end"]"#)
        XCTAssertTrue(FileManager.default.fileExists(atPath: gridPath))
    }

    func testColorReportAndErrors() throws {
        let lines = try run("""
        seed(1)
        x = cat([rand(2, 1, 16, 16) * 0.2 + 0.7, rand(2, 2, 16, 16) * 0.1], 1)
        inv = train_inverse(m, x, patch: "analytic", epochs: 1, batch: 2)
        c = color_report(m, inv, x, changes: ["green", 120, "gray"], layers: ["tokens"])
        print(len(c.rows), c.rows[0].change, round(c.rows[0].hue_error, 2), round(c.rows[1].hue_error_original, 1))
        """, model: try tinyViT(channels: 3, dim: 64))
        XCTAssertEqual(lines, ["3 set 120 0 120"])
        let model = try tinyViT()
        XCTAssertThrowsError(try run("reconstruct(train_inverse(m, rand(2, 1, 16, 16), epochs: 1), {}, \"blocks.9\")", model: model)) { error in
            XCTAssertTrue("\(error)".contains("blocks.9"), "\(error)")
        }
        XCTAssertThrowsError(try run("train_inverse(m, rand(2, 1, 8, 8))", model: model)) { error in
            XCTAssertTrue("\(error)".contains("images must be [N, 1, 16, 16]"), "\(error)")
        }
        // The step budget (as Ctrl-C) stops a long inversion or training between steps.
        for call in ["invert(m, rand(1, 1, 16, 16), \"tokens\", steps: 100000)", "train_inverse(m, rand(4, 1, 16, 16), epochs: 100000, batch: 1)"] {
            let interpreter = Interpreter()
            interpreter.setVariable("m", .handle(ModelHandle(model)))
            interpreter.stepBudget = 50
            XCTAssertThrowsError(try interpreter.run(SourceFile(name: "budget.loupe", text: call))) { error in
                XCTAssertTrue("\(error)".contains("step budget exhausted"), "\(error)")
            }
        }
        XCTAssertThrowsError(try run("invert(m, rand(1, 1, 16, 16), \"nowhere\", steps: 1)", model: model)) { error in
            XCTAssertTrue("\(error)".contains("nowhere"), "\(error)")
        }
    }
}
