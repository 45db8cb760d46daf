import Foundation
import LoupeTensor

/// The layers of diffusers' `AutoencoderKL` (`models/resnet.py`, `downsampling.py`,
/// `upsampling.py`, `attention_processor.py`, `unets/unet_2d_blocks.py`) with its parameter
/// names and float32 numerics: group normalization with eps 1e-6, SiLU, no time embedding.
enum VAELayers {
    /// Group normalization as the VAE uses it everywhere.
    static func groupNorm(_ channels: Int, groups: Int) throws -> GroupNorm {
        try GroupNorm(groups: groups, channels: channels, eps: 1e-6)
    }

    /// Runs the children of a list (torch `nn.ModuleList`) at the paths `name.0`, `name.1`, ...,
    /// the paths of the reference module tree.
    static func applyList(_ list: Sequential, named name: String, _ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = input
        for (index, layer) in list.layers.enumerated() { x = try context.apply(layer, named: "\(name).\(index)", x) }
        return x
    }

    /// Throws unless `x` is `[B, channels, H, W]`, naming the module and its path.
    static func checkFeatures(_ x: Tensor, channels: Int, module: String, context: ForwardContext) throws {
        guard x.rank == 4, x.shape[1] == channels, x.shape[0] > 0, x.shape[2] > 0, x.shape[3] > 0 else {
            throw LoupeError("\(module) at '\(context.currentPath)': expected [B, \(channels), H, W], got \(describe(shape: x.shape))")
        }
    }
}

/// diffusers' `ResnetBlock2D` without a time embedding: `norm1`, SiLU, `conv1` (3x3), `norm2`,
/// SiLU, `conv2` (3x3), plus the input (through the 1x1 `conv_shortcut` when the channels change).
public final class VAEResnetBlock2D: Module {
    public let norm1: GroupNorm
    public let conv1: Conv2d
    public let norm2: GroupNorm
    public let conv2: Conv2d
    public let convShortcut: Conv2d?
    public override var typeName: String { "ResnetBlock2D" }

    init(inChannels: Int, outChannels: Int, groups: Int) throws {
        norm1 = try VAELayers.groupNorm(inChannels, groups: groups)
        conv1 = try Conv2d(inChannels, outChannels, kernel: 3, padding: 1)
        norm2 = try VAELayers.groupNorm(outChannels, groups: groups)
        conv2 = try Conv2d(outChannels, outChannels, kernel: 3, padding: 1)
        convShortcut = inChannels == outChannels ? nil : try Conv2d(inChannels, outChannels, kernel: 1)
        super.init()
        registerModule("norm1", norm1)
        registerModule("conv1", conv1)
        registerModule("norm2", norm2)
        registerModule("conv2", conv2)
        if let convShortcut { registerModule("conv_shortcut", convShortcut) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try VAELayers.checkFeatures(input, channels: norm1.weight.shape[0], module: typeName, context: context)
        var h = try context.apply(norm1, input).silu()
        h = try context.apply(conv1, h)
        h = try context.apply(norm2, h).silu()
        h = try context.apply(conv2, h)
        let shortcut = try convShortcut.map { try context.apply($0, input) } ?? input
        return try shortcut + h
    }
}

/// diffusers' `Attention` as the VAE's mid blocks build it (`_from_deprecated_attn_block`):
/// one head over all channels, `group_norm` first, `to_q`/`to_k`/`to_v`/`to_out.0` linear
/// layers over the pixels as tokens, scale `1 / sqrt(channels)`, plus the input
/// (`rescale_output_factor` 1). Sites besides its children: `probs` (`[B, 1, HW, HW]`).
public final class VAEAttention: Module {
    public let groupNorm: GroupNorm
    public let toQ: Linear
    public let toK: Linear
    public let toV: Linear
    public let toOut: Sequential
    public override var typeName: String { "Attention" }

    init(channels: Int, groups: Int) throws {
        groupNorm = try VAELayers.groupNorm(channels, groups: groups)
        toQ = try Linear(channels, channels)
        toK = try Linear(channels, channels)
        toV = try Linear(channels, channels)
        toOut = Sequential([try Linear(channels, channels)])
        super.init()
        registerModule("group_norm", groupNorm)
        registerModule("to_q", toQ)
        registerModule("to_k", toK)
        registerModule("to_v", toV)
        registerModule("to_out", toOut)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let c = groupNorm.weight.shape[0]
        try VAELayers.checkFeatures(input, channels: c, module: typeName, context: context)
        let b = input.shape[0], h = input.shape[2], w = input.shape[3]
        let normed = try context.apply(groupNorm, input)
        let tokens = try normed.reshaped([b, c, h * w]).transposed(1, 2)
        let q = try context.apply(toQ, tokens).reshaped([b, 1, h * w, c])
        let k = try context.apply(toK, tokens).reshaped([b, 1, h * w, c])
        let v = try context.apply(toV, tokens).reshaped([b, 1, h * w, c])
        let (attended, probabilities) = try NN.attention(query: q, key: k, value: v)
        _ = try context.site("probs", probabilities)
        let out = try VAELayers.applyList(toOut, named: "to_out", attended.reshaped([b, h * w, c]), context: context)
        return try out.transposed(1, 2).reshaped([b, c, h, w]) + input
    }
}

/// diffusers' `Downsample2D` with `padding=0`: zero padding on the right and bottom by one
/// pixel, then a stride-2 3x3 `conv`.
public final class VAEDownsample2D: Module {
    public let conv: Conv2d
    public override var typeName: String { "Downsample2D" }

    init(channels: Int) throws {
        conv = try Conv2d(channels, channels, kernel: 3, stride: 2)
        super.init()
        registerModule("conv", conv)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try VAELayers.checkFeatures(input, channels: conv.weight.shape[1], module: typeName, context: context)
        let padded = try input.padded([(0, 0), (0, 0), (0, 1), (0, 1)])
        return try context.apply(conv, padded)
    }
}

/// diffusers' `Upsample2D` as the VAE uses it: nearest-neighbour 2x, then a 3x3 `conv`.
public final class VAEUpsample2D: Module {
    public let conv: Conv2d
    public override var typeName: String { "Upsample2D" }

    init(channels: Int) throws {
        conv = try Conv2d(channels, channels, kernel: 3, padding: 1)
        super.init()
        registerModule("conv", conv)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try VAELayers.checkFeatures(input, channels: conv.weight.shape[1], module: typeName, context: context)
        let upsampled = try NN.upsampleNearest2d(input, size: (input.shape[2] * 2, input.shape[3] * 2))
        return try context.apply(conv, upsampled)
    }
}

/// diffusers' `UNetMidBlock2D` without a time embedding: `resnets.0`, then for each
/// `attentions.i` (absent with `mid_block_add_attention` false) that attention and `resnets.i+1`.
public final class VAEMidBlock2D: Module {
    public let attentions: Sequential
    public let resnets: Sequential
    public override var typeName: String { "UNetMidBlock2D" }

    init(channels: Int, groups: Int, addAttention: Bool) throws {
        attentions = Sequential(addAttention ? [try VAEAttention(channels: channels, groups: groups)] : [])
        resnets = Sequential(try (0..<2).map { _ in try VAEResnetBlock2D(inChannels: channels, outChannels: channels, groups: groups) })
        super.init()
        if addAttention { registerModule("attentions", attentions) }
        registerModule("resnets", resnets)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = try context.apply(resnets[0], named: "resnets.0", input)
        for index in 1..<resnets.count {
            if index - 1 < attentions.count {
                x = try context.apply(attentions[index - 1], named: "attentions.\(index - 1)", x)
            }
            x = try context.apply(resnets[index], named: "resnets.\(index)", x)
        }
        return x
    }
}

/// diffusers' `DownEncoderBlock2D`: `resnets.0...` then, except at the last level,
/// `downsamplers.0`.
public final class VAEDownEncoderBlock2D: Module {
    public let resnets: Sequential
    public let downsamplers: Sequential?
    public override var typeName: String { "DownEncoderBlock2D" }

    init(inChannels: Int, outChannels: Int, layers: Int, groups: Int, downsample: Bool) throws {
        resnets = Sequential(try (0..<layers).map {
            try VAEResnetBlock2D(inChannels: $0 == 0 ? inChannels : outChannels, outChannels: outChannels, groups: groups)
        })
        downsamplers = downsample ? Sequential([try VAEDownsample2D(channels: outChannels)]) : nil
        super.init()
        registerModule("resnets", resnets)
        if let downsamplers { registerModule("downsamplers", downsamplers) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let x = try VAELayers.applyList(resnets, named: "resnets", input, context: context)
        guard let downsamplers else { return x }
        return try VAELayers.applyList(downsamplers, named: "downsamplers", x, context: context)
    }
}

/// diffusers' `UpDecoderBlock2D`: `resnets.0...` (one more than the encoder's) then, except at
/// the last level, `upsamplers.0`.
public final class VAEUpDecoderBlock2D: Module {
    public let resnets: Sequential
    public let upsamplers: Sequential?
    public override var typeName: String { "UpDecoderBlock2D" }

    init(inChannels: Int, outChannels: Int, layers: Int, groups: Int, upsample: Bool) throws {
        resnets = Sequential(try (0..<layers).map {
            try VAEResnetBlock2D(inChannels: $0 == 0 ? inChannels : outChannels, outChannels: outChannels, groups: groups)
        })
        upsamplers = upsample ? Sequential([try VAEUpsample2D(channels: outChannels)]) : nil
        super.init()
        registerModule("resnets", resnets)
        if let upsamplers { registerModule("upsamplers", upsamplers) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let x = try VAELayers.applyList(resnets, named: "resnets", input, context: context)
        guard let upsamplers else { return x }
        return try VAELayers.applyList(upsamplers, named: "upsamplers", x, context: context)
    }
}
