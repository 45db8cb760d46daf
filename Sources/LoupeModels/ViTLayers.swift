import LoupeTensor

/// timm `PatchEmbed`: a `proj` convolution with kernel and stride `patchSize`, flattened to
/// tokens `[B, N, dim]`.
public final class PatchEmbed: Module {
    public let proj: Conv2d
    public let imageSize: Int
    public let channels: Int

    public init(imageSize: Int, patchSize: Int, channels: Int, dim: Int) throws {
        proj = try Conv2d(channels, dim, kernel: patchSize, stride: patchSize)
        self.imageSize = imageSize
        self.channels = channels
        super.init()
        registerModule("proj", proj)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == channels, input.shape[2] == imageSize, input.shape[3] == imageSize else {
            throw LoupeError("ViT: input \(describe(shape: input.shape)) does not match the model's images [N, \(channels), \(imageSize), \(imageSize)]")
        }
        let x = try context.apply(proj, input)
        return try x.reshaped([x.shape[0], x.shape[1], -1]).transposed(1, 2)
    }
}

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

/// timm `Mlp`: `fc1`, exact GELU (`act`), `fc2`.
public final class MLP: Module {
    public let fc1: Linear
    public let act: GELU
    public let fc2: Linear

    public init(dim: Int, hidden: Int) throws {
        fc1 = try Linear(dim, hidden)
        act = GELU()
        fc2 = try Linear(hidden, dim)
        super.init()
        registerModule("fc1", fc1)
        registerModule("act", act)
        registerModule("fc2", fc2)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try context.apply(fc2, try context.apply(act, try context.apply(fc1, input)))
    }
}

/// timm `LayerScale`: `x * gamma` per channel.
public final class LayerScale: Module {
    public let gamma: Parameter

    public init(dim: Int, initialValue: Float) throws {
        gamma = Parameter(try Tensor.full([dim], initialValue))
        super.init()
        registerParameter("gamma", gamma)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try input * gamma.value
    }
}

/// timm `Block`: pre-norm attention and MLP sub-layers with optional LayerScale. Sites:
/// `resid_attn` (residual stream after attention) and `resid_mlp` (after the MLP = output).
public final class ViTBlock: Module {
    public let norm1: LayerNorm
    public let attn: Attention
    public let ls1: LayerScale?
    public let norm2: LayerNorm
    public let mlp: MLP
    public let ls2: LayerScale?

    public init(config: ViTConfig) throws {
        norm1 = try LayerNorm(config.dim, eps: config.eps)
        attn = try Attention(dim: config.dim, heads: config.heads)
        ls1 = try config.layerScale.map { try LayerScale(dim: config.dim, initialValue: $0) }
        norm2 = try LayerNorm(config.dim, eps: config.eps)
        mlp = try MLP(dim: config.dim, hidden: config.hiddenDim)
        ls2 = try config.layerScale.map { try LayerScale(dim: config.dim, initialValue: $0) }
        super.init()
        registerModule("norm1", norm1)
        registerModule("attn", attn)
        if let ls1 { registerModule("ls1", ls1) }
        registerModule("norm2", norm2)
        registerModule("mlp", mlp)
        if let ls2 { registerModule("ls2", ls2) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var a = try context.apply(attn, try context.apply(norm1, input))
        if let ls1 { a = try context.apply(ls1, a) }
        let afterAttention = try context.site("resid_attn", try input + a)
        var m = try context.apply(mlp, try context.apply(norm2, afterAttention))
        if let ls2 { m = try context.apply(ls2, m) }
        return try context.site("resid_mlp", try afterAttention + m)
    }
}
