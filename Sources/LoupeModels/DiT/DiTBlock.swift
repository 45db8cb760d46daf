import LoupeTensor

/// DiT's `DiTBlock` (adaLN-Zero): `adaLN_modulation` (SiLU, Linear to `6 D`) of the
/// conditioning gives shift, scale and gate for the attention and the MLP;
/// `x = x + gate_msa * attn(modulate(norm1(x), shift_msa, scale_msa))`, then the same with
/// `norm2` and `mlp`. Inputs `(x [N, T, D], c [N, D])`.
///
/// Sites besides each child's input and output: `blocks.i.attn.input` is the modulated `norm1`
/// output the attention sees and `blocks.i.attn` its output before the gate (likewise
/// `blocks.i.mlp.input` and `blocks.i.mlp`), so a module replacing `attn` or `mlp` maps
/// `[N, T, D]` to `[N, T, D]`; `resid_attn` is the residual stream after the gated attention.
public final class DiTBlock: Module {
    public let hiddenSize: Int
    public let norm1: NonAffineLayerNorm
    public let attn: Attention
    public let norm2: NonAffineLayerNorm
    public let mlp: MLP
    public let adaLNModulation: Sequential

    public init(hiddenSize: Int, heads: Int, mlpHidden: Int) throws {
        self.hiddenSize = hiddenSize
        norm1 = NonAffineLayerNorm(hiddenSize, eps: 1e-6)
        attn = try Attention(dim: hiddenSize, heads: heads)
        norm2 = NonAffineLayerNorm(hiddenSize, eps: 1e-6)
        mlp = try MLP(dim: hiddenSize, hidden: mlpHidden, approximateGELU: true)
        adaLNModulation = Sequential([SiLU(), try Linear(hiddenSize, 6 * hiddenSize)])
        super.init()
        registerModule("norm1", norm1)
        registerModule("attn", attn)
        registerModule("norm2", norm2)
        registerModule("mlp", mlp)
        registerModule("adaLN_modulation", adaLNModulation)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("c")] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x"), c = try inputs.tensor("c")
        let modulation = try context.apply(adaLNModulation, c)
        let parts = try DiTBlock.chunks(modulation, count: 6, width: hiddenSize, of: "adaLN_modulation")
        let attended = try context.apply(attn, try DiTOps.modulate(try context.apply(norm1, x), shift: parts[0], scale: parts[1]))
        let afterAttention = try context.site("resid_attn", try DiTOps.gatedResidual(x, gate: parts[2], attended))
        let transformed = try context.apply(mlp, try DiTOps.modulate(try context.apply(norm2, afterAttention),
                                                                     shift: parts[3], scale: parts[4]))
        return .tensor(try DiTOps.gatedResidual(afterAttention, gate: parts[5], transformed))
    }

    /// `value.chunk(count, dim=1)`: `count` views `[N, width]` of a `[N, count * width]` tensor.
    static func chunks(_ value: Tensor, count: Int, width: Int, of name: String) throws -> [Tensor] {
        guard value.rank == 2, value.shape[1] == count * width else {
            throw LoupeError("DiT: \(name) gave \(describe(shape: value.shape)), expected [N, \(count * width)]")
        }
        return try (0..<count).map { try value.sliced(axis: 1, start: $0 * width, end: ($0 + 1) * width) }
    }
}

/// DiT's `FinalLayer`: `linear(modulate(norm_final(x), shift, scale))` with shift and scale from
/// `adaLN_modulation` (SiLU, Linear to `2 D`) of the conditioning. Inputs `(x, c)`, output
/// `[N, T, p * p * out_channels]`.
public final class DiTFinalLayer: Module {
    public let hiddenSize: Int
    public let normFinal: NonAffineLayerNorm
    public let linear: Linear
    public let adaLNModulation: Sequential
    public override var typeName: String { "FinalLayer" }

    public init(hiddenSize: Int, patchSize: Int, outChannels: Int) throws {
        self.hiddenSize = hiddenSize
        normFinal = NonAffineLayerNorm(hiddenSize, eps: 1e-6)
        linear = try Linear(hiddenSize, patchSize * patchSize * outChannels)
        adaLNModulation = Sequential([SiLU(), try Linear(hiddenSize, 2 * hiddenSize)])
        super.init()
        registerModule("norm_final", normFinal)
        registerModule("linear", linear)
        registerModule("adaLN_modulation", adaLNModulation)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("c")] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x"), c = try inputs.tensor("c")
        let parts = try DiTBlock.chunks(try context.apply(adaLNModulation, c), count: 2, width: hiddenSize, of: "final_layer.adaLN_modulation")
        let modulated = try DiTOps.modulate(try context.apply(normFinal, x), shift: parts[0], scale: parts[1])
        return .tensor(try context.apply(linear, modulated))
    }
}

/// DiT's `blocks` (a `ModuleList`): blocks `0`, `1`, ... run in order on `(x, c)`, except that
/// the blocks of a parallel group (`DiTConfig.parallelGroups`) all get the same `x` and `c` and
/// the group gives `x + sum_i (block_i(x, c) - x)`. Each block's output is its site `blocks.i`.
public final class DiTBlocks: Module {
    public private(set) var layers: [Module] = []
    /// The runs of block indices (`DiTConfig.stages`).
    public let stages: [[Int]]
    public override var typeName: String { "ModuleList" }

    public init(_ blocks: [Module], stages: [[Int]]) {
        self.stages = stages
        super.init()
        for block in blocks {
            registerModule(String(layers.count), block)
            layers.append(block)
        }
    }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("c")] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        var x = try inputs.tensor("x")
        let c = try inputs.tensor("c")
        for stage in stages {
            let outputs = try stage.map { index in
                let output = try context.apply(layers[index], named: String(index), inputs: ModuleInputs([("x", .tensor(x)), ("c", .tensor(c))]))
                return try output.tensor("DiT block \(index)'s output")
            }
            if outputs.count == 1 {
                x = outputs[0]
            } else {
                var sum = x
                for output in outputs { sum = try sum + (output - x) }
                x = sum
            }
        }
        return .tensor(x)
    }
}
