import Foundation
import LoupeTensor
import LoupeModels

/// The geometry a DETR inverse chain reconstructs: images `[B, channels, height, width]` whose
/// backbone feature map is `[B, dim, gridHeight, gridWidth]` (stride 32), its `gridHeight *
/// gridWidth` cells the encoder's tokens.
public struct DETRInverseLayout: Codable, Equatable, Sendable {
    public var height: Int
    public var width: Int
    public var channels: Int
    public var dim: Int

    public init(height: Int, width: Int, channels: Int, dim: Int) {
        self.height = height
        self.width = width
        self.channels = channels
        self.dim = dim
    }

    public init(_ config: DETRConfig, height: Int, width: Int) {
        self.init(height: height, width: width, channels: config.channels, dim: config.dim)
    }

    /// A ResNet's output size along one axis: five halvings, each `floor((n - 1) / 2) + 1`
    /// (the stem's 7x7 convolution and max pool, and the stride-2 3x3 convolutions of layers 2-4).
    static func featureSize(_ n: Int) -> Int {
        var n = n
        for _ in 0..<5 { n = (n - 1) / 2 + 1 }
        return n
    }

    public var gridHeight: Int { DETRInverseLayout.featureSize(height) }
    public var gridWidth: Int { DETRInverseLayout.featureSize(width) }
    public var tokens: Int { gridHeight * gridWidth }

    func validate() throws {
        guard height >= 1, width >= 1, channels >= 1, dim >= 2, dim % 2 == 0 else {
            throw LoupeError("DETR inverse: image \(height)x\(width) with \(channels) channels and width \(dim) (even) are not valid")
        }
    }

    func checkTokens(_ x: Tensor, op: String) throws {
        guard x.rank == 3, x.shape[1] == tokens, x.shape[2] == dim else {
            throw LoupeError("\(op): expected tokens [B, \(tokens), \(dim)] (a \(gridHeight)x\(gridWidth) grid of \(height)x\(width) images), got \(describe(shape: x.shape))")
        }
    }

    /// DETR's sine position embedding of the unpadded grid as tokens `[B, h*w, dim]`.
    func positionTokens(batch: Int) throws -> Tensor {
        let embedding = SinePositionEmbedding(features: dim / 2)
        let map = try ForwardContext().run(embedding, try Tensor.zeros([1, gridHeight, gridWidth]))
        return try map.reshaped([1, dim, tokens]).transposed(1, 2).contiguous().expanded(to: [batch, tokens, dim])
    }
}

/// The inverse of DETR's backbone (images -> `input_proj` output): the backbone embedding
/// `[B, dim, h, w]` upsampled 32 times by five transposed convolutions (kernel 3, stride 2,
/// padding 1, output padding 1, as inverse-tvm's convolutional decoders; `layers.i.conv`), each but
/// the last followed by BatchNorm and ReLU (`layers.i.bn`), then a sigmoid, cropped to the image.
/// Widths default to 2 dim, dim, dim/2, dim/4 (at least 16), then the image channels.
public final class DETRBackboneInverse: Module {
    public let layout: DETRInverseLayout
    public let widths: [Int]
    public let layers: Sequential

    /// Default stage widths (the last is the image channels).
    public static func defaultWidths(_ layout: DETRInverseLayout) -> [Int] {
        (0..<4).map { max(16, (2 * layout.dim) >> $0) } + [layout.channels]
    }

    public init(layout: DETRInverseLayout, widths: [Int]? = nil) throws {
        try layout.validate()
        let widths = widths ?? DETRBackboneInverse.defaultWidths(layout)
        guard widths.count == 5, widths.last == layout.channels, widths.allSatisfy({ $0 > 0 }) else {
            throw LoupeError("DETRBackboneInverse: widths \(widths) need five stages (stride 32) ending at \(layout.channels) channels")
        }
        self.layout = layout
        self.widths = widths
        layers = try InverseUpsampleStage.stack(from: layout.dim, widths: widths, kernel: 3, padding: 1)
        super.init()
        registerModule("layers", layers)
    }

    public override var typeName: String { "DETRBackboneInverse" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == layout.dim, input.shape[2] == layout.gridHeight, input.shape[3] == layout.gridWidth else {
            throw LoupeError("DETRBackboneInverse: expected a backbone embedding [B, \(layout.dim), \(layout.gridHeight), \(layout.gridWidth)], got \(describe(shape: input.shape))")
        }
        var x = try context.apply(layers, input).sigmoid()
        if x.shape[2] != layout.height || x.shape[3] != layout.width {
            x = try x.sliced(axis: 2, end: layout.height).sliced(axis: 3, end: layout.width).contiguous()
        }
        return x
    }
}

/// The inverse of DETR's encoder (`input_proj` output -> `transformer.encoder`): fresh DETR
/// encoder layers (`layers.i`) of the model's width, heads and feed-forward size, given DETR's
/// sine position embedding of the grid, mapping the encoder output `[B, h*w, dim]` back to the
/// backbone embedding, returned as the map `[B, dim, h, w]`.
public final class DETREncoderInverse: Module {
    public let layout: DETRInverseLayout
    public let layers: Sequential

    public init(layout: DETRInverseLayout, heads: Int, ffn: Int, depth: Int) throws {
        try layout.validate()
        guard depth >= 1 else { throw LoupeError("DETREncoderInverse: depth must be at least 1, got \(depth)") }
        self.layout = layout
        layers = Sequential(try (0..<depth).map { _ in try DETREncoderLayer(dim: layout.dim, heads: heads, ffn: ffn) })
        super.init()
        registerModule("layers", layers)
    }

    public override var typeName: String { "DETREncoderInverse" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try layout.checkTokens(input, op: "DETREncoderInverse")
        let batch = input.shape[0]
        let pos = try layout.positionTokens(batch: batch)
        var x = input
        for (index, layer) in layers.layers.enumerated() {
            x = try context.apply(layer, named: "layers.\(index)", inputs: ModuleInputs([("src", .tensor(x)), ("pos", .tensor(pos))]))
                .tensor("inverse encoder layer \(index)")
        }
        return try x.transposed(1, 2).reshaped([batch, layout.dim, layout.gridHeight, layout.gridWidth])
    }
}

/// The inverse of DETR's decoder (`transformer.encoder` -> the last decoder output): fresh DETR
/// decoder layers (`layers.i`) whose h*w queries start from zeros with the grid's sine position
/// embedding as their position embedding, and whose memory is the Q decoder outputs
/// `[B, Q, dim]` with learned position embeddings (`query_embed`, one per DETR query), as
/// inverse-tvm's inverse decoder. Output: the encoder output `[B, h*w, dim]`.
public final class DETRDecoderInverse: Module {
    public let layout: DETRInverseLayout
    public let queryEmbed: Embedding
    public let layers: Sequential

    public init(layout: DETRInverseLayout, queries: Int, heads: Int, ffn: Int, depth: Int) throws {
        try layout.validate()
        guard depth >= 1, queries >= 1 else {
            throw LoupeError("DETRDecoderInverse: depth (\(depth)) and queries (\(queries)) must be at least 1")
        }
        self.layout = layout
        queryEmbed = try Embedding(count: queries, dim: layout.dim)
        layers = Sequential(try (0..<depth).map { _ in try DETRDecoderLayer(dim: layout.dim, heads: heads, ffn: ffn) })
        super.init()
        registerModule("query_embed", queryEmbed)
        registerModule("layers", layers)
    }

    public override var typeName: String { "DETRDecoderInverse" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let queries = queryEmbed.weight.shape[0]
        guard input.rank == 3, input.shape[1] == queries, input.shape[2] == layout.dim else {
            throw LoupeError("DETRDecoderInverse: expected decoder outputs [B, \(queries), \(layout.dim)], got \(describe(shape: input.shape))")
        }
        let batch = input.shape[0]
        let queryPos = try layout.positionTokens(batch: batch)
        let memoryPos = try queryEmbed.weight.value.reshaped([1, queries, layout.dim]).expanded(to: [batch, queries, layout.dim])
        var x = try Tensor.zeros([batch, layout.tokens, layout.dim])
        for (index, layer) in layers.layers.enumerated() {
            let inputs = ModuleInputs([("tgt", .tensor(x)), ("memory", .tensor(input)), ("pos", .tensor(memoryPos)),
                                       ("query_pos", .tensor(queryPos))])
            x = try context.apply(layer, named: "layers.\(index)", inputs: inputs).tensor("inverse decoder layer \(index)")
        }
        return x
    }
}

/// The inverse of DETR's prediction heads (the last decoder output -> predictions): an MLP
/// (`layers.i`, ReLU between) from each query's one-hot predicted class (no-object included) and
/// box, `[B, Q, classes + 1 + 4]` (DETR's `predictions` representation), to its decoder output
/// `[B, Q, dim]`. Hidden widths default to inverse-tvm's 512 and 256.
public final class DETRPredictorInverse: Module {
    public let inputSize: Int
    public let layers: Sequential

    public init(classes: Int, dim: Int, hidden: [Int]? = nil) throws {
        let hidden = hidden ?? [512, 256]
        guard classes >= 1, dim >= 1, hidden.allSatisfy({ $0 > 0 }) else {
            throw LoupeError("DETRPredictorInverse: classes (\(classes)), dim (\(dim)) and hidden widths \(hidden) must be positive")
        }
        inputSize = classes + 1 + 4
        let sizes = [inputSize] + hidden + [dim]
        layers = Sequential(try (0..<(sizes.count - 1)).map { try Linear(sizes[$0], sizes[$0 + 1]) })
        super.init()
        registerModule("layers", layers)
    }

    public override var typeName: String { "DETRPredictorInverse" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 3, input.shape[2] == inputSize else {
            throw LoupeError("DETRPredictorInverse: expected predictions [B, Q, \(inputSize)] (one-hot class and box), got \(describe(shape: input.shape))")
        }
        var x = input
        for (index, layer) in layers.layers.enumerated() {
            x = try context.apply(layer, named: "layers.\(index)", x)
            if index < layers.count - 1 { x = x.relu() }
        }
        return x
    }
}

extension DETR {
    /// The name of DETR's prediction representation in inverse chains: per query the one-hot
    /// arg-max class (no-object included) and the box, `[B, Q, classes + 1 + 4]`.
    public static let predictionsPath = "predictions"

    /// The capture path of the last decoder layer's normalised output, the prediction heads' input.
    public var decoderOutputPath: String { "transformer.decoder.layers.\(config.decoderLayers - 1).normed" }

    /// `predictions` from DETR's output record: the one-hot arg-max of `pred_logits` beside
    /// `pred_boxes`.
    public static func predictions(from output: ModuleValue) throws -> Tensor {
        guard let logitsValue = output["pred_logits"], let boxesValue = output["pred_boxes"] else {
            throw LoupeError("predictions: the model returned \(output.kind), not DETR's {pred_logits, pred_boxes}")
        }
        let logits = try logitsValue.tensor("pred_logits").detached(), boxes = try boxesValue.tensor("pred_boxes").detached()
        guard logits.rank == 3, boxes.rank == 3, boxes.shape == [logits.shape[0], logits.shape[1], 4] else {
            throw LoupeError("predictions: pred_logits \(describe(shape: logits.shape)) and pred_boxes \(describe(shape: boxes.shape)) are not [B, Q, K] and [B, Q, 4]")
        }
        let classes = logits.shape[2]
        let labels = try logits.argmax(axis: -1).scalars
        var oneHot = [Float](repeating: 0, count: labels.count * classes)
        for (row, label) in labels.enumerated() { oneHot[row * classes + Int(label)] = 1 }
        let hot = try Tensor(shape: logits.shape, scalars: oneHot)
        return try Tensor.concat([hot, boxes.contiguous()], axis: 2)
    }
}
