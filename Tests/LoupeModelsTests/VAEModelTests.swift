import XCTest
import LoupeModels
import LoupeTensor

/// The Stable Diffusion VAE's size, saving and rebuilding, sites, seeded sampling and errors.
final class VAEModelTests: XCTestCase {
    static let small = AutoencoderKLConfig(latentChannels: 4, blockOutChannels: [8, 16], layersPerBlock: 1, normNumGroups: 4, sampleSize: 16)

    static func initialized(_ config: AutoencoderKLConfig = small, seed: UInt64 = 3) throws -> AutoencoderKL {
        var random = RandomGenerator(seed: seed)
        let vae = try AutoencoderKL(config)
        try vae.initialize(generator: &random)
        return vae
    }

    /// diffusers' counts for stabilityai/sd-vae-ft-ema's configuration (printed by
    /// `sum(p.numel() for p in m.decoder.parameters())` etc. on diffusers 0.42.1).
    func testDefaultConfigurationHasStableDiffusionsParameterCounts() throws {
        let vae = try AutoencoderKL(AutoencoderKLConfig())
        XCTAssertEqual(vae.decoder.parameterCount, 49_490_179)
        XCTAssertEqual(vae.decoder.parameterCount + (vae.postQuantConv?.parameterCount ?? 0), 49_490_199)
        XCTAssertEqual(vae.encoder.parameterCount, 34_163_592)
        XCTAssertEqual(vae.parameterCount, 83_653_863)
        XCTAssertEqual(vae.config.scalingFactor, 0.18215)
        XCTAssertEqual(vae.config.downsamplingFactor, 8)
        let names = Set(vae.namedParameters().map(\.path))
        for name in ["encoder.down_blocks.0.downsamplers.0.conv.weight", "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
                     "encoder.mid_block.attentions.0.to_out.0.bias", "encoder.mid_block.attentions.0.group_norm.weight",
                     "quant_conv.weight", "post_quant_conv.bias", "decoder.up_blocks.2.upsamplers.0.conv.weight",
                     "decoder.up_blocks.3.resnets.2.norm2.bias", "decoder.conv_norm_out.weight", "decoder.conv_out.weight"] {
            XCTAssertTrue(names.contains(name), name)
        }
        XCTAssertFalse(names.contains("decoder.up_blocks.3.upsamplers.0.conv.weight"))
        XCTAssertFalse(names.contains("encoder.down_blocks.3.downsamplers.0.conv.weight"))
    }

    func testSavedModelRebuildsFromItsMetadata() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vae-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var config = Self.small
        config.midBlockAddAttention = false
        config.useQuantConv = false
        config.latentChannels = 3
        for config in [Self.small, config] {
            let vae = try Self.initialized(config)
            let file = directory.appendingPathComponent("vae.safetensors").path
            try saveModel(vae, to: file)
            let rebuilt = try XCTUnwrap(try loadModel(file, architectures: .loupeModels) as? AutoencoderKL)
            XCTAssertEqual(rebuilt.config, config)
            XCTAssertEqual(rebuilt.stateDict().mapValues(\.scalars), vae.stateDict().mapValues(\.scalars))
            var random = RandomGenerator(seed: 9)
            let z = try Tensor.normal([1, config.latentChannels, 4, 4], generator: &random)
            XCTAssertEqual(try rebuilt(z).scalars, try vae(z).scalars)
        }
    }

    func testSitesAndStandaloneEncoderAndDecoder() throws {
        let vae = try Self.initialized()
        var random = RandomGenerator(seed: 5)
        let image = try Tensor.uniform([2, 3, 16, 16], low: -1, high: 1, generator: &random)
        let z = try Tensor.normal([2, 4, 8, 8], generator: &random)
        let context = ForwardContext(capture: ["encoder.down_blocks.1", "encoder.mid_block.attentions.0.probs", "mean", "logvar",
                                               "decoder.mid_block", "decoder.up_blocks.0.upsamplers.0", "output"])
        let reconstruction = try context.run(vae, inputs: ModuleInputs([("image", .tensor(image))])).tensor("output")
        try context.checkAllPathsUsed(op: "test")
        XCTAssertEqual(reconstruction.shape, [2, 3, 16, 16])
        XCTAssertEqual(context.activations["encoder.down_blocks.1"]?.shape, [2, 16, 8, 8])
        XCTAssertEqual(context.activations["encoder.mid_block.attentions.0.probs"]?.shape, [2, 1, 64, 64])
        XCTAssertEqual(context.activations["mean"]?.shape, [2, 4, 8, 8])
        XCTAssertEqual(context.activations["decoder.up_blocks.0.upsamplers.0"]?.shape, [2, 16, 16, 16])

        // The model's one-tensor call decodes; encoder and decoder run alone as roots.
        let decoded = try vae(z)
        XCTAssertEqual(decoded.shape, [2, 3, 16, 16])
        let postQuant = try XCTUnwrap(vae.postQuantConv)
        XCTAssertEqual(try vae.decoder(try postQuant(z)).scalars, decoded.scalars)
        let moments = try vae.encoder(image)
        XCTAssertEqual(moments.shape, [2, 8, 8, 8])
        let mean = try XCTUnwrap(vae.quantConv).callAsFunction(moments).sliced(axis: 1, end: 4)
        XCTAssertEqual(mean.scalars, try vae.encode(image).mean.scalars)
        XCTAssertEqual(reconstruction.scalars, try vae.decode(mean).scalars)
    }

    func testSeededSamplingIsReproducibleAndHasThePosteriorsMoments() throws {
        let mean = try Tensor.full([1, 4, 32, 32], 0.5)
        let logvar = try Tensor.full([1, 4, 32, 32], Float(2 * log(0.25)))
        let posterior = DiagonalGaussianDistribution(mean: mean, logvar: logvar)
        var a = RandomGenerator(seed: 11), b = RandomGenerator(seed: 11), c = RandomGenerator(seed: 12)
        let first = try posterior.sample(generator: &a)
        XCTAssertEqual(first.scalars, try posterior.sample(generator: &b).scalars)
        XCTAssertNotEqual(first.scalars, try posterior.sample(generator: &c).scalars)
        let values = first.scalars.map(Double.init)
        let m = values.reduce(0, +) / Double(values.count)
        let s = (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count)).squareRoot()
        XCTAssertEqual(m, 0.5, accuracy: 0.02)   // 4096 draws: standard error 0.004
        XCTAssertEqual(s, 0.25, accuracy: 0.01)

        // A model's posterior: clamped log-variance, samples reproducible by seed.
        let vae = try Self.initialized()
        var random = RandomGenerator(seed: 6)
        let image = try Tensor.uniform([1, 3, 16, 16], low: -1, high: 1, generator: &random)
        let fromModel = try vae.encode(image)
        var d = RandomGenerator(seed: 1), e = RandomGenerator(seed: 1)
        XCTAssertEqual(try fromModel.sample(generator: &d).scalars, try fromModel.sample(generator: &e).scalars)
        let clamped = try DiagonalGaussianDistribution(moments: Tensor(shape: [1, 2, 1, 2], scalars: [0, 1, 50, -50]))
        XCTAssertEqual(clamped.logvar.scalars, [20, -30])
    }

    /// Every group norm has diffusers' eps 1e-6, which matters for low-variance groups: values
    /// 0 and 0.002 (variance 1e-6) normalise to -+0.001 / sqrt(1e-6 + 1e-6) = -+0.70710677
    /// (eps 1e-5 would give -+0.30151135).
    func testGroupNormsUseEpsOneMillionth() throws {
        let vae = try AutoencoderKL(Self.small)
        let norms = vae.namedModules().compactMap { $0.module as? GroupNorm }
        XCTAssertEqual(norms.count, 24)
        XCTAssertTrue(norms.allSatisfy { $0.eps == 1e-6 && $0.groups == 4 })
        let normed = try vae.encoder.convNormOut(try Tensor(shape: [1, 16, 1, 2], scalars: (0..<16).flatMap { _ in [Float(0), 0.002] }))
        for (i, value) in normed.scalars.enumerated() {
            XCTAssertEqual(value, i % 2 == 0 ? -0.70710677 : 0.70710677, accuracy: 1e-5)
        }
    }

    func testBadInputsGiveClearErrors() throws {
        let vae = try Self.initialized()
        func expect(_ body: @autoclosure () throws -> Any, _ fragment: String, line: UInt = #line) {
            XCTAssertThrowsError(try body(), line: line) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)", line: line)
            }
        }
        expect(try vae(try Tensor.ones([1, 3, 8, 8])), "expected latents [B, 4, h, w], got [1, 3, 8, 8]")
        expect(try vae.decode(try Tensor.ones([4, 8, 8])), "expected latents [B, 4, h, w]")
        expect(try vae.encode(try Tensor.ones([1, 3, 15, 16])), "H and W multiples of 2, got [1, 3, 15, 16]")
        expect(try vae.encode(try Tensor.ones([1, 4, 16, 16])), "expected images [B, 3, H, W]")
        expect(try vae(inputs: ModuleInputs([])), "give either latents")
        expect(try vae(inputs: ModuleInputs([("latent", .tensor(try Tensor.ones([1, 4, 2, 2]))),
                                             ("image", .tensor(try Tensor.ones([1, 3, 4, 4])))])), "not both")
        expect(try vae.decoder.midBlock(try Tensor.ones([1, 8, 4, 4])), "ResnetBlock2D at 'resnets.0': expected [B, 16, H, W]")
        expect(try AutoencoderKL(AutoencoderKLConfig(blockOutChannels: [8, 12], normNumGroups: 8)), "divisible by norm_num_groups")
        expect(try AutoencoderKL(AutoencoderKLConfig(layersPerBlock: 0)), "layers_per_block must be at least 1")
        expect(try AutoencoderKL.build(configurationJSON: "{\"block_out_channels\": 3}"), "not a valid AutoencoderKLConfig")
    }
}
