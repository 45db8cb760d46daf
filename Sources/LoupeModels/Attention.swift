import LoupeTensor

/// timm `Attention`: fused `qkv` linear, multi-head softmax attention, `proj` linear. Sites:
/// `q`, `k`, `v` `[B, heads, N, headDim]`, `probs` `[B, heads, N, N]`, `heads`
/// (per-head outputs `[B, heads, N, headDim]`).
public final class Attention: Module {
    public let qkv: Linear
    public let proj: Linear
    public let heads: Int

    public init(dim: Int, heads: Int) throws {
        qkv = try Linear(dim, dim * 3)
        proj = try Linear(dim, dim)
        self.heads = heads
        super.init()
        registerModule("qkv", qkv)
        registerModule("proj", proj)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 3 else {
            throw LoupeError("Attention: input \(describe(shape: input.shape)) is not [B, N, dim]")
        }
        let b = input.shape[0], n = input.shape[1], c = input.shape[2]
        let headDim = c / heads
        let fused = try context.apply(qkv, input)
        let parts = try fused.reshaped([b, n, 3, heads, headDim]).permuted([2, 0, 3, 1, 4])
        func part(_ i: Int) throws -> Tensor { try parts.sliced(axis: 0, start: i, end: i + 1).reshaped([b, heads, n, headDim]) }
        let q = try context.site("q", try part(0))
        let k = try context.site("k", try part(1))
        let v = try context.site("v", try part(2))
        let scale = 1 / Float(headDim).squareRoot()
        let scores = try (q * scale).matmul(k.transposed())
        let probs = try context.site("probs", try NN.softmax(scores, axis: -1))
        let perHead = try context.site("heads", try probs.matmul(v))
        let merged = try perHead.transposed(1, 2).reshaped([b, n, c])
        return try context.apply(proj, merged)
    }
}
