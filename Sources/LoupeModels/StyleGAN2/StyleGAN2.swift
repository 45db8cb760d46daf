import Foundation
import LoupeTensor

/// NVlabs' `MappingNetwork`: `z` (and an embedded label `c`), each normalised to unit second
/// moment, through `fc0`...`fc{n-1}` (leaky ReLU, learning-rate multiplier 0.01), broadcast to
/// `num_ws` copies and truncated towards the tracked `w_avg`: `w_avg + psi (w - w_avg)` on the
/// first `truncation_cutoff` (all when nil). Inputs `(z, c, truncation_psi, truncation_cutoff)`,
/// output `ws [B, num_ws, w_dim]`.
public final class StyleGAN2Mapping: Module {
    public let config: StyleGAN2Config
    public let embed: StyleGAN2FullyConnected?
    public let layers: [StyleGAN2FullyConnected]
    public let wAvg: Parameter?
    public override var typeName: String { "MappingNetwork" }

    init(_ config: StyleGAN2Config) throws {
        self.config = config
        let embedFeatures = config.classes == 0 ? 0 : (config.embedFeatures ?? config.wDim)
        let hidden = config.layerFeatures ?? config.wDim
        let features = [config.zDim + embedFeatures] + [Int](repeating: hidden, count: config.mappingLayers - 1) + [config.wDim]
        embed = config.classes > 0 ? try StyleGAN2FullyConnected(config.classes, embedFeatures) : nil
        let lr = Float(config.mappingLRMultiplier)
        layers = try (0..<config.mappingLayers).map {
            try StyleGAN2FullyConnected(features[$0], features[$0 + 1], leaky: true, lrMultiplier: lr)
        }
        wAvg = config.wAvgBeta == nil ? nil : Parameter(try Tensor.zeros([config.wDim]))
        super.init()
        if let embed { registerModule("embed", embed) }
        for (i, layer) in layers.enumerated() { registerModule("fc\(i)", layer) }
        if let wAvg { registerBuffer("w_avg", wAvg) }
    }

    public override var inputSignature: [InputParameter] {
        [InputParameter("z"), InputParameter("c", optional: true), InputParameter("truncation_psi", optional: true),
         InputParameter("truncation_cutoff", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let z = try inputs.tensor("z")
        guard z.rank == 2, z.shape[1] == config.zDim else {
            throw LoupeError("MappingNetwork: expected z [B, \(config.zDim)], got \(describe(shape: z.shape))")
        }
        var x = config.zDim > 0 ? try StyleGAN2Ops.normalizeSecondMoment(z) : nil
        if let embed {
            guard let c = try inputs.optionalTensor("c") else {
                throw LoupeError("MappingNetwork: this generator is conditional on \(config.classes) classes; give c [B, \(config.classes)] (one-hot labels)")
            }
            guard c.shape == [z.shape[0], config.classes] else {
                throw LoupeError("MappingNetwork: expected c [\(z.shape[0]), \(config.classes)], got \(describe(shape: c.shape))")
            }
            let y = try StyleGAN2Ops.normalizeSecondMoment(context.apply(embed, c))
            x = try x.map { try Tensor.concat([$0, y], axis: 1) } ?? y
        }
        guard var h = x else { throw LoupeError("MappingNetwork: no latent and no label") }
        for layer in layers { h = try context.apply(layer, h) }
        if training, let beta = config.wAvgBeta, let wAvg {
            let mean = try h.detached().mean(axes: [0])
            wAvg.value = try mean + (wAvg.value - mean) * Float(beta)
        }
        var ws = try h.unsqueezed(axis: 1).tiled([1, config.wCount, 1])
        let psi = try inputs.number("truncation_psi", default: 1)
        if psi != 1 {
            guard let wAvg else { throw LoupeError("MappingNetwork: truncation needs w_avg, which this generator does not track") }
            let average = try wAvg.value.reshaped([1, 1, config.wDim])
            let truncated = try average + (ws - average) * Float(psi)
            let cutoff = try inputs.number("truncation_cutoff", default: Double(config.wCount))
            let n = max(0, min(config.wCount, Int(cutoff)))
            if n >= config.wCount {
                ws = truncated
            } else if n > 0 {
                ws = try Tensor.concat([truncated.sliced(axis: 1, end: n), ws.sliced(axis: 1, start: n)], axis: 1)
            }
        }
        return .tensor(ws)
    }
}

/// The StyleGAN2-ADA generator (NVlabs/stylegan2-ada-pytorch `training/networks.py`
/// `Generator`) with its parameter names (`mapping.fc0.weight`, `mapping.w_avg`,
/// `synthesis.b4.const`, `synthesis.b16.conv1.affine.weight`, `synthesis.b16.conv1.noise_const`,
/// `synthesis.b16.torgb.weight`) and numerics in float32.
///
/// Inputs `(z [B, z_dim], c [B, classes], truncation_psi, truncation_cutoff)`, output the image
/// `[B, channels, resolution, resolution]` in about [-1, 1]. Sites besides every module's input
/// and output: `mapping` (the `ws`), `synthesis.b16` (record `{x, img}`), `synthesis.b16.conv1`
/// (the layer's features), `synthesis.b16.conv1.input.w` (its `w`), `synthesis.b16.conv1.affine`
/// (its styles) and `synthesis.b16.conv1.noise`. Noise follows `noiseMode` (default `.const`).
public final class StyleGAN2: Module, Architecture {
    public static let architectureName = "stylegan2"

    public let config: StyleGAN2Config
    public let synthesis: StyleGAN2Synthesis
    public let mapping: StyleGAN2Mapping
    public let noise = StyleGAN2NoiseSource()
    public override var typeName: String { "Generator" }

    /// A generator with zero weights; load a checkpoint or call `initialize`.
    public init(_ config: StyleGAN2Config) throws {
        try config.validate()
        self.config = config
        synthesis = try StyleGAN2Synthesis(config, noise: noise)
        mapping = try StyleGAN2Mapping(config)
        super.init()
        registerModule("synthesis", synthesis)
        registerModule("mapping", mapping)
    }

    /// How the synthesis layers draw their noise in the next forward passes.
    public var noiseMode: StyleGAN2NoiseSource.Mode {
        get { noise.mode }
        set { noise.mode = newValue }
    }

    public override var inputSignature: [InputParameter] { mapping.inputSignature }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let ws = try context.apply(mapping, inputs: inputs)
        return try context.apply(synthesis, inputs: ModuleInputs([("ws", ws)]))
    }

    /// The synthesis layers' features in forward order, with their paths (`synthesis.b16.conv1`).
    public var layerPaths: [String] {
        synthesis.blocks.flatMap { block in
            (block.conv0 == nil ? [] : ["synthesis.b\(block.resolution).conv0"]) + ["synthesis.b\(block.resolution).conv1"]
        }
    }

    public func configurationJSON() throws -> String {
        try encodeConfiguration(config)
    }

    public static func build(configurationJSON: String) throws -> Module {
        try StyleGAN2(try decodeConfiguration(StyleGAN2Config.self, configurationJSON, architecture: architectureName))
    }
}
