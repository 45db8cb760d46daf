import Foundation
import LoupeTensor

/// The shape of diffusers' `AutoencoderKL` (the Stable Diffusion VAE, e.g.
/// stabilityai/sd-vae-ft-ema, which DiT decodes its latents with). Field names are diffusers'
/// `config.json` keys; the defaults are Stable Diffusion's VAE (8x downsampling, 4 latent
/// channels, `scaling_factor` 0.18215). Only the `DownEncoderBlock2D` / `UpDecoderBlock2D`
/// blocks with SiLU and group normalization exist in this family, so they are not fields.
public struct AutoencoderKLConfig: Codable, Equatable, Sendable {
    /// Image channels the encoder takes.
    public var inChannels: Int
    /// Image channels the decoder makes.
    public var outChannels: Int
    /// Latent channels (the encoder makes twice as many: mean and log-variance).
    public var latentChannels: Int
    /// Channels of each resolution level, from the image down (each level but the last halves
    /// the resolution).
    public var blockOutChannels: [Int]
    /// Resnet blocks per encoder level (the decoder has one more per level).
    public var layersPerBlock: Int
    /// Groups of every group normalization (eps 1e-6).
    public var normNumGroups: Int
    /// The image size the VAE was trained on (informational; any multiple of the downsampling works).
    public var sampleSize: Int
    /// Latents are multiplied by this before a diffusion model sees them and divided by it
    /// before `decode` (the caller does both).
    public var scalingFactor: Double
    /// Subtracted from latents before scaling (nil: none; Stable Diffusion's VAE has none).
    public var shiftFactor: Double?
    /// Whether the 1x1 `quant_conv` follows the encoder.
    public var useQuantConv: Bool
    /// Whether the 1x1 `post_quant_conv` precedes the decoder.
    public var usePostQuantConv: Bool
    /// Whether the mid blocks have their self-attention layer.
    public var midBlockAddAttention: Bool

    public init(inChannels: Int = 3, outChannels: Int = 3, latentChannels: Int = 4,
                blockOutChannels: [Int] = [128, 256, 512, 512], layersPerBlock: Int = 2, normNumGroups: Int = 32,
                sampleSize: Int = 256, scalingFactor: Double = 0.18215, shiftFactor: Double? = nil,
                useQuantConv: Bool = true, usePostQuantConv: Bool = true, midBlockAddAttention: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.latentChannels = latentChannels
        self.blockOutChannels = blockOutChannels
        self.layersPerBlock = layersPerBlock
        self.normNumGroups = normNumGroups
        self.sampleSize = sampleSize
        self.scalingFactor = scalingFactor
        self.shiftFactor = shiftFactor
        self.useQuantConv = useQuantConv
        self.usePostQuantConv = usePostQuantConv
        self.midBlockAddAttention = midBlockAddAttention
    }

    enum CodingKeys: String, CodingKey {
        case inChannels, outChannels, latentChannels, blockOutChannels, layersPerBlock, normNumGroups, sampleSize
        case scalingFactor, shiftFactor, useQuantConv, usePostQuantConv, midBlockAddAttention
    }

    /// Absent keys take the defaults (diffusers' `config.json` omits some).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutoencoderKLConfig()
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
        outChannels = try c.decodeIfPresent(Int.self, forKey: .outChannels) ?? d.outChannels
        latentChannels = try c.decodeIfPresent(Int.self, forKey: .latentChannels) ?? d.latentChannels
        blockOutChannels = try c.decodeIfPresent([Int].self, forKey: .blockOutChannels) ?? d.blockOutChannels
        layersPerBlock = try c.decodeIfPresent(Int.self, forKey: .layersPerBlock) ?? d.layersPerBlock
        normNumGroups = try c.decodeIfPresent(Int.self, forKey: .normNumGroups) ?? d.normNumGroups
        sampleSize = try c.decodeIfPresent(Int.self, forKey: .sampleSize) ?? d.sampleSize
        scalingFactor = try c.decodeIfPresent(Double.self, forKey: .scalingFactor) ?? d.scalingFactor
        shiftFactor = try c.decodeIfPresent(Double.self, forKey: .shiftFactor)
        useQuantConv = try c.decodeIfPresent(Bool.self, forKey: .useQuantConv) ?? d.useQuantConv
        usePostQuantConv = try c.decodeIfPresent(Bool.self, forKey: .usePostQuantConv) ?? d.usePostQuantConv
        midBlockAddAttention = try c.decodeIfPresent(Bool.self, forKey: .midBlockAddAttention) ?? d.midBlockAddAttention
    }

    /// The factor between image and latent sides (2 per level but the last: 8 for Stable Diffusion).
    public var downsamplingFactor: Int { 1 << max(0, blockOutChannels.count - 1) }

    /// Throws when the numbers cannot make an autoencoder. Messages use the configuration's keys.
    public func validate() throws {
        guard inChannels > 0, outChannels > 0, latentChannels > 0 else {
            throw LoupeError("autoencoder_kl: in_channels (\(inChannels)), out_channels (\(outChannels)) and latent_channels (\(latentChannels)) must be positive")
        }
        guard !blockOutChannels.isEmpty, blockOutChannels.count <= 8, blockOutChannels.allSatisfy({ $0 > 0 }) else {
            throw LoupeError("autoencoder_kl: block_out_channels must be 1 to 8 positive channel counts, got \(blockOutChannels)")
        }
        guard normNumGroups > 0, blockOutChannels.allSatisfy({ $0 % normNumGroups == 0 }) else {
            throw LoupeError("autoencoder_kl: every block_out_channels entry \(blockOutChannels) must be divisible by norm_num_groups (\(normNumGroups))")
        }
        guard layersPerBlock >= 1 else {
            throw LoupeError("autoencoder_kl: layers_per_block must be at least 1, got \(layersPerBlock)")
        }
        guard sampleSize > 0, scalingFactor.isFinite, scalingFactor != 0 else {
            throw LoupeError("autoencoder_kl: sample_size (\(sampleSize)) must be positive and scaling_factor (\(scalingFactor)) finite and nonzero")
        }
    }
}
