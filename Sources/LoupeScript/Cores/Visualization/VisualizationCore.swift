import Foundation

/// The visualization core: feature-visualization objectives and `visualize`, the sanity check
/// of visualizations against natural images, and the two deceptions (fooling circuits and
/// silent units). Declares the `objective` value type.
struct VisualizationCore: ScriptCore {
    let name = "visualization"
    var builtins: [Builtin] { VisualizationBindings.all + DeceptionBindings.all }

    var valueTypes: [ValueType] {
        [ValueType("objective", "A feature-visualization objective (channel, neuron, logit, direction, diversity, and sums and multiples of them).")]
    }
}
