import Foundation
import LoupeTensor

/// The shape of a StyleGAN2-ADA generator (NVlabs/stylegan2-ada-pytorch `training/networks.py`
/// `Generator`). Field names are the language's `stylegan2(...)` arguments; the defaults are the
/// paper's 256-pixel-and-up configuration (`channel_base` 32768, 8 mapping layers, `skip`).
public struct StyleGAN2Config: Codable, Equatable, Sendable {
    /// Latent `z` size (0: no latent).
    public var zDim: Int
    /// Intermediate latent `w` size.
    public var wDim: Int
    /// Output resolution, a power of two >= 4.
    public var resolution: Int
    /// Image channels.
    public var channels: Int
    /// Conditioning label size (0: unconditional).
    public var classes: Int
    /// Channels of a block at resolution r: `min(channel_base / r, channel_max)`.
    public var channelBase: Int
    public var channelMax: Int
    /// Fully connected layers of the mapping network.
    public var mappingLayers: Int
    /// `"skip"` (an RGB image from every block, summed) or `"orig"` (from the last block only).
    public var architecture: String
    /// Clamp of every convolution's output to +-this (NVlabs' ADA configurations: 256), or nil.
    public var convClamp: Double?
    /// Learning-rate multiplier of the mapping layers (their weights are stored divided by it).
    public var mappingLRMultiplier: Double
    /// Decay of the tracked average `w` (`mapping.w_avg`), nil when the model has none.
    public var wAvgBeta: Double?
    /// Size of the label embedding (nil: `w_dim`).
    public var embedFeatures: Int?
    /// Width of the hidden mapping layers (nil: `w_dim`).
    public var layerFeatures: Int?

    public init(zDim: Int = 512, wDim: Int = 512, resolution: Int = 256, channels: Int = 3, classes: Int = 0,
                channelBase: Int = 32768, channelMax: Int = 512, mappingLayers: Int = 8,
                architecture: String = "skip", convClamp: Double? = nil, mappingLRMultiplier: Double = 0.01,
                wAvgBeta: Double? = 0.995, embedFeatures: Int? = nil, layerFeatures: Int? = nil) {
        self.zDim = zDim
        self.wDim = wDim
        self.resolution = resolution
        self.channels = channels
        self.classes = classes
        self.channelBase = channelBase
        self.channelMax = channelMax
        self.mappingLayers = mappingLayers
        self.architecture = architecture
        self.convClamp = convClamp
        self.mappingLRMultiplier = mappingLRMultiplier
        self.wAvgBeta = wAvgBeta
        self.embedFeatures = embedFeatures
        self.layerFeatures = layerFeatures
    }

    /// Keys as `decodeConfiguration` sees them after its snake_case conversion (`mapping_lr_multiplier`).
    enum CodingKeys: String, CodingKey {
        case zDim, wDim, resolution, channels, classes, channelBase, channelMax, mappingLayers, architecture, convClamp
        case mappingLRMultiplier = "mappingLrMultiplier", wAvgBeta, embedFeatures, layerFeatures
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = StyleGAN2Config()
        zDim = try c.decodeIfPresent(Int.self, forKey: .zDim) ?? d.zDim
        wDim = try c.decodeIfPresent(Int.self, forKey: .wDim) ?? d.wDim
        resolution = try c.decodeIfPresent(Int.self, forKey: .resolution) ?? d.resolution
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? d.channels
        classes = try c.decodeIfPresent(Int.self, forKey: .classes) ?? d.classes
        channelBase = try c.decodeIfPresent(Int.self, forKey: .channelBase) ?? d.channelBase
        channelMax = try c.decodeIfPresent(Int.self, forKey: .channelMax) ?? d.channelMax
        mappingLayers = try c.decodeIfPresent(Int.self, forKey: .mappingLayers) ?? d.mappingLayers
        architecture = try c.decodeIfPresent(String.self, forKey: .architecture) ?? d.architecture
        convClamp = try c.decodeIfPresent(Double.self, forKey: .convClamp)
        mappingLRMultiplier = try c.decodeIfPresent(Double.self, forKey: .mappingLRMultiplier) ?? d.mappingLRMultiplier
        wAvgBeta = c.contains(.wAvgBeta) ? try c.decodeIfPresent(Double.self, forKey: .wAvgBeta) : d.wAvgBeta
        embedFeatures = try c.decodeIfPresent(Int.self, forKey: .embedFeatures)
        layerFeatures = try c.decodeIfPresent(Int.self, forKey: .layerFeatures)
    }

    /// Every key, nil ones as null (an absent `w_avg_beta` means the default, null means none).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(zDim, forKey: .zDim)
        try c.encode(wDim, forKey: .wDim)
        try c.encode(resolution, forKey: .resolution)
        try c.encode(channels, forKey: .channels)
        try c.encode(classes, forKey: .classes)
        try c.encode(channelBase, forKey: .channelBase)
        try c.encode(channelMax, forKey: .channelMax)
        try c.encode(mappingLayers, forKey: .mappingLayers)
        try c.encode(architecture, forKey: .architecture)
        try c.encode(convClamp, forKey: .convClamp)
        try c.encode(mappingLRMultiplier, forKey: .mappingLRMultiplier)
        try c.encode(wAvgBeta, forKey: .wAvgBeta)
        try c.encode(embedFeatures, forKey: .embedFeatures)
        try c.encode(layerFeatures, forKey: .layerFeatures)
    }

    /// The block resolutions, 4, 8, ..., `resolution`.
    public var blockResolutions: [Int] {
        var result: [Int] = []
        var r = 4
        while r <= resolution { result.append(r); r *= 2 }
        return result
    }

    /// Channels of the block at resolution `r`.
    public func channels(at r: Int) -> Int { min(channelBase / r, channelMax) }

    /// How many `w` vectors the synthesis network takes (`num_ws`): one per convolution, plus the
    /// last block's toRGB.
    public var wCount: Int {
        blockResolutions.reduce(0) { $0 + ($1 == 4 ? 1 : 2) } + 1
    }

    /// Throws when the numbers cannot make a generator. Messages use the language's argument names.
    public func validate() throws {
        guard resolution >= 4, resolution & (resolution - 1) == 0 else {
            throw LoupeError("stylegan2: resolution must be a power of two >= 4, got \(resolution)")
        }
        guard zDim >= 0, wDim > 0, channels > 0, classes >= 0, zDim + classes > 0 else {
            throw LoupeError("stylegan2: z_dim (\(zDim)) and classes (\(classes)) must not both be 0, w_dim (\(wDim)) and channels (\(channels)) must be positive")
        }
        guard channelBase > 0, channelMax > 0, channels(at: resolution) > 0 else {
            throw LoupeError("stylegan2: channel_base \(channelBase) / resolution \(resolution) leaves no channels (channel_max \(channelMax))")
        }
        guard mappingLayers >= 1 else { throw LoupeError("stylegan2: mapping_layers must be at least 1, got \(mappingLayers)") }
        guard ["skip", "orig"].contains(architecture) else {
            throw LoupeError("stylegan2: architecture must be \"skip\" or \"orig\", got \"\(architecture)\" (NVlabs' \"resnet\" generator is not supported)")
        }
        if let convClamp, !(convClamp > 0) { throw LoupeError("stylegan2: conv_clamp must be positive or nil, got \(convClamp)") }
        guard mappingLRMultiplier > 0 else { throw LoupeError("stylegan2: mapping_lr_multiplier must be positive") }
        if let e = embedFeatures, e <= 0 { throw LoupeError("stylegan2: embed_features must be positive") }
        if let l = layerFeatures, l <= 0 { throw LoupeError("stylegan2: layer_features must be positive") }
    }
}

/// The shape of a StyleGAN2-ADA discriminator (NVlabs `Discriminator`, `resnet` architecture,
/// unconditional): blocks from `resolution` down to 8, then the 4x4 epilogue with minibatch
/// standard deviation.
public struct StyleGAN2DiscriminatorConfig: Codable, Equatable, Sendable {
    public var resolution: Int
    public var channels: Int
    public var channelBase: Int
    public var channelMax: Int
    public var convClamp: Double?
    /// Group size of the minibatch standard deviation (NVlabs: 4; smaller batches use the batch).
    public var mbstdGroupSize: Int
    /// Channels the minibatch standard deviation appends (NVlabs: 1).
    public var mbstdChannels: Int

    public init(resolution: Int = 256, channels: Int = 3, channelBase: Int = 32768, channelMax: Int = 512,
                convClamp: Double? = nil, mbstdGroupSize: Int = 4, mbstdChannels: Int = 1) {
        self.resolution = resolution
        self.channels = channels
        self.channelBase = channelBase
        self.channelMax = channelMax
        self.convClamp = convClamp
        self.mbstdGroupSize = mbstdGroupSize
        self.mbstdChannels = mbstdChannels
    }

    /// Keys as `decodeConfiguration` sees them (`mbstd_num_channels`, NVlabs' name).
    enum CodingKeys: String, CodingKey {
        case resolution, channels, channelBase, channelMax, convClamp, mbstdGroupSize
        case mbstdChannels = "mbstdNumChannels"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = StyleGAN2DiscriminatorConfig()
        resolution = try c.decodeIfPresent(Int.self, forKey: .resolution) ?? d.resolution
        channels = try c.decodeIfPresent(Int.self, forKey: .channels) ?? d.channels
        channelBase = try c.decodeIfPresent(Int.self, forKey: .channelBase) ?? d.channelBase
        channelMax = try c.decodeIfPresent(Int.self, forKey: .channelMax) ?? d.channelMax
        convClamp = try c.decodeIfPresent(Double.self, forKey: .convClamp)
        mbstdGroupSize = try c.decodeIfPresent(Int.self, forKey: .mbstdGroupSize) ?? d.mbstdGroupSize
        mbstdChannels = try c.decodeIfPresent(Int.self, forKey: .mbstdChannels) ?? d.mbstdChannels
    }

    /// Channels at resolution `r`.
    public func channels(at r: Int) -> Int { min(channelBase / r, channelMax) }

    public func validate() throws {
        guard resolution >= 8, resolution & (resolution - 1) == 0 else {
            throw LoupeError("stylegan2_discriminator: resolution must be a power of two >= 8, got \(resolution)")
        }
        guard channels > 0, channelBase > 0, channelMax > 0, channels(at: resolution) > 0 else {
            throw LoupeError("stylegan2_discriminator: channels, channel_base and channel_max must leave channels at every block")
        }
        guard mbstdGroupSize >= 1, mbstdChannels >= 0, mbstdChannels == 0 || channels(at: 4) % mbstdChannels == 0 else {
            throw LoupeError("stylegan2_discriminator: mbstd_num_channels (\(mbstdChannels)) must divide the 4x4 channels (\(channels(at: 4)))")
        }
        if let convClamp, !(convClamp > 0) { throw LoupeError("stylegan2_discriminator: conv_clamp must be positive or nil") }
    }
}
