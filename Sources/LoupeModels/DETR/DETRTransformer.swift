import LoupeTensor

/// DETR's `TransformerEncoderLayer` (post-norm, ReLU): self-attention whose queries and keys get
/// the position embedding added, then the feed-forward network, each followed by a residual
/// sum and a layer norm. Inputs `src [B, N, dim]`, `pos [B, N, dim]`, optional
/// `padding_mask [B, N]`; output `[B, N, dim]`. DETR's code is sequence-first (`[N, B, dim]`);
/// Loupe's sequences are batch-first.
public final class DETREncoderLayer: Module {
    public let selfAttention: MultiheadAttention
    public let linear1: Linear, linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm

    public init(dim: Int, heads: Int, ffn: Int) throws {
        selfAttention = try MultiheadAttention(dim: dim, heads: heads)
        linear1 = try Linear(dim, ffn)
        linear2 = try Linear(ffn, dim)
        norm1 = try LayerNorm(dim)
        norm2 = try LayerNorm(dim)
        super.init()
        registerModule("self_attn", selfAttention)
        registerModule("linear1", linear1)
        registerModule("linear2", linear2)
        registerModule("norm1", norm1)
        registerModule("norm2", norm2)
    }

    public override var typeName: String { "TransformerEncoderLayer" }

    public override var inputSignature: [InputParameter] {
        [InputParameter("src"), InputParameter("pos"), InputParameter("padding_mask", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let src = try inputs.tensor("src"), pos = try inputs.tensor("pos")
        guard pos.shape == src.shape else {
            throw LoupeError("TransformerEncoderLayer: pos \(describe(shape: pos.shape)) does not match src \(describe(shape: src.shape))")
        }
        let withPos = try src + pos
        var attention: [(name: String, value: ModuleValue)] = [("query", .tensor(withPos)), ("key", .tensor(withPos)), ("value", .tensor(src))]
        if let mask = inputs["padding_mask"] { attention.append(("padding_mask", mask)) }
        let attended = try context.apply(selfAttention, inputs: ModuleInputs(attention)).tensor("self_attn output")
        var x = try context.apply(norm1, try src + attended)
        let hidden = try context.apply(linear1, x).relu()
        x = try context.apply(norm2, try x + (try context.apply(linear2, hidden)))
        return .tensor(x)
    }
}

/// DETR's `TransformerDecoderLayer` (post-norm, ReLU): self-attention among the queries (their
/// position embedding `query_pos` added to queries and keys), cross-attention from the queries to
/// the encoder's `memory` (keys get `pos`), and the feed-forward network, each followed by a
/// residual sum and a layer norm. Inputs `tgt [B, Q, dim]`, `memory [B, N, dim]`,
/// `pos [B, N, dim]`, `query_pos [B, Q, dim]`, optional `padding_mask [B, N]`; output `[B, Q, dim]`.
public final class DETRDecoderLayer: Module {
    public let selfAttention: MultiheadAttention
    public let crossAttention: MultiheadAttention
    public let linear1: Linear, linear2: Linear
    public let norm1: LayerNorm, norm2: LayerNorm, norm3: LayerNorm

    public init(dim: Int, heads: Int, ffn: Int) throws {
        selfAttention = try MultiheadAttention(dim: dim, heads: heads)
        crossAttention = try MultiheadAttention(dim: dim, heads: heads)
        linear1 = try Linear(dim, ffn)
        linear2 = try Linear(ffn, dim)
        norm1 = try LayerNorm(dim)
        norm2 = try LayerNorm(dim)
        norm3 = try LayerNorm(dim)
        super.init()
        registerModule("self_attn", selfAttention)
        registerModule("multihead_attn", crossAttention)
        registerModule("linear1", linear1)
        registerModule("linear2", linear2)
        registerModule("norm1", norm1)
        registerModule("norm2", norm2)
        registerModule("norm3", norm3)
    }

    public override var typeName: String { "TransformerDecoderLayer" }

    public override var inputSignature: [InputParameter] {
        [InputParameter("tgt"), InputParameter("memory"), InputParameter("pos"), InputParameter("query_pos"),
         InputParameter("padding_mask", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let tgt = try inputs.tensor("tgt"), memory = try inputs.tensor("memory")
        let pos = try inputs.tensor("pos"), queryPos = try inputs.tensor("query_pos")
        guard queryPos.shape == tgt.shape, pos.shape == memory.shape else {
            throw LoupeError("TransformerDecoderLayer: query_pos \(describe(shape: queryPos.shape)) must match tgt \(describe(shape: tgt.shape)) and pos \(describe(shape: pos.shape)) must match memory \(describe(shape: memory.shape))")
        }
        let queries = try tgt + queryPos
        let selfInputs = ModuleInputs([("query", .tensor(queries)), ("key", .tensor(queries)), ("value", .tensor(tgt))])
        var x = try context.apply(norm1, try tgt + (try context.apply(selfAttention, inputs: selfInputs).tensor("self_attn output")))
        var cross: [(name: String, value: ModuleValue)] = [("query", .tensor(try x + queryPos)), ("key", .tensor(try memory + pos)),
                                                           ("value", .tensor(memory))]
        if let mask = inputs["padding_mask"] { cross.append(("padding_mask", mask)) }
        x = try context.apply(norm2, try x + (try context.apply(crossAttention, inputs: ModuleInputs(cross)).tensor("multihead_attn output")))
        let hidden = try context.apply(linear1, x).relu()
        x = try context.apply(norm3, try x + (try context.apply(linear2, hidden)))
        return .tensor(x)
    }
}

/// DETR's `TransformerEncoder` (`transformer.encoder`): `layers.0` ... run in order, no final norm.
/// Inputs `src`, `pos`, optional `padding_mask` as the layers'; output the memory `[B, N, dim]`.
public final class DETREncoder: Module {
    public let layers: Sequential

    public init(layers: [DETREncoderLayer]) {
        self.layers = Sequential(layers)
        super.init()
        registerModule("layers", self.layers)
    }

    public override var typeName: String { "TransformerEncoder" }

    public override var inputSignature: [InputParameter] {
        [InputParameter("src"), InputParameter("pos"), InputParameter("padding_mask", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        var x = try inputs.tensor("src")
        for (index, layer) in layers.layers.enumerated() {
            var given = inputs
            given.set(0, .tensor(x))
            x = try context.apply(layer, named: "layers.\(index)", inputs: given).tensor("encoder layer \(index) output")
        }
        return .tensor(x)
    }
}

/// DETR's `TransformerDecoder` (`transformer.decoder`, `return_intermediate=True`): `layers.0` ...
/// run in order, each layer's output normalised by the shared `norm`. Inputs as the layers';
/// output `[layers, B, Q, dim]`, every layer's normalised output (the last is DETR's prediction
/// input, the others feed the auxiliary outputs). Sites `layers.i.normed` hold each.
public final class DETRDecoder: Module {
    public let layers: Sequential
    public let norm: LayerNorm

    public init(layers: [DETRDecoderLayer], dim: Int) throws {
        self.layers = Sequential(layers)
        norm = try LayerNorm(dim)
        super.init()
        registerModule("layers", self.layers)
        registerModule("norm", norm)
    }

    public override var typeName: String { "TransformerDecoder" }

    public override var inputSignature: [InputParameter] {
        [InputParameter("tgt"), InputParameter("memory"), InputParameter("pos"), InputParameter("query_pos"),
         InputParameter("padding_mask", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        var x = try inputs.tensor("tgt")
        var normed: [Tensor] = []
        for (index, layer) in layers.layers.enumerated() {
            var given = inputs
            given.set(0, .tensor(x))
            x = try context.apply(layer, named: "layers.\(index)", inputs: given).tensor("decoder layer \(index) output")
            let y = try NN.layerNorm(x, shape: norm.weight.shape, weight: norm.weight.value, bias: norm.bias.value, eps: norm.eps)
            normed.append(try context.site("layers.\(index).normed", y))
        }
        return .tensor(try Tensor.stack(normed, axis: 0))
    }
}

/// DETR's `Transformer` (`transformer`): inputs `src [B, dim, h, w]` (the projected backbone
/// features), `pos [B, dim, h, w]`, `query_embed [Q, dim]` and an optional padding `mask [B, h, w]`;
/// output the record `{hs [decoder layers, B, Q, dim], memory [B, dim, h, w]}`. The decoder
/// starts from zeros with the query embeddings as its queries' position embedding.
public final class DETRTransformer: Module {
    public let encoder: DETREncoder
    public let decoder: DETRDecoder
    public let dim: Int

    public init(_ config: DETRConfig) throws {
        encoder = DETREncoder(layers: try (0..<config.encoderLayers).map { _ in
            try DETREncoderLayer(dim: config.dim, heads: config.heads, ffn: config.ffn)
        })
        decoder = try DETRDecoder(layers: try (0..<config.decoderLayers).map { _ in
            try DETRDecoderLayer(dim: config.dim, heads: config.heads, ffn: config.ffn)
        }, dim: config.dim)
        dim = config.dim
        super.init()
        registerModule("encoder", encoder)
        registerModule("decoder", decoder)
    }

    public override var typeName: String { "Transformer" }

    public override var inputSignature: [InputParameter] {
        [InputParameter("src"), InputParameter("pos"), InputParameter("query_embed"), InputParameter("mask", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let src = try inputs.tensor("src"), pos = try inputs.tensor("pos"), queryEmbed = try inputs.tensor("query_embed")
        guard src.rank == 4, src.shape[1] == dim, pos.shape == src.shape, queryEmbed.rank == 2, queryEmbed.shape[1] == dim else {
            throw LoupeError("Transformer: src \(describe(shape: src.shape)), pos \(describe(shape: pos.shape)) and query_embed \(describe(shape: queryEmbed.shape)) are not [B, \(dim), h, w], the same, and [Q, \(dim)]")
        }
        let b = src.shape[0], h = src.shape[2], w = src.shape[3], q = queryEmbed.shape[0]
        func sequence(_ t: Tensor) throws -> Tensor { try t.reshaped([b, dim, h * w]).transposed(1, 2).contiguous() }
        let tokens = try sequence(src), positions = try sequence(pos)
        var padding: ModuleValue?
        if let mask = try inputs.optionalTensor("mask") {
            guard mask.shape == [b, h, w] else {
                throw LoupeError("Transformer: mask \(describe(shape: mask.shape)) is not [\(b), \(h), \(w)]")
            }
            padding = .tensor(try mask.reshaped([b, h * w]))
        }
        var encoderInputs: [(name: String, value: ModuleValue)] = [("src", .tensor(tokens)), ("pos", .tensor(positions))]
        if let padding { encoderInputs.append(("padding_mask", padding)) }
        let memory = try context.apply(encoder, inputs: ModuleInputs(encoderInputs)).tensor("encoder output")
        let queryPos = try queryEmbed.reshaped([1, q, dim]).expanded(to: [b, q, dim])
        var decoderInputs: [(name: String, value: ModuleValue)] = [("tgt", .tensor(try Tensor.zeros([b, q, dim]))), ("memory", .tensor(memory)),
                                                                  ("pos", .tensor(positions)), ("query_pos", .tensor(queryPos))]
        if let padding { decoderInputs.append(("padding_mask", padding)) }
        let hs = try context.apply(decoder, inputs: ModuleInputs(decoderInputs)).tensor("decoder output")
        let memoryMap = try memory.transposed(1, 2).reshaped([b, dim, h, w])
        return .record([("hs", .tensor(hs)), ("memory", .tensor(memoryMap))])
    }
}
