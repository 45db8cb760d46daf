import Foundation
import LoupeGrafting
import LoupeModels
import LoupeTensor

/// The grafting paper's operators (LoupeGrafting) against the multi-head attention they replace,
/// forward only (no gradients), batch 1, width 1152 (DiT-XL/2), at 256, 1024 and 4096 tokens, to
/// show how each one's cost grows with the sequence length; PyTorch runs the grafting repo's own
/// modules (`grafting_operator_rows` in Scripts/bench_torch.py). Weights are each module's
/// reference initialisation, seed 1; input N(0, 1), seed 2.
/// - mha: timm `Attention` (16 heads, qkv bias), LoupeModels' `Attention`;
/// - hyena_x, hyena_y, hyena_se: in_proj 1152 -> 3456, short / inner causal convolutions (k = 4),
///   out_proj;
/// - swa: flash-attn MHA, 16 heads, window (4, 4) (PyTorch: timm's fused qkv and SDPA with a
///   boolean band mask, since the windowed flash kernel is CUDA-only);
/// - mamba2: d_state 64, headdim 16, expand 2 (144 heads; PyTorch: transformers' Mamba2Mixer torch
///   path, chunk 256);
/// - mlp_hyena_x: ratio 2, with l_max equal to the token count (its filter has one channel per token).
/// The 4096-token rows are left out of --quick.
enum GraftingWorkloads {
    static let width = 1152
    static let operators = ["mha", "hyena_x", "hyena_y", "hyena_se", "swa", "mamba2", "mlp_hyena_x"]

    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        for tokens in [256, 1024, 4096] where tokens < 4096 || !Timing.quick {
            for name in operators {
                let row = "graft \(name) fwd T\(tokens)"
                try add(row) {
                    let module = try make(name, tokens: tokens)
                    let x = try CoreWorkloads.random([1, tokens, width], seed: 2)
                    let seconds = try Timing.median { _ = try GradMode.withoutGrad { try module(x) } }
                    return BenchRow(name: row, unit: .ms, loupe: seconds * 1e3)
                }
            }
        }
    }

    /// The operator `name` at width 1152 with its reference initialisation.
    static func make(_ name: String, tokens: Int) throws -> Module {
        var g = RandomGenerator(seed: 1)
        switch name {
        case "mha":
            let attention = try Attention(dim: width, heads: 16)
            try attention.qkv.resetParameters(generator: &g)
            try attention.proj.resetParameters(generator: &g)
            return attention
        case "hyena_x": let m = try HyenaX(dim: width); try m.initialize(generator: &g); return m
        case "hyena_y": let m = try HyenaY(dim: width); try m.initialize(generator: &g); return m
        case "hyena_se": let m = try HyenaSE(dim: width); try m.initialize(generator: &g); return m
        case "swa": let m = try SlidingWindowAttention(dim: width, heads: 16); try m.initialize(generator: &g); return m
        case "mamba2": let m = try Mamba2(Mamba2.Config(dModel: width)); try m.initialize(generator: &g); return m
        case "mlp_hyena_x": let m = try MLPHyenaX(dim: width, tokens: tokens); try m.initialize(generator: &g); return m
        default: throw LoupeError("loupe-bench: no grafting operator '\(name)'")
        }
    }
}
