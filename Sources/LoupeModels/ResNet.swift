import Foundation
import LoupeTensor

/// A ResNet with torchvision's parameter names (`conv1.weight`, `layer2.0.bn1.running_mean`,
/// `layer3.0.downsample.0.weight`, `fc.bias`) and numerics (batch norm in evaluation mode unless
/// switched to training).
public final class ResNet: Module, Architecture {
    public static let architectureName = "resnet"

    public let config: ResNetConfig
    public let conv1: Conv2d
    public let bn1: BatchNorm2d
    public let relu: ReLU
    public let maxpool: MaxPool2d?
    public let stages: [Sequential]
    public let avgpool: AdaptiveAvgPool2d
    public let fc: Linear?

    public init(_ config: ResNetConfig) throws {
        try config.validate()
        self.config = config
        let imagenet = config.stem == .imagenet
        conv1 = try Conv2d(config.channels, config.width, kernel: imagenet ? 7 : 3, stride: imagenet ? 2 : 1,
                           padding: imagenet ? 3 : 1, bias: false)
        bn1 = try BatchNorm2d(config.width)
        relu = ReLU()
        maxpool = imagenet ? MaxPool2d(kernel: 3, stride: 2, padding: 1) : nil
        stages = try Self.stages(config)
        avgpool = AdaptiveAvgPool2d(1)
        fc = config.classes > 0 ? try Linear(config.featureChannels, config.classes) : nil
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("relu", relu)
        if let maxpool { registerModule("maxpool", maxpool) }
        for (index, stage) in stages.enumerated() { registerModule("layer\(index + 1)", stage) }
        registerModule("avgpool", avgpool)
        if let fc { registerModule("fc", fc) }
    }

    /// torchvision's `layer1` ... `layer4` for `config`, with `norm` layers (batch norm by default).
    static func stages(_ config: ResNetConfig, norm: NormalizationFactory = { try BatchNorm2d($0) }) throws -> [Sequential] {
        var inPlanes = config.width
        var stages: [Sequential] = []
        for (index, count) in config.stageBlocks.enumerated() {
            let planes = config.width << index
            var blocks: [Module] = []
            for block in 0..<count {
                let stride = block == 0 && index > 0 ? 2 : 1
                blocks.append(config.usesBottleneck
                              ? try Bottleneck(inPlanes: inPlanes, planes: planes, stride: stride, norm: norm)
                              : try BasicBlock(inPlanes: inPlanes, planes: planes, stride: stride, norm: norm))
                inPlanes = planes * config.expansion
            }
            stages.append(Sequential(blocks))
        }
        return stages
    }

    /// The 1x1 convolution and batch norm that match the identity to a block's output, when the
    /// stride or the channel count changes (torchvision `downsample`).
    static func downsample(inPlanes: Int, outPlanes: Int, stride: Int,
                           norm: NormalizationFactory = { try BatchNorm2d($0) }) throws -> Sequential? {
        guard stride != 1 || inPlanes != outPlanes else { return nil }
        return Sequential([try Conv2d(inPlanes, outPlanes, kernel: 1, stride: stride, bias: false),
                           try norm(outPlanes)])
    }

    /// Images `[N, C, H, W]` to logits `[N, classes]` (or pooled features when `classes` is 0).
    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == config.channels else {
            throw LoupeError("ResNet: expected images [N, \(config.channels), H, W], got \(describe(shape: input.shape))")
        }
        var x = try context.apply(relu, context.apply(bn1, context.apply(conv1, input)))
        if let maxpool { x = try context.apply(maxpool, x) }
        for stage in stages { x = try context.apply(stage, x) }
        x = try context.apply(avgpool, x)
        x = try x.reshaped([x.shape[0], x.shape[1]])
        if let fc { x = try context.apply(fc, x) }
        return x
    }

    public func configurationJSON() throws -> String {
        try encodeConfiguration(config)
    }

    public static func build(configurationJSON: String) throws -> Module {
        try ResNet(try decodeConfiguration(ResNetConfig.self, configurationJSON, architecture: architectureName))
    }
}
