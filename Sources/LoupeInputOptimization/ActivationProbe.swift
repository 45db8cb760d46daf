import LoupeModels
import LoupeTensor

/// The activations of `model` at `paths` for `input`, stopping the forward pass once all are
/// seen. Differentiable with respect to `input`. Throws when a path does not exist or is a
/// pattern (`*`).
public func activations(_ model: Module, _ input: Tensor, at paths: [String]) throws -> [String: Tensor] {
    struct Stop: Error {}
    if let pattern = paths.first(where: { $0.contains("*") }) {
        throw LoupeError("activation: layer '\(pattern)' must be one activation path, not a pattern")
    }
    let wanted = Set(paths)
    guard !wanted.isEmpty else { return [:] }
    var captured: [String: Tensor] = [:]
    let record = Patch.transformWithPath { path, value in
        captured[path] = value
        if captured.count == wanted.count { throw Stop() }
        return value
    }
    do {
        _ = try trace(model, input, patches: Dictionary(uniqueKeysWithValues: wanted.map { ($0, record) }))
    } catch is Stop {}
    if captured.count < wanted.count {
        // Not visited: let `capture` produce its error naming similar paths.
        _ = try GradMode.withoutGrad { try capture(model, input, Array(wanted.subtracting(captured.keys)).sorted()) }
        throw LoupeError("activation: no activation at paths \(wanted.subtracting(captured.keys).sorted())")
    }
    return captured
}

/// The activation of `model` at `path` for `input`, stopping the forward pass there.
/// Differentiable with respect to `input`. Throws when the path does not exist.
public func activation(_ model: Module, _ input: Tensor, at path: String) throws -> Tensor {
    let found = try activations(model, input, at: [path])
    guard let value = found[path] else { throw LoupeError("activation: no activation at path '\(path)'") }
    return value
}
