import Foundation
import LoupeModels

/// The models core: building, loading and saving models, listing and running them, persistent
/// edits, interventions by path (`capture`, `patch`, ...) and training. Declares the `model`
/// value type (`ModelHandle`) and LoupeModels' architectures, so `model(path)` rebuilds them.
struct ModelsCore: ScriptCore {
    let name = "models"

    var builtins: [Builtin] { ModelBindings.all + InterventionBindings.all + TrainBindings.all + DetectionBindings.all
        + DetectorTrainingBindings.all }

    var valueTypes: [ValueType] {
        [ValueType("model", "A module tree (a whole model or a submodule); call it on an input with m(x).")]
    }

    var architectures: [any Architecture.Type] { ArchitectureCatalog.loupeModelsArchitectures }
}
