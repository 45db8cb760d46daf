import Foundation
import LoupeModels
import LoupeTensor

/// Reading and changing a model's internals by path: `capture`, `patch`, `paths` and
/// `activation_grads`. Paths are module outputs (`blocks.3`, `layer2.0.conv1`), module inputs
/// (`blocks.3.input`), named sites (ViT: `tokens`, `pool`, `blocks.3.attn.probs`,
/// `blocks.3.resid_attn`, `blocks.3.resid_mlp`) and the root's `input` and `output`; in a pattern
/// `*` matches one segment (not an `input` site: `blocks.*` is the block outputs) and `**` any
/// number, inputs included.
enum InterventionBindings {
    static let all: [Builtin] = [
        Builtin("capture(m, x, paths)", methodOf: "model",
                """
                Runs m on x once and returns a record of activations by path (paths: one string or a list; patterns \
                with * and ** allowed, e.g. "blocks.*.resid_mlp"; * skips input sites, so "blocks.*" is the block outputs \
                and "blocks.*.input" their inputs), in the order the forward pass reaches them. x is an \
                image [C, H, W] (a batch axis of 1 is added and kept in every activation) or a batch [B, C, H, W]; \
                for a model with several inputs a record of them, {x: x, c: c}, each a site "input.c" (in a block, \
                "blocks.0.input.c"), and a record output's fields are sites too ("output.pred_boxes"). \
                Differentiable: inside grad(f, x), f may return a function of captured activations. paths(m, x) lists \
                every path; an unknown path is an error listing similar ones.
                """) { a in
            let handle = try ModelBindings.model(a, "m")
            let inputs = try handle.inputs(a["x"], op: "capture")
            let patterns = try paths(a, "paths")
            let context = ForwardContext(capture: patterns)
            _ = try context.run(handle.module, inputs: inputs)
            try context.checkAllPathsUsed(op: "capture")
            return .record(ordered(context))
        },
        Builtin("patch(m, x, patches)", methodOf: "model",
                """
                Runs m on x (as for capture) with activations replaced and returns the output. patches is a record path -> tensor \
                (broadcast to the activation's shape; a number works too) or function: fn(a) gets the original \
                activation, fn(a, path) also its path (useful with patterns such as "blocks.*.attn"), and must return \
                a tensor of the same shape. Differentiable through the replacement and the function, so \
                grad(fn(a) patch(m, x, {"blocks.1": a})[0, 2] end, acts["blocks.1"]) is d logit / d activation.
                """) { a in
            let handle = try ModelBindings.model(a, "m")
            let inputs = try handle.inputs(a["x"], op: "patch")
            let context = ForwardContext(patches: try patches(a, "patches"))
            let output = try context.run(handle.module, inputs: inputs)
            try context.checkAllPathsUsed(op: "patch")
            return ModelHandle.value(of: output)
        },
        Builtin("paths(m, x)", methodOf: "model",
                "Every activation path of m on x ([C, H, W] or [B, C, H, W], or a record of inputs as for capture) in the order the forward pass reaches them: what capture and patch accept.") { a in
            let handle = try ModelBindings.model(a, "m")
            let inputs = try handle.inputs(a["x"], op: "paths")
            let visited = try handle.inEvaluationMode { try activationPaths(handle.module, inputs: inputs) }
            var seen = Set<String>()
            return .list(ListBox(visited.filter { seen.insert($0).inserted }.map { .string($0) }))
        },
        Builtin("activation_grads(m, x, paths, f)", methodOf: "model",
                """
                Gradients of a scalar with respect to activations: runs m on x (an input, or a record of inputs) capturing paths (as capture), calls \
                f(output) - or f(output, acts) when f takes two parameters, acts being the record of captured \
                activations - which must return a one-element tensor, and returns a record {value, output, acts, \
                grads}: f's value (a number), the output, the activations and d value / d activation by path (same \
                shapes). Example: activation_grads(m, img, "blocks.*.resid_mlp", fn(out) out[0, 3] end).grads
                """) { a in
            let handle = try ModelBindings.model(a, "m")
            let inputs = try handle.inputs(a["x"], op: "activation_grads")
            let patterns = try paths(a, "paths")
            let f = try a.callable("f")
            let interpreter = a.interpreter
            return try GradMode.withGrad {
                let context = ForwardContext(capture: patterns, differentiable: true)
                let output = try context.run(handle.module, inputs: inputs)
                try context.checkAllPathsUsed(op: "activation_grads")
                let acts = ordered(context)
                let outputValue = ModelHandle.value(of: output)
                let arguments: [Value] = arity(f) >= 2 ? [outputValue, .record(acts)] : [outputValue]
                let result = try interpreter.call(f, arguments, at: interpreter.builtinCallPos)
                guard case .tensor(let y) = result else {
                    throw LoupeError("activation_grads: f must return a one-element tensor, got \(result.typeName)")
                }
                guard y.count == 1 else {
                    throw LoupeError("activation_grads: f must return a one-element tensor, got shape \(describe(shape: y.shape)) (use sum, mean or an index)")
                }
                let tensors = acts.keys.compactMap { key -> Tensor? in
                    if case .tensor(let t) = acts[key]! { return t }
                    return nil
                }
                let grads = y.requiresGrad ? try Autograd.gradients(of: y, wrt: tensors) : try tensors.map { try Tensor.zeros($0.shape) }
                return .record(RecordBox([
                    ("value", .number(Double(try y.item()))),
                    ("output", ModelHandle.value(of: output.detached())),
                    ("acts", .record(RecordBox(zip(acts.keys, tensors).map { ($0, .tensor($1.detached())) }))),
                    ("grads", .record(RecordBox(zip(acts.keys, grads).map { ($0, .tensor($1)) }))),
                ]))
            }
        },
    ]

    /// The path argument: one string or a list of strings.
    static func paths(_ a: Arguments, _ name: String) throws -> [String] {
        switch a[name] {
        case .string(let s): return [s]
        case .list(let l):
            guard !l.items.isEmpty else { throw a.error(name, "\(a.builtin.name): argument 'paths' is an empty list") }
            return try l.items.map {
                guard case .string(let s) = $0 else {
                    throw a.error(name, "\(a.builtin.name): argument 'paths' must be strings, got an item of type \($0.typeName)")
                }
                return s
            }
        default: throw a.typeError(name, "a path string or a list of them")
        }
    }

    /// Captured activations as a record in the order the forward pass reached them.
    static func ordered(_ context: ForwardContext) -> RecordBox {
        let record = RecordBox()
        for path in context.visitedPaths where record[path] == nil {
            if let t = context.activations[path] { record[path] = .tensor(t) }
        }
        return record
    }

    /// The number of parameters a function value takes.
    static func arity(_ f: Value) -> Int {
        switch f {
        case .function(let closure): return closure.decl.params.count
        case .builtin(let b): return b.params.count
        case .boundMethod(let b, _): return b.params.count - 1
        default: return 0
        }
    }

    /// The patches argument: a record path -> tensor, number or function.
    static func patches(_ a: Arguments, _ name: String) throws -> [String: Patch] {
        let record = try a.record(name)
        guard record.count > 0 else { throw a.error(name, "patch: argument 'patches' is an empty record") }
        let interpreter = a.interpreter
        let position = interpreter.builtinCallPos
        var result: [String: Patch] = [:]
        for path in record.keys {
            switch record[path]! {
            case .tensor(let t): result[path] = .tensor(t)
            case .number(let n): result[path] = .tensor(Tensor(Float(n)))
            case let f where f.typeName == "function":
                interpreter.keepAlive(f)
                let withPath = arity(f) >= 2
                result[path] = .transformWithPath { site, activation in
                    let arguments: [Value] = withPath ? [.tensor(activation), .string(site)] : [.tensor(activation)]
                    let value = try interpreter.call(f, arguments, at: position)
                    switch value {
                    case .tensor(let t): return t
                    case .number(let n): return try Tensor(Float(n)).expanded(to: activation.shape)
                    default:
                        throw LoupeError("patch: the function for '\(site)' returned \(value.typeName), expected a tensor of shape \(describe(shape: activation.shape))")
                    }
                }
            case let other:
                throw a.error(name, "patch: the value for '\(path)' must be a tensor, number or function, got \(other.typeName)")
            }
        }
        return result
    }
}
