import Foundation
import LoupeTensor

/// Tensor core bindings. Each tensor op is one line: a signature, a doc, and a closure over the
/// bound arguments. Ops declared with `method` are also methods of tensors (`x.reshape(2, 3)`).
public enum TensorBindings {
    static func method(_ signature: String, _ doc: String, _ body: @escaping (inout Arguments) throws -> Tensor) -> Builtin {
        Builtin(signature, methodOf: "tensor", doc) { a in .tensor(try body(&a)) }
    }

    static func function(_ signature: String, _ doc: String, _ body: @escaping (inout Arguments) throws -> Tensor) -> Builtin {
        Builtin(signature, doc) { a in .tensor(try body(&a)) }
    }

    /// The most elements a creation builtin allocates (4 GiB of floats).
    nonisolated(unsafe) public static var maxElements = 1 << 30

    /// The shape argument `i`, validated: no negative sizes, at most `maxElements` elements.
    static func shape(_ a: Arguments, _ name: String) throws -> [Int] {
        let shape = try a.ints(name)
        let count = try Tensor.checkedCount(shape, op: a.builtin.name)
        guard count <= maxElements else {
            throw LoupeError("\(a.builtin.name): shape \(describe(shape: shape)) is too large (\(count) elements, limit \(maxElements))")
        }
        return shape
    }

    static func random(_ a: Arguments, _ draw: (inout RandomGenerator) -> Float) throws -> Tensor {
        let shape = try shape(a, "shape")
        let count = shape.reduce(1, *)
        let t = Tensor.uninitialized(shape)
        let p = t.storage.pointer
        for i in 0..<count { p[i] = draw(&a.interpreter.rng) }
        return t
    }

    static let all: [Builtin] = [
        function("tensor(data)", "A tensor from a number or a (nested, rectangular) list of numbers.") { a in try a.tensor("data").detached() },
        function("zeros(*shape)", "A tensor of zeros: zeros(2, 3) or zeros([2, 3]).") { a in try Tensor.zeros(try shape(a, "shape")) },
        function("ones(*shape)", "A tensor of ones: ones(2, 3) or ones([2, 3]).") { a in try Tensor.ones(try shape(a, "shape")) },
        function("full(shape, value)", "A tensor of the given shape (a list) filled with value.") { a in try Tensor.full(try shape(a, "shape"), Float(try a.number("value"))) },
        function("rand(*shape)", "Uniform random values in [0, 1) from the session generator (see seed).") { a in try random(a) { $0.nextUniform() } },
        function("randn(*shape)", "Standard normal random values from the session generator (see seed).") { a in try random(a) { $0.nextNormal() } },
        function("arange(start, stop: nil, step: 1)", "A rank-1 tensor of evenly spaced values: arange(n) is 0..<n, arange(a, b, step).") { a in
            var start = try a.number("start"), stop: Double
            if a.isNil("stop") { stop = start; start = 0 } else { stop = try a.number("stop") }
            let step = try a.number("step")
            guard step != 0, step.isFinite else { throw a.error("step", "arange: step must be non-zero, got \(Display.number(step))") }
            let steps = Swift.max(0, ((stop - start) / step).rounded(.up))
            guard steps.isFinite, steps <= Double(maxElements) else {
                throw LoupeError("arange: \(Display.number(steps)) values is too many (limit \(maxElements))")
            }
            let n = Int(steps)
            return Tensor((0..<n).map { Float(start + Double($0) * step) })
        },
        method("reshape(x, *shape)", "The same values in a new shape; one dimension may be -1. x.reshape(2, -1).") { a in try a.tensor("x").reshaped(try a.ints("shape")) },
        method("flatten(x)", "The values as a rank-1 tensor.") { a in try a.tensor("x").reshaped([-1]) },
        method("permute(x, *axes)", "A view with axes reordered: result axis i is input axis axes[i].") { a in try a.tensor("x").permuted(try a.ints("axes")) },
        method("transpose(x, first: -2, second: -1)", "A view with two axes swapped (default the last two).") { a in try a.tensor("x").transposed(try a.int("first"), try a.int("second")) },
        method("expand(x, *shape)", "A broadcast view of x with the given larger shape.") { a in try a.tensor("x").expanded(to: try a.ints("shape")) },
        method("matmul(a, b)", "Matrix product with NumPy semantics (same as a @ b).") { a in try a.tensor("a").matmul(try a.tensor("b")) },
        method("add(a, b)", "Elementwise a + b with broadcasting.") { a in try a.tensor("a") + a.tensor("b") },
        method("sub(a, b)", "Elementwise a - b with broadcasting.") { a in try a.tensor("a") - a.tensor("b") },
        method("mul(a, b)", "Elementwise a * b with broadcasting.") { a in try a.tensor("a") * a.tensor("b") },
        method("div(a, b)", "Elementwise a / b with broadcasting.") { a in try a.tensor("a") / a.tensor("b") },
        method("pow(a, b)", "Elementwise a ** b with broadcasting.") { a in try a.tensor("a").pow(try a.tensor("b")) },
        method("neg(x)", "Elementwise negation.") { a in try a.tensor("x").negated() },
        method("detach(x)", "The same values without gradient history.") { a in try a.tensor("x").detached() },
        method("contiguous(x)", "A contiguous copy of a view (same values).") { a in try a.tensor("x").contiguous() },
        method("requires_grad(x)", "A copy of x that records operations for gradients (a leaf).") { a in try a.tensor("x").detached().requiringGrad() },
        Builtin("item(x)", methodOf: "tensor", "The single value of a one-element tensor as a number.") { a in .number(float: try a.tensor("x").item()) },
        Builtin("tolist(x)", methodOf: "tensor", "The values of a tensor as (nested) lists of numbers.") { a in
            let t = try a.tensor("x")
            guard t.count <= 1_000_000 else { throw LoupeError("tolist: tensor of shape \(describe(shape: t.shape)) is too large for a list") }
            let s = t.scalars
            func build(_ depth: Int, _ offset: Int) -> Value {
                if depth == t.rank { return .number(float: s[offset]) }  // shortest float32 text
                let stride = t.shape[(depth + 1)...].reduce(1, *)
                return .list(ListBox((0..<t.shape[depth]).map { build(depth + 1, offset + $0 * stride) }))
            }
            return build(0, 0)
        },
        Builtin("stats(x)", methodOf: "tensor", "A record of a tensor's shape, mean, std, min, max and NaN/Inf counts (over finite values).") { a in
            let t = try a.tensor("x")
            let s = TensorExtras.stats(t)
            return .record(RecordBox([
                ("shape", .list(ListBox(t.shape.map { .number(Double($0)) }))),
                ("mean", .number(s.mean)), ("std", .number(s.std)),
                ("min", .number(Double(s.min))), ("max", .number(Double(s.max))),
                ("nan", .number(Double(s.nan))), ("inf", .number(Double(s.inf))),
            ]))
        },
        Builtin("grad(f, *inputs)", "Gradients of the scalar-valued function f at its tensor inputs: one tensor for one input, else a list.") { a in
            let (_, grads) = try valueAndGrad(a)
            return grads.count == 1 ? grads[0] : .list(ListBox(grads))
        },
        Builtin("value_and_grad(f, *inputs)", "Returns [f(inputs...), gradients] where gradients is as for grad.") { a in
            let (value, grads) = try valueAndGrad(a)
            return .list(ListBox([value, grads.count == 1 ? grads[0] : .list(ListBox(grads))]))
        },
    ]

    static func valueAndGrad(_ a: Arguments) throws -> (Value, [Value]) {
        let name = a.builtin.name
        let f = try a.callable("f")
        let inputs = try a.list("inputs").items
        var leaves: [Tensor] = []
        var callArgs: [Value] = []
        for v in inputs {
            switch v {
            case .tensor(let t):
                let leaf = t.detached().requiringGrad()
                leaves.append(leaf); callArgs.append(.tensor(leaf))
            case .number(let n):
                let leaf = Tensor(Float(n)).requiringGrad()
                leaves.append(leaf); callArgs.append(.tensor(leaf))
            default:
                throw a.error("inputs", "\(name): inputs must be tensors or numbers, got \(v.typeName)")
            }
        }
        guard !leaves.isEmpty else { throw LoupeError("\(name): needs at least one tensor input") }
        let out = try GradMode.withGrad { try a.interpreter.call(f, callArgs, at: a.interpreter.builtinCallPos) }
        guard case .tensor(let y) = out else {
            throw LoupeError("\(name): the function must return a one-element tensor, got \(out.typeName)")
        }
        guard y.count == 1 else {
            throw LoupeError("\(name): the function must return a one-element tensor, got shape \(describe(shape: y.shape)) (use sum or mean)")
        }
        guard y.requiresGrad else {
            throw LoupeError("\(name): the function's result does not depend on its inputs")
        }
        let grads = try Autograd.gradients(of: y, wrt: leaves)
        let value: Value = .tensor(y.detached())
        return (value, grads.enumerated().map { i, g in
            if case .number = inputs[i] { return .number(Double(g.scalars.first ?? 0)) }
            return .tensor(g)
        })
    }
}
