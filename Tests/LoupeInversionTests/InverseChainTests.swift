import XCTest
import LoupeInputOptimization
@testable import LoupeInversion
import LoupeTensor
import LoupeModels
import LoupeTestSupport

final class InverseChainTests: XCTestCase {
    /// The analytic patch inverse recovers the images from the token embedding, for grayscale and
    /// colour ViTs, with and without a class token in the position embedding.
    func testAnalyticPatchInverseIsExact() throws {
        let models = [
            try tinyViT(),
            try tinyViT(dim: 64, depth: 1, channels: 3),
            try tinyViT(dim: 64, depth: 1, channels: 3, positionEmbedsClassToken: false),
            try tinyViT(dim: 48, depth: 1, channels: 3, classToken: false),
        ]
        for model in models {
            var generator = RandomGenerator(seed: 3)
            let channels = model.config.channels
            let images = try Tensor.uniform([3, channels, 16, 16], generator: &generator)
            let normalization = Normalization(mean: [Float](repeating: 0.45, count: channels), std: [Float](repeating: 0.25, count: channels))
            let chain = try InverseChain(model: model, patch: .analytic, normalization: normalization, generator: &generator)
            let acts = try captureActivations(model, images: images, paths: ["tokens"], normalization: normalization)
            let pixels = try chain.reconstruct(acts, from: "tokens")
            let error = try ImageMetrics.mse(pixels, images).max().item()
            print("analytic patch inverse (C \(channels), dim \(model.config.dim), class token \(model.config.classToken)): MSE \(error)")
            XCTAssertLessThan(error, 1e-8)
        }
    }

    func testLayoutsAndErrors() throws {
        let config = try tinyViT(depth: 3).config
        let blocks = try InverseChainConfig.vit(config)
        XCTAssertEqual(blocks.stages.map(\.from), ["blocks.2", "blocks.1", "blocks.0", "tokens"])
        XCTAssertEqual(blocks.stages.map(\.to), ["blocks.1", "blocks.0", "tokens", "pixels"])
        let sub = try InverseChainConfig.vit(config, layout: .sublayers)
        XCTAssertEqual(sub.stages.prefix(3).map(\.to), ["blocks.2.resid_attn", "blocks.1", "blocks.1.resid_attn"])
        let staged = try InverseChainConfig.vit(config, layout: .stages(2), patch: .enhanced)
        XCTAssertEqual(staged.stages.map(\.from), ["blocks.2", "blocks.0", "tokens"])
        XCTAssertEqual(staged.stages.map { $0.depth ?? 0 }, [2, 1, 0])
        XCTAssertEqual(staged.stages.last?.widths, [10, 1])
        XCTAssertEqual(try EnhancedPatchInverse.defaultWidths(TokenLayout(imageSize: 224, patchSize: 16, channels: 3, dim: 768, prefixTokens: 1)),
                       [256, 64, 16, 3])
        var generator = RandomGenerator(seed: 1)
        let chain = try InverseChain(model: try tinyViT(depth: 3), layout: .stages(2), patch: .enhanced, generator: &generator)
        XCTAssertThrowsError(try chain.reconstruct(try Tensor.zeros([1, 17, 32]), from: "blocks.1")) { error in
            XCTAssertTrue("\(error)".contains("starts: blocks.2, blocks.0, tokens"), "\(error)")
        }
        XCTAssertThrowsError(try chain.reconstruct(try Tensor.zeros([1, 5, 32]), from: "tokens")) { error in
            XCTAssertTrue("\(error)".contains("[B, 17, 32]"), "\(error)")
        }
        XCTAssertEqual(try chain.reconstruct(try Tensor.zeros([2, 17, 32]), from: "blocks.2").shape, [2, 1, 16, 16])
        XCTAssertThrowsError(try InverseChain(InverseChainConfig(stages: [.init(from: "a", to: "b", kind: "linear")], source: config,
                                                                 normalization: .identity(channels: 1))))
    }

    /// Modular training on Fashion-MNIST: the trained chain beats the untrained one from every
    /// depth, the patch inverse is close, save/load keeps the chain, end-to-end training lowers
    /// its loss.
    func testTrainInverseOnFashionMNIST() throws {
        guard let (images, _) = try fashionImages(320) else { throw XCTSkip("Fashion-MNIST is not installed") }
        let model = try tinyViT(imageSize: 28, patch: 4, dim: 32, depth: 2)
        var options = InverseTrainingOptions()
        options.epochs = 10
        options.batchSize = 32
        options.learningRate = 1e-2
        options.normalization = fashionNormalization
        let start = Date()
        let result = try trainInverse(model, images: images, options: options)
        print("train_inverse (320 images, 10 epochs, 3 modules): \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        for (stage, losses) in result.history { print("  \(stage): \(losses)") }
        XCTAssertEqual(result.history.count, 3)
        for (_, losses) in result.history { XCTAssertLessThan(losses.last!, losses.first!) }

        let test = try images.sliced(axis: 0, start: 0, end: 32)
        var generator = RandomGenerator(seed: 99)
        let untrained = try InverseChain(model: model, normalization: fashionNormalization, generator: &generator)
        let acts = try captureActivations(model, images: test, paths: ["tokens", "blocks.0", "blocks.1"], normalization: fashionNormalization)
        for path in ["tokens", "blocks.0", "blocks.1"] {
            let trained = try GradMode.withoutGrad { try result.chain.reconstruct(acts, from: path) }
            let fresh = try GradMode.withoutGrad { try untrained.reconstruct(acts, from: path) }
            let trainedSSIM = try ImageMetrics.ssim(trained, test).mean().item()
            let trainedMSE = try ImageMetrics.mse(trained, test).mean().item()
            let freshMSE = try ImageMetrics.mse(fresh, test).mean().item()
            print("  from \(path): trained MSE \(trainedMSE) SSIM \(trainedSSIM); untrained MSE \(freshMSE)")
            XCTAssertLessThan(trainedMSE, freshMSE / 2)
        }

        let url = FileManager.default.temporaryDirectory.appendingPathComponent("inverse-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try result.chain.save(to: url.path)
        let loaded = try InverseChain.load(url.path)
        XCTAssertEqual(loaded.config, result.chain.config)
        assertClose(try GradMode.withoutGrad { try loaded.reconstruct(acts, from: "blocks.1") },
                    try GradMode.withoutGrad { try result.chain.reconstruct(acts, from: "blocks.1") }, rtol: 0, atol: 1e-6)

        options.endToEnd = true
        options.epochs = 2
        let joint = try trainInverse(model, images: images, options: options)
        XCTAssertEqual(joint.history.map(\.stage), ["end_to_end"])
        XCTAssertLessThan(joint.history[0].losses[1], joint.history[0].losses[0])
    }

    /// Capturing in uneven batches writes the same activations as one forward pass.
    func testCaptureActivationsInBatches() throws {
        let model = try tinyViT()
        var generator = RandomGenerator(seed: 8)
        let images = try Tensor.uniform([7, 1, 16, 16], generator: &generator)
        let batched = try captureActivations(model, images: images, paths: ["tokens", "blocks.1"], normalization: fashionNormalization,
                                             batchSize: 3)
        let whole = try GradMode.withoutGrad { try capture(model, try fashionNormalization.apply(images), ["tokens", "blocks.1"]) }
        for path in ["tokens", "blocks.1"] {
            XCTAssertEqual(batched[path]!.shape, [7, 17, 32])
            assertClose(batched[path]!, whole[path]!, rtol: 0, atol: 1e-5)
        }
    }

    /// The cosine schedule (the default) and a constant rate both train, differently.
    func testScheduleChoiceReachesTheOptimizer() throws {
        let model = try tinyViT(depth: 1)
        var generator = RandomGenerator(seed: 6)
        let images = try Tensor.uniform([32, 1, 16, 16], generator: &generator)
        var options = InverseTrainingOptions()
        options.epochs = 3
        options.batchSize = 8
        let cosine = try trainInverse(model, images: images, options: options)
        options.cosineSchedule = false
        let constant = try trainInverse(model, images: images, options: options)
        for result in [cosine, constant] { XCTAssertLessThan(result.history[0].losses.last!, result.history[0].losses.first!) }
        // Same seed and data: only the learning rates differ.
        XCTAssertNotEqual(cosine.history[0].losses[2], constant.history[0].losses[2])
    }

    /// The enhanced patch inverse trains (batch norm in training mode, running statistics after).
    func testEnhancedPatchInverseTrains() throws {
        let model = try tinyViT(depth: 1)
        var generator = RandomGenerator(seed: 4)
        let images = try Tensor.uniform([64, 1, 16, 16], generator: &generator)
        var options = InverseTrainingOptions()
        options.patch = .enhanced
        options.layout = .sublayers
        options.epochs = 3
        options.batchSize = 16
        let result = try trainInverse(model, images: images, options: options)
        XCTAssertEqual(result.history.map(\.stage), ["blocks.0 -> blocks.0.resid_attn", "blocks.0.resid_attn -> tokens", "tokens -> pixels"])
        let patch = result.history[2].losses
        XCTAssertLessThan(patch.last!, patch.first!)
        XCTAssertFalse(result.chain.stageModules[2].training)
    }
}
