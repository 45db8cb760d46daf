import Foundation

/// The IO core: images, safetensors, data sets, grids, `show`, `plot` and `draw_boxes`.
struct IOCore: ScriptCore {
    let name = "io"
    var builtins: [Builtin] { IOBindings.all + PlotBindings.all + DrawBindings.all }
}
