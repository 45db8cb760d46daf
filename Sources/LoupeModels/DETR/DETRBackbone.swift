import Foundation
import LoupeTensor

/// The ResNet of DETR's backbone (`backbone.0.body`: torchvision's ResNet up to `layer4`, as
/// `IntermediateLayerGetter` keeps it): `conv1`, `bn1`, `relu`, `maxpool`, `layer1` ... `layer4`.
/// Images `[B, C, H, W]` to features `[B, featureChannels, H/32, W/32]`.
public final class ResNetBody: Module {
    public let config: ResNetConfig
    public let conv1: Conv2d
    public let bn1: Module
    public let relu: ReLU
    public let maxpool: MaxPool2d
    public let stages: [Sequential]

    public init(_ config: ResNetConfig, norm: NormalizationFactory) throws {
        try config.validate()
        self.config = config
        conv1 = try Conv2d(config.channels, config.width, kernel: 7, stride: 2, padding: 3, bias: false)
        bn1 = try norm(config.width)
        relu = ReLU()
        maxpool = MaxPool2d(kernel: 3, stride: 2, padding: 1)
        stages = try ResNet.stages(config, norm: norm)
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("relu", relu)
        registerModule("maxpool", maxpool)
        for (index, stage) in stages.enumerated() { registerModule("layer\(index + 1)", stage) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = try context.apply(maxpool, context.apply(relu, context.apply(bn1, context.apply(conv1, input))))
        for stage in stages { x = try context.apply(stage, x) }
        return x
    }
}

/// DETR's `Backbone` (`backbone.0`): the ResNet body whose last stage's features DETR uses.
public final class DETRBackbone: Module {
    public let body: ResNetBody

    public init(_ config: ResNetConfig, frozenBatchNorm: Bool) throws {
        body = try ResNetBody(config, norm: { frozenBatchNorm ? try FrozenBatchNorm2d($0) : try BatchNorm2d($0) })
        super.init()
        registerModule("body", body)
    }

    public override var typeName: String { "Backbone" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try context.apply(body, input)
    }
}

/// DETR's `Joiner` (`backbone`): the backbone (`backbone.0`) and the sine position embedding
/// (`backbone.1`). Inputs `x` `[B, C, H, W]` and an optional padding `mask` `[B, H, W]`
/// (nonzero where a smaller image of the batch was padded, as DETR's `NestedTensor`); output
/// the record `{features, mask, pos}`: the last stage's features, the mask shrunk to them
/// (nearest, as `F.interpolate`; all zeros without an input mask) and the position embedding
/// `[B, dim, h, w]`.
public final class DETRJoiner: Module {
    public let backbone: DETRBackbone
    public let positionEmbedding: SinePositionEmbedding

    public init(_ backbone: DETRBackbone, _ positionEmbedding: SinePositionEmbedding) {
        self.backbone = backbone
        self.positionEmbedding = positionEmbedding
        super.init()
        registerModule("0", backbone)
        registerModule("1", positionEmbedding)
    }

    public override var typeName: String { "Joiner" }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("mask", optional: true)] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x")
        let features = try context.apply(backbone, x)
        let b = features.shape[0], h = features.shape[2], w = features.shape[3]
        let mask: Tensor
        if let padding = try inputs.optionalTensor("mask") {
            mask = try Self.shrinkMask(padding, toHeight: h, width: w)
        } else {
            mask = try Tensor.zeros([b, h, w])
        }
        let pos = try context.apply(positionEmbedding, mask)
        return .record([("features", .tensor(features)), ("mask", .tensor(mask)), ("pos", .tensor(pos))])
    }

    /// A padding mask `[B, H, W]` resized to `[B, h, w]` by nearest neighbour exactly as
    /// `F.interpolate(m[None].float(), size=(h, w))` (source index `floor(i * H / h)` in float32),
    /// with values 0 or 1.
    public static func shrinkMask(_ mask: Tensor, toHeight h: Int, width w: Int) throws -> Tensor {
        guard mask.rank == 3 else { throw LoupeError("detr: mask \(describe(shape: mask.shape)) is not [B, H, W]") }
        let b = mask.shape[0], inH = mask.shape[1], inW = mask.shape[2]
        let source = mask.detached().contiguous().scalars
        let scaleY = Float(inH) / Float(h), scaleX = Float(inW) / Float(w)
        var out = [Float](repeating: 0, count: b * h * w)
        for n in 0..<b {
            for i in 0..<h {
                let sy = min(Int((Float(i) * scaleY).rounded(.down)), inH - 1)
                for j in 0..<w {
                    let sx = min(Int((Float(j) * scaleX).rounded(.down)), inW - 1)
                    out[(n * h + i) * w + j] = source[(n * inH + sy) * inW + sx] != 0 ? 1 : 0
                }
            }
        }
        return try Tensor(shape: [b, h, w], scalars: out)
    }
}
