import Foundation
import LoupeTensor

/// Where the synthesis layers' per-pixel noise comes from (NVlabs' `noise_mode`): the stored
/// `noise_const` images, fresh normal draws from a seeded generator, or none. Shared by the
/// layers of one generator and set by whoever runs it (`StyleGAN2.noiseMode`).
public final class StyleGAN2NoiseSource {
    public enum Mode: Equatable, Sendable {
        /// Each layer's stored `noise_const` (deterministic; the default).
        case const
        /// Normal draws from a generator seeded with this value, one `[B, 1, r, r]` image per layer
        /// in forward order.
        case random(seed: UInt64)
        /// No noise.
        case none
    }

    public var mode: Mode = .const {
        didSet { if case .random(let seed) = mode { generator = RandomGenerator(seed: seed, stream: 0x6e6f697365) } }
    }
    private var generator = RandomGenerator(seed: 0)

    public init() {}

    /// The noise a layer at `resolution` adds for a batch of `batch` (before its strength).
    func draw(batch: Int, resolution: Int, constant: Tensor) throws -> Tensor? {
        switch mode {
        case .const: return constant
        case .none: return nil
        case .random: return try Tensor.normal([batch, 1, resolution, resolution], generator: &generator)
        }
    }
}

/// NVlabs' `SynthesisLayer`: a modulated 3x3 convolution (styles from `affine(w)`, weight
/// demodulation, optional 2x upsampling through the resample filter), per-pixel noise scaled by
/// `noise_strength`, bias, leaky ReLU with gain sqrt(2), clamp. Inputs `(x, w)`; sites: `affine`
/// (the styles), `noise` (the noise added, zeros when there is none).
public final class StyleGAN2SynthesisLayer: Module {
    public let affine: StyleGAN2FullyConnected
    public let weight: Parameter
    public let bias: Parameter
    public let noiseStrength: Parameter
    public let noiseConst: Parameter
    public let resampleFilter: Parameter
    public let resolution: Int
    public let up: Int
    public let convClamp: Float?
    let noise: StyleGAN2NoiseSource
    public override var typeName: String { "SynthesisLayer" }

    init(_ inChannels: Int, _ outChannels: Int, wDim: Int, resolution: Int, up: Int, convClamp: Float?,
         noise: StyleGAN2NoiseSource) throws {
        resampleFilter = Parameter(try StyleGAN2Ops.resampleFilter())
        affine = try StyleGAN2FullyConnected(wDim, inChannels, biasInit: 1)
        weight = Parameter(try Tensor.zeros([outChannels, inChannels, 3, 3]))
        noiseConst = Parameter(try Tensor.zeros([resolution, resolution]))
        noiseStrength = Parameter(try Tensor.zeros([]))
        bias = Parameter(try Tensor.zeros([outChannels]))
        self.resolution = resolution
        self.up = up
        self.convClamp = convClamp
        self.noise = noise
        super.init()
        registerBuffer("resample_filter", resampleFilter)
        registerModule("affine", affine)
        registerParameter("weight", weight)
        registerBuffer("noise_const", noiseConst)
        registerParameter("noise_strength", noiseStrength)
        registerParameter("bias", bias)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("w")] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x"), w = try inputs.tensor("w")
        let inChannels = weight.shape[1], inResolution = resolution / up
        guard x.rank == 4, x.shape[1] == inChannels, x.shape[2] == inResolution, x.shape[3] == inResolution else {
            throw LoupeError("SynthesisLayer at '\(context.currentPath)': expected x [B, \(inChannels), \(inResolution), \(inResolution)], got \(describe(shape: x.shape))")
        }
        let styles = try context.apply(affine, w)
        let drawn = try noise.draw(batch: x.shape[0], resolution: resolution, constant: noiseConst.value)
        let scaled = try drawn.map { try $0 * noiseStrength.value } ?? Tensor.zeros([resolution, resolution])
        let added = try context.site("noise", scaled)
        if StyleGAN2Ops.recordsNothing([x, styles, weight.value, bias.value, added]) {
            let y = try StyleGAN2Ops.modulatedConvolution(x, weight: weight.value, styles: styles, up: up, padding: 1,
                                                          filter: resampleFilter.value, flipWeight: up == 1)
            let d = try StyleGAN2Ops.demodulation(weight: weight.value, styles: styles)
            return .tensor(StyleGAN2Ops.fusedTail(y, scale: d, noise: added, bias: bias.value, leaky: true,
                                                  gain: Float(2).squareRoot(), clamp: convClamp))
        }
        let y = try StyleGAN2Ops.modulatedConv2d(x, weight: weight.value, styles: styles, noise: added, up: up,
                                                 padding: 1, filter: resampleFilter.value, flipWeight: up == 1)
        return .tensor(try StyleGAN2Ops.biasActivation(y, bias: bias.value, leaky: true, gain: Float(2).squareRoot(),
                                                       clamp: convClamp))
    }
}

/// NVlabs' `ToRGBLayer`: a modulated 1x1 convolution without demodulation (styles scaled by
/// `1 / sqrt(in)`), bias, clamp. Inputs `(x, w)`.
public final class StyleGAN2ToRGB: Module {
    public let affine: StyleGAN2FullyConnected
    public let weight: Parameter
    public let bias: Parameter
    public let convClamp: Float?
    public override var typeName: String { "ToRGBLayer" }

    init(_ inChannels: Int, _ outChannels: Int, wDim: Int, convClamp: Float?) throws {
        affine = try StyleGAN2FullyConnected(wDim, inChannels, biasInit: 1)
        weight = Parameter(try Tensor.zeros([outChannels, inChannels, 1, 1]))
        bias = Parameter(try Tensor.zeros([outChannels]))
        self.convClamp = convClamp
        super.init()
        registerModule("affine", affine)
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("w")] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x"), w = try inputs.tensor("w")
        guard x.rank == 4, x.shape[1] == weight.shape[1] else {
            throw LoupeError("ToRGBLayer at '\(context.currentPath)': expected x [B, \(weight.shape[1]), H, W], got \(describe(shape: x.shape))")
        }
        let styles = try context.apply(affine, w) * (1 / Float(weight.shape[1]).squareRoot())
        let y = try StyleGAN2Ops.modulatedConv2d(x, weight: weight.value, styles: styles, noise: nil, filter: nil,
                                                 demodulate: false)
        if StyleGAN2Ops.recordsNothing([y, bias.value]) {
            return .tensor(StyleGAN2Ops.fusedTail(y, scale: nil, noise: nil, bias: bias.value, leaky: false, gain: 1, clamp: convClamp))
        }
        return .tensor(try StyleGAN2Ops.biasActivation(y, bias: bias.value, leaky: false, gain: 1, clamp: convClamp))
    }
}

/// NVlabs' `SynthesisBlock` at one resolution: the learned 4x4 `const` (first block) or `conv0`
/// (2x upsampling), `conv1`, and `torgb`, whose image is added to the previous block's upsampled
/// image (`skip`). Inputs `(x, img, ws)` (`x` and `img` absent in the first block; `ws` the
/// block's `[B, k, w_dim]` slice); output the record `{x, img}`.
public final class StyleGAN2SynthesisBlock: Module {
    public let resolution: Int
    public let isFirst: Bool
    public let isLast: Bool
    public let architecture: String
    public let resampleFilter: Parameter
    public let const: Parameter?
    public let conv0: StyleGAN2SynthesisLayer?
    public let conv1: StyleGAN2SynthesisLayer
    public let torgb: StyleGAN2ToRGB?
    public override var typeName: String { "SynthesisBlock" }

    /// Convolutions in the block (each takes one `w`).
    public var convolutionCount: Int { isFirst ? 1 : 2 }
    /// toRGB layers in the block (0 or 1).
    public var toRGBCount: Int { torgb == nil ? 0 : 1 }

    init(inChannels: Int, outChannels: Int, wDim: Int, resolution: Int, imageChannels: Int, isLast: Bool,
         architecture: String, convClamp: Float?, noise: StyleGAN2NoiseSource) throws {
        self.resolution = resolution
        isFirst = inChannels == 0
        self.isLast = isLast
        self.architecture = architecture
        resampleFilter = Parameter(try StyleGAN2Ops.resampleFilter())
        const = isFirst ? Parameter(try Tensor.zeros([outChannels, resolution, resolution])) : nil
        conv0 = isFirst ? nil : try StyleGAN2SynthesisLayer(inChannels, outChannels, wDim: wDim, resolution: resolution, up: 2,
                                                            convClamp: convClamp, noise: noise)
        conv1 = try StyleGAN2SynthesisLayer(outChannels, outChannels, wDim: wDim, resolution: resolution, up: 1,
                                            convClamp: convClamp, noise: noise)
        torgb = isLast || architecture == "skip"
            ? try StyleGAN2ToRGB(outChannels, imageChannels, wDim: wDim, convClamp: convClamp) : nil
        super.init()
        registerBuffer("resample_filter", resampleFilter)
        if let const { registerParameter("const", const) }
        if let conv0 { registerModule("conv0", conv0) }
        registerModule("conv1", conv1)
        if let torgb { registerModule("torgb", torgb) }
    }

    public override var inputSignature: [InputParameter] {
        [InputParameter("x", optional: true), InputParameter("img", optional: true), InputParameter("ws")]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let ws = try inputs.tensor("ws")
        let wanted = convolutionCount + toRGBCount
        guard ws.rank == 3, ws.shape[1] == wanted else {
            throw LoupeError("SynthesisBlock at '\(context.currentPath)': expected ws [B, \(wanted), w_dim], got \(describe(shape: ws.shape))")
        }
        let batch = ws.shape[0]
        func w(_ i: Int) throws -> Tensor { try ws.sliced(axis: 1, start: i, end: i + 1).squeezed(axes: [1]) }
        var x: Tensor
        var next = 0
        if let const {
            x = try const.value.unsqueezed(axis: 0).tiled([batch, 1, 1, 1])
        } else {
            guard let input = try inputs.optionalTensor("x"), let conv0 else {
                throw LoupeError("SynthesisBlock at '\(context.currentPath)': needs the previous block's x")
            }
            x = try Self.run(conv0, x: input, w: w(next), context: context)
            next += 1
        }
        x = try Self.run(conv1, x: x, w: w(next), context: context)
        next += 1
        var img = try inputs.optionalTensor("img")
        if let previous = img {
            img = try NN.upfirdn2d(previous, filter: resampleFilter.value, up: 2,
                                   padding: NN.FIRPadding(left: 2, right: 1, top: 2, bottom: 1), gain: 4)
        }
        if let torgb {
            let y = try context.apply(torgb, inputs: ModuleInputs([("x", .tensor(x)), ("w", .tensor(try w(next)))]))
                .tensor("torgb output")
            img = try img.map { try $0 + y } ?? y
        }
        var fields: [(key: String, value: ModuleValue)] = [("x", .tensor(x))]
        if let img { fields.append(("img", .tensor(img))) }
        return .record(fields)
    }

    static func run(_ layer: StyleGAN2SynthesisLayer, x: Tensor, w: Tensor, context: ForwardContext) throws -> Tensor {
        try context.apply(layer, inputs: ModuleInputs([("x", .tensor(x)), ("w", .tensor(w))])).tensor("\(layer.localName) output")
    }
}

/// NVlabs' `SynthesisNetwork`: blocks `b4`, `b8`, ..., `b{resolution}`. Input `ws [B, num_ws,
/// w_dim]` (each block takes its convolutions' and toRGB's `w`s; consecutive blocks share one);
/// output the image `[B, channels, resolution, resolution]`.
public final class StyleGAN2Synthesis: Module {
    public let config: StyleGAN2Config
    public let blocks: [StyleGAN2SynthesisBlock]
    public override var typeName: String { "SynthesisNetwork" }

    init(_ config: StyleGAN2Config, noise: StyleGAN2NoiseSource) throws {
        self.config = config
        let clamp = config.convClamp.map { Float($0) }
        blocks = try config.blockResolutions.map { r in
            try StyleGAN2SynthesisBlock(inChannels: r == 4 ? 0 : config.channels(at: r / 2), outChannels: config.channels(at: r),
                                        wDim: config.wDim, resolution: r, imageChannels: config.channels,
                                        isLast: r == config.resolution, architecture: config.architecture,
                                        convClamp: clamp, noise: noise)
        }
        super.init()
        for block in blocks { registerModule("b\(block.resolution)", block) }
    }

    public override var inputSignature: [InputParameter] { [InputParameter("ws")] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let ws = try inputs.tensor("ws")
        guard ws.rank == 3, ws.shape[1] == config.wCount, ws.shape[2] == config.wDim else {
            throw LoupeError("SynthesisNetwork: expected ws [B, \(config.wCount), \(config.wDim)], got \(describe(shape: ws.shape))")
        }
        var x: Tensor?, img: Tensor?
        var index = 0
        for block in blocks {
            let count = block.convolutionCount + block.toRGBCount
            var entries: [(name: String, value: ModuleValue)] = []
            if let x { entries.append(("x", .tensor(x))) }
            if let img { entries.append(("img", .tensor(img))) }
            entries.append(("ws", .tensor(try ws.sliced(axis: 1, start: index, end: index + count))))
            index += block.convolutionCount
            let output = try context.apply(block, inputs: ModuleInputs(entries))
            x = try output["x"]?.tensor("\(block.localName).x")
            img = try output["img"]?.tensor("\(block.localName).img")
        }
        guard let img else { throw LoupeError("SynthesisNetwork: the last block made no image") }
        return .tensor(img)
    }
}
