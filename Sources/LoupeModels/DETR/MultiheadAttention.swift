import LoupeTensor

/// torch's `nn.MultiheadAttention` (as DETR uses it, batch-first here): packed
/// `in_proj_weight [3E, E]` and `in_proj_bias [3E]` for the query, key and value projections, and
/// `out_proj`. Inputs `query [B, Lq, E]`, `key [B, Lk, E]`, `value [B, Lk, E]` and an optional
/// `padding_mask [B, Lk]` (nonzero keys are ignored, torch's `key_padding_mask`). Sites: `q`, `k`,
/// `v` `[B, heads, L, E / heads]`, `probs` `[B, heads, Lq, Lk]` (torch returns their mean over
/// heads), `heads` (per-head outputs).
public final class MultiheadAttention: Module {
    public let inProjWeight: Parameter
    public let inProjBias: Parameter
    public let outProj: Linear
    public let dim: Int
    public let heads: Int

    public init(dim: Int, heads: Int) throws {
        guard heads > 0, dim % heads == 0 else {
            throw LoupeError("MultiheadAttention: dim \(dim) is not divisible by heads \(heads)")
        }
        inProjWeight = Parameter(try Tensor.zeros([3 * dim, dim]))
        inProjBias = Parameter(try Tensor.zeros([3 * dim]))
        outProj = try Linear(dim, dim)
        self.dim = dim
        self.heads = heads
        super.init()
        registerParameter("in_proj_weight", inProjWeight)
        registerParameter("in_proj_bias", inProjBias)
        registerModule("out_proj", outProj)
    }

    public override var inputSignature: [InputParameter] {
        [InputParameter("query"), InputParameter("key"), InputParameter("value"), InputParameter("padding_mask", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let query = try inputs.tensor("query"), key = try inputs.tensor("key"), value = try inputs.tensor("value")
        guard query.rank == 3, key.rank == 3, value.rank == 3, query.shape[2] == dim, key.shape[2] == dim, value.shape[2] == dim,
              key.shape[0] == query.shape[0], value.shape[0] == query.shape[0], key.shape[1] == value.shape[1] else {
            throw LoupeError("MultiheadAttention: query \(describe(shape: query.shape)), key \(describe(shape: key.shape)), value \(describe(shape: value.shape)) are not [B, Lq, \(dim)], [B, Lk, \(dim)], [B, Lk, \(dim)]")
        }
        let b = query.shape[0], lq = query.shape[1], lk = key.shape[1], headDim = dim / heads
        func project(_ x: Tensor, _ part: Int, _ length: Int) throws -> Tensor {
            let weight = try inProjWeight.value.sliced(axis: 0, start: part * dim, end: (part + 1) * dim)
            let bias = try inProjBias.value.sliced(axis: 0, start: part * dim, end: (part + 1) * dim)
            return try NN.linear(x, weight: weight, bias: bias).reshaped([b, length, heads, headDim]).permuted([0, 2, 1, 3])
        }
        let q = try context.site("q", try project(query, 0, lq))
        let k = try context.site("k", try project(key, 1, lk))
        let v = try context.site("v", try project(value, 2, lk))
        var scores = try (q * (1 / Float(headDim).squareRoot())).matmul(k.transposed())
        if let padding = try inputs.optionalTensor("padding_mask") {
            guard padding.shape == [b, lk] else {
                throw LoupeError("MultiheadAttention: padding_mask \(describe(shape: padding.shape)) is not [B, Lk] = [\(b), \(lk)]")
            }
            scores = try scores + (try padding.detached().map { $0 != 0 ? -.infinity : 0 }.reshaped([b, 1, 1, lk]))
        }
        let probs = try context.site("probs", try NN.softmax(scores, axis: -1))
        let perHead = try context.site("heads", try probs.matmul(v))
        let merged = try perHead.transposed(1, 2).reshaped([b, lq, dim])
        return .tensor(try context.apply(outProj, merged))
    }
}
