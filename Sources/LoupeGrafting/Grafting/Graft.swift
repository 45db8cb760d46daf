import LoupeModels
import LoupeTensor

/// Grafting's edit: a copy of `model` with the modules at `paths` replaced by new operators
/// (`make` receives each path and the module it replaces, and returns the operator, typically
/// freshly initialised with the replaced module's width). The original model is untouched,
/// weights included, so the graft can be distilled against it and finetuned on its own.
public func graft(_ model: Module, paths: [String], architectures: ArchitectureCatalog,
                  make: (_ path: String, _ replaced: Module) throws -> Module) throws -> ReplacedModel {
    guard !paths.isEmpty else { throw LoupeError("graft: no blocks to graft") }
    guard Set(paths).count == paths.count else { throw LoupeError("graft: a path is listed twice") }
    var grafted = try copyModel(model, architectures: architectures)
    for path in paths {
        guard let replaced = grafted.module(at: path) else {
            let known = grafted.namedModules().map(\.path).filter { !$0.isEmpty }
            throw LoupeError("graft: no module at '\(path)' (closest: \(similarPaths(to: path, among: known).joined(separator: ", ")))")
        }
        grafted = try replace(grafted, at: path, with: try make(path, replaced))
    }
    guard let result = grafted as? ReplacedModel else { throw LoupeError("graft: the edit did not produce a grafted model") }
    return result
}
