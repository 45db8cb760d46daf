import LoupeGrafting
import LoupeModels

/// The grafting core (Chandrasegaran et al., "Exploring Diffusion Transformer Designs via
/// Grafting"): DiT and the SD VAE, diffusion sampling and training, grafting new operators into
/// blocks, distilling and finetuning them, and depth restructuring.
struct GraftingCore: ScriptCore {
    let name = "grafting"
    var builtins: [Builtin] { GraftBindings.all + DiffusionBindings.all }
    var architectures: [any Architecture.Type] { GraftingArchitectures.operators }
}
