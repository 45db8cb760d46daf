import Foundation
import LoupeTensor

/// The Diffusion Transformer (facebookresearch/DiT `models.py` `DiT`) with its parameter names
/// (`x_embedder.proj.weight`, `pos_embed`, `t_embedder.mlp.0.weight`,
/// `y_embedder.embedding_table.weight`, `blocks.3.attn.qkv.weight`, `blocks.3.mlp.fc1.weight`,
/// `blocks.3.adaLN_modulation.1.weight`, `final_layer.linear.weight`,
/// `final_layer.adaLN_modulation.1.weight`) and numerics in float32.
///
/// Inputs `(x [N, in_channels, input_size, input_size], t [N], y [N])`: the noisy latents, the
/// timesteps (any real values) and the class indices (`num_classes` is the null class when the
/// model has it; `t` and `y` may also be single numbers for the whole batch). Output
/// `[N, out_channels, input_size, input_size]` (noise prediction, and the variance channels
/// with `learn_sigma`). The forward draws no random numbers: label dropout is the training
/// loop's.
///
/// Sites besides every module's input and output: `x_embedder` (patch tokens `[N, T, D]`),
/// `tokens` (with `pos_embed`), `t_embedder`, `t_embedder.frequencies`, `y_embedder`, `c` (the
/// conditioning `t_embedder + y_embedder`), `blocks.i` (each block's output),
/// `blocks.i.adaLN_modulation` (`[N, 6 D]`), `blocks.i.attn.input` / `blocks.i.attn` (the
/// attention's modulated input and its output before the gate; likewise `mlp`),
/// `blocks.i.resid_attn`, `final_layer` (`[N, T, p * p * out_channels]`).
public final class DiT: Module, Architecture {
    public static let architectureName = "dit"

    public let config: DiTConfig
    public let xEmbedder: PatchEmbed
    public let tEmbedder: DiTTimestepEmbedder
    public let yEmbedder: DiTLabelEmbedder
    /// The fixed 2-D sin-cos position embedding `[1, T, D]` (a buffer, saved as `pos_embed`).
    public let positionEmbedding: Parameter
    public let blocks: DiTBlocks
    public let finalLayer: DiTFinalLayer
    public override var typeName: String { "DiT" }

    /// A model with zero weights and DiT's position embedding; load a checkpoint or call `initialize`.
    public init(_ config: DiTConfig) throws {
        try config.validate()
        self.config = config
        let d = config.hiddenSize
        xEmbedder = try PatchEmbed(imageSize: config.inputSize, patchSize: config.patchSize, channels: config.inChannels, dim: d)
        tEmbedder = try DiTTimestepEmbedder(hiddenSize: d)
        yEmbedder = try DiTLabelEmbedder(classes: config.numClasses, hiddenSize: d, hasNullClass: config.hasNullClass)
        positionEmbedding = Parameter(try DiTOps.sinCosPositionEmbedding(dim: d, gridSize: config.gridSize).reshaped([1, config.tokenCount, d]))
        blocks = DiTBlocks(try (0..<config.depth).map { _ in
            try DiTBlock(hiddenSize: d, heads: config.numHeads, mlpHidden: config.mlpHidden)
        }, stages: config.stages)
        finalLayer = try DiTFinalLayer(hiddenSize: d, patchSize: config.patchSize, outChannels: config.outChannels)
        super.init()
        registerModule("x_embedder", xEmbedder)
        registerModule("t_embedder", tEmbedder)
        registerModule("y_embedder", yEmbedder)
        registerBuffer("pos_embed", positionEmbedding)
        registerModule("blocks", blocks)
        registerModule("final_layer", finalLayer)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("t"), InputParameter("y")] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x")
        let size = config.inputSize
        guard x.rank == 4, x.shape[1] == config.inChannels, x.shape[2] == size, x.shape[3] == size else {
            throw LoupeError("DiT: x \(describe(shape: x.shape)) does not match the model's latents [N, \(config.inChannels), \(size), \(size)]")
        }
        let n = x.shape[0]
        let t = try Self.perSample(inputs, "t", count: n)
        let y = try Self.perSample(inputs, "y", count: n)
        let patches = try context.apply(xEmbedder, x)
        let tokens = try context.site("tokens", try patches + positionEmbedding.value)
        let timeEmbedding = try context.apply(tEmbedder, t)
        let labelEmbedding = try context.apply(yEmbedder, y)
        let c = try context.site("c", try timeEmbedding + labelEmbedding)
        let h = try context.apply(blocks, inputs: ModuleInputs([("x", .tensor(tokens)), ("c", .tensor(c))]))
        let out = try context.apply(finalLayer, inputs: ModuleInputs([("x", h), ("c", .tensor(c))]))
        return .tensor(try DiTOps.unpatchify(try out.tensor("final_layer's output"), patchSize: config.patchSize, channels: config.outChannels))
    }

    /// The input `name` as `[count]`: a tensor of that shape, or one number (a one-element
    /// tensor or a number) repeated.
    static func perSample(_ inputs: ModuleInputs, _ name: String, count: Int) throws -> Tensor {
        guard let value = inputs[name] else { throw LoupeError("DiT: missing input '\(name)'") }
        switch value {
        case .number(let number):
            return try Tensor.full([count], Float(number))
        case .tensor(let tensor) where tensor.shape == [count]:
            return tensor
        case .tensor(let tensor) where tensor.count == 1:
            return try Tensor.full([count], try tensor.item())
        default:
            throw LoupeError("DiT: \(name) must be [\(count)] (one per image of x) or a single number, got \(value.kind)")
        }
    }

    // MARK: Architecture

    public func configurationJSON() throws -> String {
        try encodeConfiguration(config)
    }

    public static func build(configurationJSON: String) throws -> Module {
        try DiT(try decodeConfiguration(DiTConfig.self, configurationJSON, architecture: architectureName))
    }
}
