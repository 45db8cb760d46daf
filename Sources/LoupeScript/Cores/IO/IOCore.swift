import Foundation

/// The IO core: images, safetensors, data sets, grids, `show` and `plot`.
struct IOCore: ScriptCore {
    let name = "io"
    var builtins: [Builtin] { IOBindings.all + PlotBindings.all }
}
