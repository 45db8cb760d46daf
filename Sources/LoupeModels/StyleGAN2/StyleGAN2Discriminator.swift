import Foundation
import LoupeTensor

/// NVlabs' `MinibatchStdLayer`: splits the batch into groups of `min(group, B)` (sample i in group
/// `i mod (B / G)`), takes each group's standard deviation per feature, averages it over channels
/// and pixels (in `channels` groups of channels), and appends it as new channels.
public final class StyleGAN2MinibatchStd: Module {
    public let groupSize: Int
    public let channels: Int
    public override var typeName: String { "MinibatchStdLayer" }

    init(groupSize: Int, channels: Int) {
        self.groupSize = groupSize
        self.channels = channels
        super.init()
    }

    public override func forward(_ x: Tensor, context: ForwardContext) throws -> Tensor {
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let g = min(groupSize, n), f = channels
        guard n % g == 0 else {
            throw LoupeError("MinibatchStdLayer at '\(context.currentPath)': the batch (\(n)) must be a multiple of the group size \(g)")
        }
        let y = try x.reshaped([g, n / g, f, c / f, h, w])
        let centred = try y - y.mean(axes: [0], keepDims: true)
        let deviation = try ((centred * centred).mean(axes: [0]) + 1e-8).sqrt()
        let averaged = try deviation.mean(axes: [2, 3, 4]).reshaped([n / g, f, 1, 1])
        let spread = try averaged.tiled([g, 1, h, w])
        return try Tensor.concat([x, spread], axis: 1)
    }
}

/// NVlabs' `DiscriminatorBlock` (`resnet`): `fromrgb` (first block only), `conv0`, `conv1` (2x
/// downsampling) and the 1x1 `skip`, both paths scaled by sqrt(1/2) and summed.
public final class StyleGAN2DiscriminatorBlock: Module {
    public let resolution: Int
    /// NVlabs keeps the block's filter as a buffer too (its layers use their own copies).
    public let resampleFilter: Parameter
    public let fromrgb: StyleGAN2Conv2dLayer?
    public let conv0: StyleGAN2Conv2dLayer
    public let conv1: StyleGAN2Conv2dLayer
    public let skip: StyleGAN2Conv2dLayer
    public override var typeName: String { "DiscriminatorBlock" }

    init(inChannels: Int, tmpChannels: Int, outChannels: Int, resolution: Int, imageChannels: Int, convClamp: Float?) throws {
        self.resolution = resolution
        resampleFilter = Parameter(try StyleGAN2Ops.resampleFilter())
        fromrgb = inChannels == 0
            ? try StyleGAN2Conv2dLayer(imageChannels, tmpChannels, kernel: 1, leaky: true, convClamp: convClamp) : nil
        conv0 = try StyleGAN2Conv2dLayer(tmpChannels, tmpChannels, kernel: 3, leaky: true, convClamp: convClamp)
        conv1 = try StyleGAN2Conv2dLayer(tmpChannels, outChannels, kernel: 3, leaky: true, down: 2, convClamp: convClamp,
                                         gain: Float(0.5).squareRoot())
        skip = try StyleGAN2Conv2dLayer(tmpChannels, outChannels, kernel: 1, bias: false, down: 2, gain: Float(0.5).squareRoot())
        super.init()
        registerBuffer("resample_filter", resampleFilter)
        if let fromrgb { registerModule("fromrgb", fromrgb) }
        registerModule("conv0", conv0)
        registerModule("conv1", conv1)
        registerModule("skip", skip)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = input
        if let fromrgb { x = try context.apply(fromrgb, x) }
        let y = try context.apply(skip, x)
        x = try context.apply(conv0, x)
        x = try context.apply(conv1, x)
        return try y + x
    }
}

/// NVlabs' `DiscriminatorEpilogue` at 4x4: minibatch standard deviation, a 3x3 convolution,
/// `fc` and the logit `out`.
public final class StyleGAN2DiscriminatorEpilogue: Module {
    public let mbstd: StyleGAN2MinibatchStd?
    public let conv: StyleGAN2Conv2dLayer
    public let fc: StyleGAN2FullyConnected
    public let out: StyleGAN2FullyConnected
    public override var typeName: String { "DiscriminatorEpilogue" }

    init(channels: Int, mbstdGroupSize: Int, mbstdChannels: Int, convClamp: Float?) throws {
        mbstd = mbstdChannels > 0 ? StyleGAN2MinibatchStd(groupSize: mbstdGroupSize, channels: mbstdChannels) : nil
        conv = try StyleGAN2Conv2dLayer(channels + mbstdChannels, channels, kernel: 3, leaky: true, convClamp: convClamp)
        fc = try StyleGAN2FullyConnected(channels * 16, channels, leaky: true)
        out = try StyleGAN2FullyConnected(channels, 1)
        super.init()
        if let mbstd { registerModule("mbstd", mbstd) }
        registerModule("conv", conv)
        registerModule("fc", fc)
        registerModule("out", out)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = input
        if let mbstd { x = try context.apply(mbstd, x) }
        x = try context.apply(conv, x)
        x = try context.apply(fc, x.reshaped([x.shape[0], -1]))
        return try context.apply(out, x)
    }
}

/// The StyleGAN2-ADA discriminator (NVlabs `Discriminator`, `resnet`, unconditional) with its
/// parameter names (`b32.fromrgb.weight`, `b32.conv0.weight`, `b32.skip.weight`, `b4.conv.weight`,
/// `b4.fc.weight`, `b4.out.weight`). Input images `[B, channels, resolution, resolution]` in
/// [-1, 1]; output logits `[B, 1]` (real > 0).
public final class StyleGAN2Discriminator: Module, Architecture {
    public static let architectureName = "stylegan2_discriminator"

    public let config: StyleGAN2DiscriminatorConfig
    public let blocks: [StyleGAN2DiscriminatorBlock]
    public let epilogue: StyleGAN2DiscriminatorEpilogue
    public override var typeName: String { "Discriminator" }

    public init(_ config: StyleGAN2DiscriminatorConfig) throws {
        try config.validate()
        self.config = config
        let clamp = config.convClamp.map { Float($0) }
        var resolutions: [Int] = []
        var r = config.resolution
        while r > 4 { resolutions.append(r); r /= 2 }
        blocks = try resolutions.map { r in
            try StyleGAN2DiscriminatorBlock(inChannels: r < config.resolution ? config.channels(at: r) : 0,
                                            tmpChannels: config.channels(at: r), outChannels: config.channels(at: r / 2),
                                            resolution: r, imageChannels: config.channels, convClamp: clamp)
        }
        epilogue = try StyleGAN2DiscriminatorEpilogue(channels: config.channels(at: 4), mbstdGroupSize: config.mbstdGroupSize,
                                                      mbstdChannels: config.mbstdChannels, convClamp: clamp)
        super.init()
        for block in blocks { registerModule("b\(block.resolution)", block) }
        registerModule("b4", epilogue)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let r = config.resolution
        guard input.rank == 4, input.shape[1] == config.channels, input.shape[2] == r, input.shape[3] == r else {
            throw LoupeError("Discriminator: expected images [B, \(config.channels), \(r), \(r)], got \(describe(shape: input.shape))")
        }
        var x = input
        for block in blocks { x = try context.apply(block, x) }
        return try context.apply(epilogue, x)
    }

    /// NVlabs' initial values: every weight N(0, 1), biases 0.
    public func initialize(generator: inout RandomGenerator) throws {
        for (_, module) in namedModules() {
            if let layer = module as? StyleGAN2Conv2dLayer { try layer.initialize(generator: &generator) }
            if let layer = module as? StyleGAN2FullyConnected { try layer.initialize(generator: &generator) }
        }
    }

    public func configurationJSON() throws -> String { try encodeConfiguration(config) }

    public static func build(configurationJSON: String) throws -> Module {
        try StyleGAN2Discriminator(try decodeConfiguration(StyleGAN2DiscriminatorConfig.self, configurationJSON,
                                                           architecture: architectureName))
    }
}

extension StyleGAN2 {
    /// NVlabs' initial values: weights N(0, 1) (mapping weights / lr multiplier), `const` and
    /// `noise_const` N(0, 1), noise strengths and biases 0, style biases 1, `w_avg` 0.
    public func initialize(generator: inout RandomGenerator) throws {
        for (_, module) in namedModules() {
            if let layer = module as? StyleGAN2FullyConnected { try layer.initialize(generator: &generator) }
            if let layer = module as? StyleGAN2SynthesisLayer {
                layer.weight.value = try Tensor.normal(layer.weight.shape, generator: &generator)
                layer.noiseConst.value = try Tensor.normal(layer.noiseConst.shape, generator: &generator)
            }
            if let layer = module as? StyleGAN2ToRGB {
                layer.weight.value = try Tensor.normal(layer.weight.shape, generator: &generator)
            }
            if let block = module as? StyleGAN2SynthesisBlock, let const = block.const {
                const.value = try Tensor.normal(const.shape, generator: &generator)
            }
        }
    }
}
