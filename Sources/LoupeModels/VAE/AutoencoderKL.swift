import Foundation
import LoupeTensor

/// diffusers' `DiagonalGaussianDistribution`: the encoder's posterior over latents, its
/// log-variance clamped to [-30, 20].
public struct DiagonalGaussianDistribution {
    /// `[B, latent_channels, h, w]`.
    public let mean: Tensor
    /// `[B, latent_channels, h, w]`, clamped to [-30, 20].
    public let logvar: Tensor

    /// The distribution of the encoder's moments `[B, 2 C, h, w]` (mean channels first).
    public init(moments: Tensor) throws {
        guard moments.rank == 4, moments.shape[1] % 2 == 0, moments.shape[1] > 0 else {
            throw LoupeError("DiagonalGaussianDistribution: expected moments [B, 2C, h, w], got \(describe(shape: moments.shape))")
        }
        let c = moments.shape[1] / 2
        mean = try moments.sliced(axis: 1, end: c)
        logvar = try moments.sliced(axis: 1, start: c).clamped(min: -30, max: 20)
    }

    /// `exp(logvar / 2)`.
    public var std: Tensor {
        get throws { try (logvar * 0.5).exp() }
    }

    /// The mode (the mean), what diffusers' `AutoencoderKL.forward` decodes by default.
    public var mode: Tensor { mean }

    /// `mean + std * eps` with `eps ~ N(0, 1)` drawn from `generator` (differentiable in the
    /// mean and log-variance).
    public func sample(generator: inout RandomGenerator) throws -> Tensor {
        let noise = try Tensor.normal(mean.shape, generator: &generator)
        return try mean + std * noise
    }
}

/// diffusers' `AutoencoderKL`, the Stable Diffusion VAE (stabilityai/sd-vae-ft-ema, which DiT
/// decodes with), with its parameter names (`encoder.down_blocks.0.resnets.1.conv1.weight`,
/// `encoder.mid_block.attentions.0.to_q.weight`, `quant_conv.weight`, `post_quant_conv.weight`,
/// `decoder.up_blocks.3.resnets.2.norm2.bias`) and float32 numerics.
///
/// Calling the model decodes: `vae(z)` takes latents `[B, latent_channels, h, w]` (already
/// divided by `scaling_factor`, as DiT's sampler hands them over) and returns images
/// `[B, out_channels, 8h, 8w]` in about [-1, 1], through `post_quant_conv` and `decoder`.
/// `vae(image: x)` is diffusers' `forward`: encode, take the posterior's mean, decode (a
/// reconstruction). Sites besides every module's input and output: `mean` and `logvar` (the
/// posterior, when encoding), `...attentions.0.probs`. `encode`, `decode` and the
/// distribution's `sample(generator:)` are the Swift API; `encoder` and `decoder` also run alone.
public final class AutoencoderKL: Module, Architecture {
    public static let architectureName = "autoencoder_kl"

    public let config: AutoencoderKLConfig
    public let encoder: VAEEncoder
    public let decoder: VAEDecoder
    public let quantConv: Conv2d?
    public let postQuantConv: Conv2d?
    public override var typeName: String { "AutoencoderKL" }

    /// An autoencoder with torch's default initial values for nothing yet: zero convolutions,
    /// unit norms. Load a checkpoint or call `initialize`.
    public init(_ config: AutoencoderKLConfig) throws {
        try config.validate()
        self.config = config
        encoder = try VAEEncoder(config)
        decoder = try VAEDecoder(config)
        let latent = config.latentChannels
        quantConv = config.useQuantConv ? try Conv2d(2 * latent, 2 * latent, kernel: 1) : nil
        postQuantConv = config.usePostQuantConv ? try Conv2d(latent, latent, kernel: 1) : nil
        super.init()
        registerModule("encoder", encoder)
        registerModule("decoder", decoder)
        if let quantConv { registerModule("quant_conv", quantConv) }
        if let postQuantConv { registerModule("post_quant_conv", postQuantConv) }
    }

    public override var inputSignature: [InputParameter] {
        [InputParameter("latent", optional: true), InputParameter("image", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let latent = try inputs.optionalTensor("latent"), image = try inputs.optionalTensor("image")
        switch (latent, image) {
        case (let z?, nil):
            return .tensor(try decode(z, context: context))
        case (nil, let x?):
            return .tensor(try decode(try encode(x, context: context).mean, context: context))
        default:
            throw LoupeError("AutoencoderKL: give either latents (vae(z) decodes) or an image (vae(image: x) encodes and decodes), not both or neither")
        }
    }

    /// The posterior over latents of `image [B, in_channels, H, W]` (values in [-1, 1]):
    /// `encoder`, then `quant_conv`. Sites are recorded in `context` (`encoder.down_blocks.1`, `mean`).
    public func encode(_ image: Tensor, context: ForwardContext = ForwardContext()) throws -> DiagonalGaussianDistribution {
        var moments = try context.apply(encoder, image)
        if let quantConv { moments = try context.apply(quantConv, moments) }
        let posterior = try DiagonalGaussianDistribution(moments: moments)
        return DiagonalGaussianDistribution(mean: try context.site("mean", posterior.mean),
                                            logvar: try context.site("logvar", posterior.logvar))
    }

    /// Images from latents `[B, latent_channels, h, w]` (unscaled: divide a diffusion model's
    /// latents by `config.scalingFactor` first): `post_quant_conv`, then `decoder`.
    public func decode(_ latent: Tensor, context: ForwardContext = ForwardContext()) throws -> Tensor {
        guard latent.rank == 4, latent.shape[1] == config.latentChannels, latent.shape[0] > 0,
              latent.shape[2] > 0, latent.shape[3] > 0 else {
            throw LoupeError("AutoencoderKL.decode: expected latents [B, \(config.latentChannels), h, w], got \(describe(shape: latent.shape))")
        }
        var z = latent
        if let postQuantConv { z = try context.apply(postQuantConv, z) }
        return try context.apply(decoder, z)
    }

    /// torch's default initial values (what a freshly built diffusers `AutoencoderKL` holds):
    /// convolutions and linear layers uniform in +-1/sqrt(fan_in), norms weight 1 and bias 0.
    public func initialize(generator: inout RandomGenerator) throws {
        for (_, module) in namedModules() {
            if let conv = module as? Conv2d { try conv.resetParameters(generator: &generator) }
            if let linear = module as? Linear { try linear.resetParameters(generator: &generator) }
            if let norm = module as? GroupNorm {
                norm.weight.value = try Tensor.ones(norm.weight.shape)
                norm.bias.value = try Tensor.zeros(norm.bias.shape)
            }
        }
    }

    public func configurationJSON() throws -> String { try encodeConfiguration(config) }

    public static func build(configurationJSON: String) throws -> Module {
        try AutoencoderKL(try decodeConfiguration(AutoencoderKLConfig.self, configurationJSON, architecture: architectureName))
    }
}

extension DiagonalGaussianDistribution {
    /// A distribution of given parameters (the log-variance as given, unclamped).
    public init(mean: Tensor, logvar: Tensor) {
        self.mean = mean
        self.logvar = logvar
    }
}
