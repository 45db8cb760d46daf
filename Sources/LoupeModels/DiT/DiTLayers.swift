import LoupeTensor

/// SiLU `x * sigmoid(x)` (torch `nn.SiLU`).
public final class SiLU: Module {
    public override init() { super.init() }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        input.silu()
    }
}

/// Layer normalization over the last axis without learned weight and bias (torch
/// `nn.LayerNorm(dim, elementwise_affine=False, eps)`): no parameters.
public final class NonAffineLayerNorm: Module {
    public let dim: Int
    public let eps: Float
    public override var typeName: String { "LayerNorm" }

    public init(_ dim: Int, eps: Float) {
        self.dim = dim
        self.eps = eps
        super.init()
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.layerNorm(input, shape: [dim], eps: eps)
    }
}

/// DiT's `TimestepEmbedder`: the sinusoidal features of the timesteps (site `frequencies`,
/// `[N, 256]`) through `mlp` (`mlp.0` Linear, `mlp.1` SiLU, `mlp.2` Linear). Input `t [N]`.
public final class DiTTimestepEmbedder: Module {
    public let mlp: Sequential
    public let frequencySize: Int
    public override var typeName: String { "TimestepEmbedder" }

    public init(hiddenSize: Int, frequencySize: Int = DiTConfig.frequencyEmbeddingSize) throws {
        self.frequencySize = frequencySize
        mlp = Sequential([try Linear(frequencySize, hiddenSize), SiLU(), try Linear(hiddenSize, hiddenSize)])
        super.init()
        registerModule("mlp", mlp)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("t")] }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let frequencies = try context.site("frequencies", try DiTOps.timestepEmbedding(input.detached(), dim: frequencySize))
        return try context.apply(mlp, frequencies)
    }
}

/// DiT's `LabelEmbedder`: rows of `embedding_table` `[classes (+1), D]` by class index. The
/// row `classes` is the null class (classifier-free guidance) when the table has it. Labels
/// are never dropped here: a training loop substitutes the null class itself.
public final class DiTLabelEmbedder: Module {
    public let embeddingTable: Embedding
    public let classes: Int
    public let hasNullClass: Bool
    public override var typeName: String { "LabelEmbedder" }

    public init(classes: Int, hiddenSize: Int, hasNullClass: Bool) throws {
        self.classes = classes
        self.hasNullClass = hasNullClass
        embeddingTable = try Embedding(count: classes + (hasNullClass ? 1 : 0), dim: hiddenSize)
        super.init()
        registerModule("embedding_table", embeddingTable)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("y")] }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 1 else {
            throw LoupeError("DiT: y must be class indices [N], got \(describe(shape: input.shape))")
        }
        let rows = classes + (hasNullClass ? 1 : 0)
        for value in input.scalars where !(value.rounded() == value && value >= 0 && value < Float(rows)) {
            let allowed = hasNullClass ? "0..<\(classes), or \(classes) for the null class" : "0..<\(classes) (this model has no null class: class_dropout_prob 0)"
            throw LoupeError("DiT: class index \(value) in y is not an integer in \(allowed)")
        }
        return try context.apply(embeddingTable, input.detached())
    }
}
