import Foundation
import LoupeTensor
import LoupeModels

/// The geometry of a ViT's token sequence, shared by the patch-embedding inverses.
public struct TokenLayout: Codable, Equatable, Sendable {
    public var imageSize: Int
    public var patchSize: Int
    public var channels: Int
    public var dim: Int
    /// Class (prefix) tokens before the patch tokens.
    public var prefixTokens: Int

    public init(imageSize: Int, patchSize: Int, channels: Int, dim: Int, prefixTokens: Int) {
        self.imageSize = imageSize
        self.patchSize = patchSize
        self.channels = channels
        self.dim = dim
        self.prefixTokens = prefixTokens
    }

    public init(_ config: ViTConfig) {
        self.init(imageSize: config.imageSize, patchSize: config.patchSize, channels: config.channels,
                  dim: config.dim, prefixTokens: config.prefixTokens)
    }

    public var grid: Int { imageSize / patchSize }
    public var tokens: Int { prefixTokens + grid * grid }

    /// The patch tokens of `[B, T, D]` as a feature map `[B, D, grid, grid]`.
    func featureMap(_ tokens: Tensor, op: String) throws -> Tensor {
        try check(tokens, op: op)
        let patches = prefixTokens > 0 ? try tokens.sliced(axis: 1, start: prefixTokens) : tokens
        return try patches.transposed(1, 2).reshaped([tokens.shape[0], dim, grid, grid])
    }

    func check(_ tokens: Tensor, op: String) throws {
        guard tokens.rank == 3, tokens.shape[1] == self.tokens, tokens.shape[2] == dim else {
            throw LoupeError("\(op): expected tokens [B, \(self.tokens), \(dim)], got \(describe(shape: tokens.shape))")
        }
    }
}

/// The analytic inverse of a ViT's patch embedding: subtracts the position embedding and the
/// projection bias, drops the class token, multiplies by the pseudo-inverse of the patch
/// projection `[D, C p p]` and folds the patches back into the normalised input image. Exact
/// (up to float32 rounding) when `D >= C p p`. Buffers: `pinv [C p p, D]`, `pos_embed`, `bias`.
public final class AnalyticPatchInverse: Module {
    public let layout: TokenLayout
    /// Whether `pos_embed` covers the class token (timm's default).
    public let positionEmbedsClassToken: Bool
    public let pseudoInverse: Parameter
    public let positionEmbedding: Parameter
    public let bias: Parameter

    /// Zero buffers (filled by `init(model:)` or a checkpoint).
    public init(layout: TokenLayout, positionEmbedsClassToken: Bool) throws {
        self.layout = layout
        self.positionEmbedsClassToken = positionEmbedsClassToken
        let patchValues = layout.channels * layout.patchSize * layout.patchSize
        let embedded = layout.grid * layout.grid + (positionEmbedsClassToken ? layout.prefixTokens : 0)
        pseudoInverse = Parameter(try Tensor.zeros([patchValues, layout.dim]))
        positionEmbedding = Parameter(try Tensor.zeros([1, embedded, layout.dim]))
        bias = Parameter(try Tensor.zeros([layout.dim]))
        super.init()
        registerBuffer("pinv", pseudoInverse)
        registerBuffer("pos_embed", positionEmbedding)
        registerBuffer("bias", bias)
    }

    /// The inverse of `model`'s patch embedding.
    public convenience init(model: VisionTransformer) throws {
        try self.init(layout: TokenLayout(model.config), positionEmbedsClassToken: model.config.positionEmbedsClassToken)
        let weight = model.patchEmbed.proj.weight.value.detached()
        let matrix = try weight.reshaped([weight.shape[0], -1])
        pseudoInverse.value = try matrix.pseudoInverse(rcond: 1e-6).contiguous()
        positionEmbedding.value = model.positionEmbedding.value.detached().contiguousCopy()
        bias.value = try model.patchEmbed.proj.bias?.value.detached().contiguousCopy() ?? Tensor.zeros([layout.dim])
    }

    public override var typeName: String { "AnalyticPatchInverse" }

    /// Tokens `[B, T, D]` -> the normalised model input `[B, C, H, W]`.
    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try layout.check(input, op: "AnalyticPatchInverse")
        let b = input.shape[0], prefix = layout.prefixTokens
        var patches = input
        if positionEmbedsClassToken { patches = try patches - positionEmbedding.value }
        if prefix > 0 { patches = try patches.sliced(axis: 1, start: prefix) }
        if !positionEmbedsClassToken { patches = try patches - positionEmbedding.value }
        patches = try patches - bias.value
        let g = layout.grid, p = layout.patchSize, c = layout.channels
        let pixels = try patches.matmul(pseudoInverse.value.transposed())      // [B, N, C p p]
        return try pixels.reshaped([b, g, g, c, p, p]).permuted([0, 3, 1, 4, 2, 5]).reshaped([b, c, g * p, g * p])
    }
}

/// A learned linear patch inverse: patch tokens as a `[B, D, g, g]` map, one transposed
/// convolution with kernel = stride = patch (`proj`), sigmoid: an image in (0, 1).
public final class LinearPatchInverse: Module {
    public let layout: TokenLayout
    public let proj: ConvTranspose2d

    public init(layout: TokenLayout) throws {
        self.layout = layout
        proj = try ConvTranspose2d(layout.dim, layout.channels, kernel: layout.patchSize, stride: layout.patchSize)
        super.init()
        registerModule("proj", proj)
    }

    public override var typeName: String { "LinearPatchInverse" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try context.apply(proj, try layout.featureMap(input, op: "LinearPatchInverse")).sigmoid()
    }
}

/// The "enhanced" patch inverse of Rathjens et al.: log2(patch) transposed convolutions with
/// kernel 2 and stride 2 (`layers.i.conv`), each but the last followed by BatchNorm and ReLU
/// (`layers.i.bn`), then a sigmoid. Widths default to D/3, then /4 per stage (768 -> 256 -> 64
/// -> 16 -> 3 for ViT-B/16), at least 8, ending at the image channels.
public final class EnhancedPatchInverse: Module {
    public let layout: TokenLayout
    public let widths: [Int]
    public let layers: Sequential

    /// Default stage widths for `layout` (the last is the image channels).
    public static func defaultWidths(_ layout: TokenLayout) throws -> [Int] {
        var stages = 0, p = layout.patchSize
        while p > 1 && p % 2 == 0 { p /= 2; stages += 1 }
        guard p == 1, stages >= 1 else {
            throw LoupeError("EnhancedPatchInverse: patch size \(layout.patchSize) is not a power of two")
        }
        var widths: [Int] = []
        var width = max(8, layout.dim / 3)
        for _ in 0..<(stages - 1) {
            widths.append(width)
            width = max(8, width / 4)
        }
        return widths + [layout.channels]
    }

    public init(layout: TokenLayout, widths: [Int]? = nil) throws {
        self.layout = layout
        let widths = try widths ?? EnhancedPatchInverse.defaultWidths(layout)
        guard 1 << widths.count == layout.patchSize, widths.last == layout.channels, widths.allSatisfy({ $0 > 0 }) else {
            throw LoupeError("EnhancedPatchInverse: widths \(widths) need log2(patch \(layout.patchSize)) stages ending at \(layout.channels) channels")
        }
        self.widths = widths
        layers = try InverseUpsampleStage.stack(from: layout.dim, widths: widths)
        super.init()
        registerModule("layers", layers)
    }

    public override var typeName: String { "EnhancedPatchInverse" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try context.apply(layers, try layout.featureMap(input, op: "EnhancedPatchInverse")).sigmoid()
    }
}

/// One upsampling stage of the convolutional inverses: `conv` (a transposed convolution with
/// stride 2), then `bn` and ReLU unless it is the last stage of its decoder.
final class InverseUpsampleStage: Module {
    let conv: ConvTranspose2d
    let bn: BatchNorm2d?

    /// The output is exactly twice the input: kernel 2 without padding (no overlap between input
    /// cells) or kernel 3 with padding 1 (output padding 1; neighbouring cells overlap).
    init(_ inChannels: Int, _ outChannels: Int, kernel: Int = 2, padding: Int = 0, normalized: Bool) throws {
        let outputPadding = 2 - (kernel - 2 * padding)
        guard outputPadding == 0 || outputPadding == 1 else {
            throw LoupeError("UpsampleStage: kernel \(kernel) with padding \(padding) does not double the size")
        }
        conv = try ConvTranspose2d(inChannels, outChannels, kernel: kernel, stride: 2, padding: padding, outputPadding: outputPadding)
        bn = normalized ? try BatchNorm2d(outChannels) : nil
        super.init()
        registerModule("conv", conv)
        if let bn { registerModule("bn", bn) }
    }

    /// Stages from `channels` through `widths` (BatchNorm and ReLU after all but the last).
    static func stack(from channels: Int, widths: [Int], kernel: Int = 2, padding: Int = 0) throws -> Sequential {
        var stages: [Module] = []
        var inChannels = channels
        for (index, width) in widths.enumerated() {
            stages.append(try InverseUpsampleStage(inChannels, width, kernel: kernel, padding: padding, normalized: index < widths.count - 1))
            inChannels = width
        }
        return Sequential(stages)
    }

    override var typeName: String { "UpsampleStage" }

    override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let x = try context.apply(conv, input)
        guard let bn else { return x }
        return try context.apply(bn, x).relu()
    }
}

/// A stack of fresh ViT blocks of the model's width (`blocks.i`), mapping a token state
/// `[B, T, D]` (class token included) back to an earlier one: one block inverts one block or
/// sub-layer; several make a stage inverse. Like inverse-tvm's `InverseViTEncoder` (timm
/// `Block` with `init_values=None`), the blocks have no LayerScale even when the model has one.
public final class BlockInverse: Module {
    public let blocks: Sequential

    public init(config: ViTConfig, depth: Int) throws {
        guard depth >= 1 else { throw LoupeError("BlockInverse: depth must be at least 1, got \(depth)") }
        var blockConfig = config
        blockConfig.layerScale = nil
        blocks = Sequential(try (0..<depth).map { _ in try ViTBlock(config: blockConfig) })
        super.init()
        registerModule("blocks", blocks)
    }

    public override var typeName: String { "BlockInverse" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try context.apply(blocks, input)
    }
}

/// Initial weights of inverse modules: linear layers truncated normal (std 0.02) with zero bias
/// as timm's ViT, layer and batch norms at identity, transposed convolutions uniform in
/// `±1 / sqrt(out k k)` (torch's default for `ConvTranspose2d`), embeddings standard normal
/// (torch's default for `nn.Embedding`).
public enum InverseInitialization {
    public static func initialize(_ module: Module, generator: inout RandomGenerator) throws {
        func set(_ parameter: Parameter, _ value: Tensor) { parameter.value = value }
        for (_, child) in module.namedModules() {
            switch child {
            case let linear as Linear:
                let count = try Tensor.checkedCount(linear.weight.shape, op: "initialize")
                var values = [Float](repeating: 0, count: count)
                for i in 0..<count {
                    var v = 0.02 * generator.nextNormal()
                    while abs(v) > 2 { v = 0.02 * generator.nextNormal() }
                    values[i] = v
                }
                set(linear.weight, try Tensor(shape: linear.weight.shape, scalars: values))
                if let bias = linear.bias { set(bias, try Tensor.zeros(bias.shape)) }
            case let embedding as Embedding:
                set(embedding.weight, try Tensor.normal(embedding.weight.shape, generator: &generator))
            case let norm as LayerNorm:
                set(norm.weight, try Tensor.ones(norm.weight.shape))
                set(norm.bias, try Tensor.zeros(norm.bias.shape))
            case let conv as ConvTranspose2d:
                let fanIn = conv.weight.shape.dropFirst().reduce(1, *)
                let bound = 1 / Float(max(fanIn, 1)).squareRoot()
                set(conv.weight, try Tensor.uniform(conv.weight.shape, low: -bound, high: bound, generator: &generator))
                set(conv.bias, try Tensor.uniform(conv.bias.shape, low: -bound, high: bound, generator: &generator))
            default:
                break
            }
        }
    }
}
