import Foundation
import LoupeInversion
import LoupeModels

/// The inversion core: optimisation-based `invert`, inverse chains, image metrics, colour
/// perturbation and the layer and colour reports. Declares the `inverse` value type
/// (`InverseHandle`) and the `vit-inverse` and `detr-inverse` architectures, so `model(path)` loads saved chains too.
struct InversionCore: ScriptCore {
    let name = "inversion"
    var builtins: [Builtin] { InversionBindings.all }

    var valueTypes: [ValueType] {
        [ValueType("inverse", "An inverse chain that reconstructs images from a ViT's or a DETR's activations.")]
    }

    var architectures: [any Architecture.Type] { InverseChain.architectures }
}
