import Foundation
import LoupeTensor

/// DETR (facebookresearch/detr) with its parameter names (`backbone.0.body.layer1.0.conv1.weight`,
/// `transformer.encoder.layers.0.self_attn.in_proj_weight`, `transformer.decoder.norm.weight`,
/// `class_embed`, `bbox_embed.layers.0`, `query_embed.weight`, `input_proj`) and numerics.
///
/// Inputs: images `x [B, C, H, W]` (normalised with ImageNet's mean and deviation) and an optional
/// padding `mask [B, H, W]`, nonzero where an image smaller than the batch was padded (DETR's
/// `NestedTensor`). Output: the record `{pred_logits [B, Q, classes + 1], pred_boxes [B, Q, 4],
/// aux_outputs}`: class logits with the "no object" class last, boxes as normalised
/// (cx, cy, w, h), and the same two for every decoder layer but the last.
///
/// Sites besides every module's input and output: `backbone` (record `{features, mask, pos}`),
/// `backbone.0.body.layer1` ... `layer4`, `input_proj` (the backbone embedding `[B, dim, h, w]`),
/// `transformer.encoder.layers.i` and `transformer.encoder` (the memory, `[B, h*w, dim]`),
/// `transformer.decoder.layers.i` and `.normed`, attention maps
/// `transformer.encoder.layers.i.self_attn.probs [B, heads, h*w, h*w]` and
/// `transformer.decoder.layers.i.multihead_attn.probs [B, heads, Q, h*w]` (where each query looks).
/// Sequences are batch-first (DETR's code is sequence-first).
public final class DETR: Module, Architecture {
    public static let architectureName = "detr"

    public let config: DETRConfig
    public let transformer: DETRTransformer
    public let classEmbed: Linear
    public let bboxEmbed: DETRMLP
    public let queryEmbed: Embedding
    public let inputProj: Conv2d
    public let backbone: DETRJoiner

    /// A model with zero weights (norms at identity); load a checkpoint or call `initialize`.
    public init(_ config: DETRConfig) throws {
        try config.validate()
        self.config = config
        transformer = try DETRTransformer(config)
        classEmbed = try Linear(config.dim, config.classes + 1)
        bboxEmbed = try DETRMLP(input: config.dim, hidden: config.dim, output: 4, layers: 3)
        queryEmbed = try Embedding(count: config.queries, dim: config.dim)
        inputProj = try Conv2d(config.backboneConfig.featureChannels, config.dim, kernel: 1)
        backbone = DETRJoiner(try DETRBackbone(config.backboneConfig, frozenBatchNorm: config.frozenBatchNorm),
                              SinePositionEmbedding(features: config.dim / 2))
        super.init()
        registerModule("transformer", transformer)
        registerModule("class_embed", classEmbed)
        registerModule("bbox_embed", bboxEmbed)
        registerModule("query_embed", queryEmbed)
        registerModule("input_proj", inputProj)
        registerModule("backbone", backbone)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("mask", optional: true)] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x")
        guard x.rank == 4, x.shape[1] == config.channels, x.shape[2] > 0, x.shape[3] > 0 else {
            throw LoupeError("DETR: expected images [B, \(config.channels), H, W], got \(describe(shape: x.shape))")
        }
        var mask = try inputs.optionalTensor("mask")
        if let single = mask, single.rank == 2, x.shape[0] == 1 { mask = try single.reshaped([1] + single.shape) }
        if let mask, mask.shape != [x.shape[0], x.shape[2], x.shape[3]] {
            throw LoupeError("DETR: mask \(describe(shape: mask.shape)) does not match images \(describe(shape: x.shape)); expected [\(x.shape[0]), \(x.shape[2]), \(x.shape[3])]")
        }
        var backboneInputs: [(name: String, value: ModuleValue)] = [("x", .tensor(x))]
        if let mask { backboneInputs.append(("mask", .tensor(mask))) }
        let joined = try context.apply(backbone, inputs: ModuleInputs(backboneInputs))
        guard let features = joined["features"], let pos = joined["pos"], let shrunk = joined["mask"] else {
            throw LoupeError("DETR: the backbone returned \(joined.kind), expected {features, mask, pos}")
        }
        let src = try context.apply(inputProj, try features.tensor("backbone features"))
        var transformerInputs: [(name: String, value: ModuleValue)] = [("src", .tensor(src)), ("pos", pos),
                                                                      ("query_embed", .tensor(queryEmbed.weight.value))]
        if mask != nil { transformerInputs.append(("mask", shrunk)) }
        let result = try context.apply(transformer, inputs: ModuleInputs(transformerInputs))
        guard let hsValue = result["hs"] else { throw LoupeError("DETR: the transformer returned \(result.kind), expected {hs, memory}") }
        let hs = try hsValue.tensor("transformer hs")
        let logits = try context.apply(classEmbed, hs)
        let boxes = try context.apply(bboxEmbed, hs).sigmoid()
        let layers = hs.shape[0]
        func layer(_ t: Tensor, _ i: Int) throws -> Tensor { try t.sliced(axis: 0, start: i, end: i + 1).squeezed(axes: [0]) }
        var aux: [ModuleValue] = []
        for i in 0..<(layers - 1) {
            aux.append(.record([("pred_logits", .tensor(try layer(logits, i))), ("pred_boxes", .tensor(try layer(boxes, i)))]))
        }
        return .record([("pred_logits", .tensor(try layer(logits, layers - 1))), ("pred_boxes", .tensor(try layer(boxes, layers - 1))),
                        ("aux_outputs", .list(aux))])
    }

    // MARK: Architecture

    public func configurationJSON() throws -> String {
        try encodeConfiguration(config)
    }

    public static func build(configurationJSON: String) throws -> Module {
        try DETR(try decodeConfiguration(DETRConfig.self, configurationJSON, architecture: architectureName))
    }
}

/// DETR's box head `MLP` (`bbox_embed`): `layers.0` ... linear layers with ReLU between them.
public final class DETRMLP: Module {
    public let layers: Sequential

    public init(input: Int, hidden: Int, output: Int, layers count: Int) throws {
        let sizes = [input] + Array(repeating: hidden, count: count - 1) + [output]
        layers = Sequential(try (0..<count).map { try Linear(sizes[$0], sizes[$0 + 1]) })
        super.init()
        registerModule("layers", layers)
    }

    public override var typeName: String { "MLP" }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = input
        for (index, layer) in layers.layers.enumerated() {
            x = try context.apply(layer, named: "layers.\(index)", x)
            if index < layers.count - 1 { x = x.relu() }
        }
        return x
    }
}
