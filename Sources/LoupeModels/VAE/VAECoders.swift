import Foundation
import LoupeTensor

/// diffusers' VAE `Encoder` (`models/autoencoders/vae.py`): `conv_in`, `down_blocks.0...`
/// (2x downsampling at each level but the last), `mid_block`, `conv_norm_out`, SiLU, `conv_out`.
/// Input images `[B, in_channels, H, W]` (H, W multiples of the downsampling factor), output the
/// distribution's parameters `[B, 2 latent_channels, H / f, W / f]` (mean, then log-variance),
/// before `quant_conv`.
public final class VAEEncoder: Module {
    public let config: AutoencoderKLConfig
    public let convIn: Conv2d
    public let downBlocks: Sequential
    public let midBlock: VAEMidBlock2D
    public let convNormOut: GroupNorm
    public let convOut: Conv2d
    public override var typeName: String { "Encoder" }

    init(_ config: AutoencoderKLConfig) throws {
        self.config = config
        let channels = config.blockOutChannels, groups = config.normNumGroups
        convIn = try Conv2d(config.inChannels, channels[0], kernel: 3, padding: 1)
        downBlocks = Sequential(try channels.indices.map { i in
            try VAEDownEncoderBlock2D(inChannels: channels[max(i - 1, 0)], outChannels: channels[i],
                                      layers: config.layersPerBlock, groups: groups, downsample: i < channels.count - 1)
        })
        midBlock = try VAEMidBlock2D(channels: channels[channels.count - 1], groups: groups,
                                     addAttention: config.midBlockAddAttention)
        convNormOut = try VAELayers.groupNorm(channels[channels.count - 1], groups: groups)
        convOut = try Conv2d(channels[channels.count - 1], 2 * config.latentChannels, kernel: 3, padding: 1)
        super.init()
        registerModule("conv_in", convIn)
        registerModule("down_blocks", downBlocks)
        registerModule("mid_block", midBlock)
        registerModule("conv_norm_out", convNormOut)
        registerModule("conv_out", convOut)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let f = config.downsamplingFactor
        guard input.rank == 4, input.shape[1] == config.inChannels, input.shape[0] > 0,
              input.shape[2] > 0, input.shape[3] > 0, input.shape[2] % f == 0, input.shape[3] % f == 0 else {
            throw LoupeError("Encoder at '\(context.currentPath)': expected images [B, \(config.inChannels), H, W] with H and W multiples of \(f), got \(describe(shape: input.shape))")
        }
        var x = try context.apply(convIn, input)
        x = try VAELayers.applyList(downBlocks, named: "down_blocks", x, context: context)
        x = try context.apply(midBlock, x)
        x = try context.apply(convNormOut, x).silu()
        return try context.apply(convOut, x)
    }
}

/// diffusers' VAE `Decoder` (`norm_type` "group"): `conv_in`, `mid_block`, `up_blocks.0...`
/// (`layers_per_block + 1` resnets each, 2x nearest upsampling at each level but the last),
/// `conv_norm_out`, SiLU, `conv_out`. Input latents `[B, latent_channels, h, w]` (after
/// `post_quant_conv`), output images `[B, out_channels, h f, w f]`.
public final class VAEDecoder: Module {
    public let config: AutoencoderKLConfig
    public let convIn: Conv2d
    public let upBlocks: Sequential
    public let midBlock: VAEMidBlock2D
    public let convNormOut: GroupNorm
    public let convOut: Conv2d
    public override var typeName: String { "Decoder" }

    init(_ config: AutoencoderKLConfig) throws {
        self.config = config
        let reversed = Array(config.blockOutChannels.reversed()), groups = config.normNumGroups
        convIn = try Conv2d(config.latentChannels, reversed[0], kernel: 3, padding: 1)
        upBlocks = Sequential(try reversed.indices.map { i in
            try VAEUpDecoderBlock2D(inChannels: reversed[max(i - 1, 0)], outChannels: reversed[i],
                                    layers: config.layersPerBlock + 1, groups: groups, upsample: i < reversed.count - 1)
        })
        midBlock = try VAEMidBlock2D(channels: reversed[0], groups: groups, addAttention: config.midBlockAddAttention)
        convNormOut = try VAELayers.groupNorm(reversed[reversed.count - 1], groups: groups)
        convOut = try Conv2d(reversed[reversed.count - 1], config.outChannels, kernel: 3, padding: 1)
        super.init()
        registerModule("conv_in", convIn)
        registerModule("up_blocks", upBlocks)
        registerModule("mid_block", midBlock)
        registerModule("conv_norm_out", convNormOut)
        registerModule("conv_out", convOut)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == config.latentChannels, input.shape[0] > 0,
              input.shape[2] > 0, input.shape[3] > 0 else {
            throw LoupeError("Decoder at '\(context.currentPath)': expected latents [B, \(config.latentChannels), h, w], got \(describe(shape: input.shape))")
        }
        var x = try context.apply(convIn, input)
        x = try context.apply(midBlock, x)
        x = try VAELayers.applyList(upBlocks, named: "up_blocks", x, context: context)
        x = try context.apply(convNormOut, x).silu()
        return try context.apply(convOut, x)
    }
}
