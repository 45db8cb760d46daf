import LoupeTensor

/// Makes the normalisation layer of a ResNet for a channel count: `BatchNorm2d` in torchvision's
/// ResNet, `FrozenBatchNorm2d` in DETR's backbone.
public typealias NormalizationFactory = (Int) throws -> Module

/// torchvision's `BasicBlock`: two 3x3 convolutions with batch norm, plus the identity (or a
/// 1x1 `downsample`) added before the last ReLU.
public final class BasicBlock: Module {
    public let conv1: Conv2d, bn1: Module, relu: ReLU, conv2: Conv2d, bn2: Module
    public let downsample: Sequential?

    public init(inPlanes: Int, planes: Int, stride: Int, norm: NormalizationFactory = { try BatchNorm2d($0) }) throws {
        conv1 = try Conv2d(inPlanes, planes, kernel: 3, stride: stride, padding: 1, bias: false)
        bn1 = try norm(planes)
        relu = ReLU()
        conv2 = try Conv2d(planes, planes, kernel: 3, padding: 1, bias: false)
        bn2 = try norm(planes)
        downsample = try ResNet.downsample(inPlanes: inPlanes, outPlanes: planes, stride: stride, norm: norm)
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("relu", relu)
        registerModule("conv2", conv2)
        registerModule("bn2", bn2)
        if let downsample { registerModule("downsample", downsample) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var out = try context.apply(relu, context.apply(bn1, context.apply(conv1, input)))
        out = try context.apply(bn2, context.apply(conv2, out))
        let identity = try downsample.map { try context.apply($0, input) } ?? input
        return try (out + identity).relu()
    }
}

/// torchvision's `Bottleneck` (ResNet V1.5: the stride sits on the 3x3 convolution): 1x1, 3x3,
/// 1x1 with 4x expansion, plus the identity or `downsample`.
public final class Bottleneck: Module {
    public let conv1: Conv2d, bn1: Module, conv2: Conv2d, bn2: Module, conv3: Conv2d, bn3: Module
    public let relu: ReLU
    public let downsample: Sequential?

    public init(inPlanes: Int, planes: Int, stride: Int, norm: NormalizationFactory = { try BatchNorm2d($0) }) throws {
        conv1 = try Conv2d(inPlanes, planes, kernel: 1, bias: false)
        bn1 = try norm(planes)
        conv2 = try Conv2d(planes, planes, kernel: 3, stride: stride, padding: 1, bias: false)
        bn2 = try norm(planes)
        conv3 = try Conv2d(planes, planes * 4, kernel: 1, bias: false)
        bn3 = try norm(planes * 4)
        relu = ReLU()
        downsample = try ResNet.downsample(inPlanes: inPlanes, outPlanes: planes * 4, stride: stride, norm: norm)
        super.init()
        registerModule("conv1", conv1)
        registerModule("bn1", bn1)
        registerModule("conv2", conv2)
        registerModule("bn2", bn2)
        registerModule("conv3", conv3)
        registerModule("bn3", bn3)
        registerModule("relu", relu)
        if let downsample { registerModule("downsample", downsample) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var out = try context.apply(relu, context.apply(bn1, context.apply(conv1, input)))
        out = try context.apply(relu, context.apply(bn2, context.apply(conv2, out)))
        out = try context.apply(bn3, context.apply(conv3, out))
        let identity = try downsample.map { try context.apply($0, input) } ?? input
        return try (out + identity).relu()
    }
}
