import XCTest
import LoupeModels
import LoupeTensor

/// Saving and rebuilding StyleGAN2 networks, their sites, and their errors.
final class StyleGAN2ModelTests: XCTestCase {
    func testSavedGeneratorsAndDiscriminatorsRebuildFromTheirMetadata() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stylegan2-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var random = RandomGenerator(seed: 4)
        for config in [StyleGAN2Config(zDim: 8, wDim: 8, resolution: 8, channels: 1, channelBase: 32, channelMax: 8, mappingLayers: 2),
                       StyleGAN2Config(zDim: 0, wDim: 6, resolution: 8, channels: 3, classes: 2, channelBase: 32, channelMax: 8,
                                       mappingLayers: 1, architecture: "orig", convClamp: 16, wAvgBeta: nil, embedFeatures: 4)] {
            let g = try StyleGAN2(config)
            try g.initialize(generator: &random)
            let file = directory.appendingPathComponent("g.safetensors").path
            try saveModel(g, to: file)
            let rebuilt = try XCTUnwrap(try loadModel(file, architectures: .loupeModels) as? StyleGAN2)
            XCTAssertEqual(rebuilt.config, config)
            XCTAssertEqual(rebuilt.stateDict().mapValues(\.scalars), g.stateDict().mapValues(\.scalars))
        }
        let d = try StyleGAN2Discriminator(StyleGAN2DiscriminatorConfig(resolution: 8, channels: 1, channelBase: 32, channelMax: 8,
                                                                        mbstdGroupSize: 2, mbstdChannels: 2))
        try d.initialize(generator: &random)
        let file = directory.appendingPathComponent("d.safetensors").path
        try saveModel(d, to: file)
        let rebuilt = try XCTUnwrap(try loadModel(file, architectures: .loupeModels) as? StyleGAN2Discriminator)
        XCTAssertEqual(rebuilt.config, d.config)
    }

    /// Inference runs each layer's elementwise tail in one fused pass; it must give the same bits
    /// as the separate ops that training differentiates through.
    func testFusedInferenceTailGivesTheSameBitsAsTheDifferentiablePath() throws {
        var random = RandomGenerator(seed: 8)
        let g = try StyleGAN2(StyleGAN2Config(zDim: 8, wDim: 8, resolution: 16, channels: 3, channelBase: 64, channelMax: 8,
                                              mappingLayers: 2, convClamp: 0.5))
        try g.initialize(generator: &random)
        for layer in g.namedModules().compactMap({ $0.module as? StyleGAN2SynthesisLayer }) {
            layer.noiseStrength.value = try Tensor.uniform([], low: 0.1, high: 0.5, generator: &random)
            layer.bias.value = try Tensor.normal(layer.bias.shape, std: 0.3, generator: &random)
        }
        let ws = try Tensor.normal([2, g.config.wCount, 8], generator: &random)
        for mode in [StyleGAN2NoiseSource.Mode.const, .random(seed: 3), .none] {
            g.noiseMode = mode
            let fused = try GradMode.withoutGrad { try ForwardContext().run(g.synthesis, inputs: ModuleInputs([("ws", .tensor(ws))])).tensor("image") }
            g.noiseMode = mode
            let separate = try GradMode.withGrad {
                try ForwardContext().run(g.synthesis, inputs: ModuleInputs([("ws", .tensor(ws.requiringGrad()))])).tensor("image")
            }
            XCTAssertTrue(separate.requiresGrad)
            XCTAssertEqual(fused.scalars, separate.scalars, "\(mode)")
        }
    }

    func testLayerSitesAndErrors() throws {
        let g = try StyleGAN2(StyleGAN2Config(zDim: 4, wDim: 4, resolution: 8, channels: 1, channelBase: 32, channelMax: 4, mappingLayers: 1))
        XCTAssertEqual(g.layerPaths, ["synthesis.b4.conv1", "synthesis.b8.conv0", "synthesis.b8.conv1"])
        let context = ForwardContext(capture: ["synthesis.b8.conv1.input.w", "synthesis.b8.conv1.noise", "synthesis.b8.conv1.affine", "mapping"])
        _ = try context.run(g, inputs: ModuleInputs([("z", .tensor(try Tensor.ones([2, 4])))]))
        XCTAssertEqual(context.activations["mapping"]?.shape, [2, 4, 4])
        XCTAssertEqual(context.activations["synthesis.b8.conv1.input.w"]?.shape, [2, 4])
        XCTAssertEqual(context.activations["synthesis.b8.conv1.noise"]?.shape, [8, 8])
        XCTAssertEqual(context.activations["synthesis.b8.conv1.affine"]?.shape, [2, 4])
        XCTAssertThrowsError(try g(inputs: ModuleInputs([("z", .tensor(try Tensor.ones([2, 5])))]))) { error in
            XCTAssertEqual((error as? LoupeError)?.message, "MappingNetwork: expected z [B, 4], got [2, 5]")
        }
        XCTAssertThrowsError(try StyleGAN2(StyleGAN2Config(architecture: "resnet"))) { error in
            XCTAssertEqual((error as? LoupeError)?.message,
                           "stylegan2: architecture must be \"skip\" or \"orig\", got \"resnet\" (NVlabs' \"resnet\" generator is not supported)")
        }
        let d = try StyleGAN2Discriminator(StyleGAN2DiscriminatorConfig(resolution: 8, channels: 1, channelBase: 32, channelMax: 8))
        XCTAssertThrowsError(try d(try Tensor.ones([6, 1, 8, 8]))) { error in
            XCTAssertEqual((error as? LoupeError)?.message, "MinibatchStdLayer at 'b4.mbstd': the batch (6) must be a multiple of the group size 4")
        }
    }
}
