import Foundation
import LoupeTensor
import LoupeModels

/// Bindings of the tensor ops (elementwise, reductions, shape ops, indexing, linear algebra).
/// One line per op; all are also tensor methods.
enum OpsBindings {
    typealias Body = (inout Arguments) throws -> Tensor
    static func op(_ signature: String, _ doc: String, method: String? = nil, _ body: @escaping Body) -> Builtin {
        Builtin(signature, methodOf: "tensor", methodName: method, doc) { a in .tensor(try body(&a)) }
    }
    static func list(_ signature: String, _ doc: String, _ body: @escaping (inout Arguments) throws -> [Tensor]) -> Builtin {
        Builtin(signature, methodOf: "tensor", doc) { a in .list(ListBox(try body(&a).map { .tensor($0) })) }
    }

    static let all: [Builtin] = [
        // Elementwise.
        op("exp(x)", "Elementwise e^x.") { a in try a.tensor(0).exp() },
        op("log(x)", "Elementwise natural logarithm.") { a in try a.tensor(0).log() },
        op("rsqrt(x)", "Elementwise 1 / sqrt(x).") { a in try a.tensor(0).rsqrt() },
        op("sin(x)", "Elementwise sine.") { a in try a.tensor(0).sin() },
        op("cos(x)", "Elementwise cosine.") { a in try a.tensor(0).cos() },
        op("tanh(x)", "Elementwise hyperbolic tangent.") { a in try a.tensor(0).tanh() },
        op("sigmoid(x)", "Elementwise logistic sigmoid 1 / (1 + e^-x).") { a in try a.tensor(0).sigmoid() },
        op("relu(x)", "Elementwise max(x, 0).") { a in try a.tensor(0).relu() },
        op("leaky_relu(x, slope: 0.01)", "Elementwise x for x > 0, slope * x otherwise.") { a in try a.tensor(0).leakyRelu(slope: try a.float(1)) },
        op("gelu(x, approximate: false)", "Elementwise GELU (tanh approximation with approximate: true).") { a in try a.tensor(0).gelu(approximate: try a.bool(1)) },
        op("silu(x)", "Elementwise x * sigmoid(x).") { a in try a.tensor(0).silu() },
        op("softplus(x, beta: 1, threshold: 20)", "Elementwise log(1 + e^(beta x)) / beta.") { a in try a.tensor(0).softplus(beta: try a.float(1), threshold: try a.float(2)) },
        op("clamp(x, min: nil, max: nil)", "Values limited to [min, max] (either bound may be nil).") { a in
            try a.tensor(0).clamped(min: a.isNil(1) ? nil : try a.float(1), max: a.isNil(2) ? nil : try a.float(2))
        },
        op("maximum(a, b)", "Elementwise larger of a and b (broadcasting).") { a in try a.tensor(0).maximum(try a.tensor(1)) },
        op("minimum(a, b)", "Elementwise smaller of a and b (broadcasting).") { a in try a.tensor(0).minimum(try a.tensor(1)) },
        op("where(condition, a, b)", "Elementwise a where condition is non-zero, else b (broadcasting).") { a in try Tensor.where(try a.tensor(0), try a.tensor(1), try a.tensor(2)) },
        // Reductions.
        op("sum(x, axis: nil, keepdims: false)", "Sum over all elements, one axis or a list of axes.") { a in try a.tensor(0).sum(axes: try a.axes(1), keepDims: try a.bool(2)) },
        op("mean(x, axis: nil, keepdims: false)", "Mean over all elements, one axis or a list of axes.") { a in try a.tensor(0).mean(axes: try a.axes(1), keepDims: try a.bool(2)) },
        op("var(x, axis: nil, unbiased: false, keepdims: false)", "Variance over axes (population variance unless unbiased: true).") { a in
            try a.tensor(0).variance(axes: try a.axes(1), unbiased: try a.bool(2), keepDims: try a.bool(3))
        },
        op("std(x, axis: nil, unbiased: false, keepdims: false)", "Standard deviation over axes.") { a in
            try a.tensor(0).standardDeviation(axes: try a.axes(1), unbiased: try a.bool(2), keepDims: try a.bool(3))
        },
        op("amax(x, axis: nil, keepdims: false)", "Largest value over axes (method: x.max()).", method: "max") { a in try a.tensor(0).max(axes: try a.axes(1), keepDims: try a.bool(2)) },
        op("amin(x, axis: nil, keepdims: false)", "Smallest value over axes (method: x.min()).", method: "min") { a in try a.tensor(0).min(axes: try a.axes(1), keepDims: try a.bool(2)) },
        op("argmax(x, axis: nil, keepdims: false)", "Index of the largest value (flattened when axis is nil).") { a in try a.tensor(0).argmax(axis: try a.optionalInt(1), keepDims: try a.bool(2)) },
        op("argmin(x, axis: nil, keepdims: false)", "Index of the smallest value (flattened when axis is nil).") { a in try a.tensor(0).argmin(axis: try a.optionalInt(1), keepDims: try a.bool(2)) },
        op("logsumexp(x, axis: nil, keepdims: false)", "log(sum(exp(x))) over axes, computed stably.") { a in try a.tensor(0).logSumExp(axes: try a.axes(1), keepDims: try a.bool(2)) },
        op("norm(x, p: 2, axis: nil, keepdims: false)", "The p-norm over axes.") { a in try a.tensor(0).norm(p: try a.float(1), axes: try a.axes(2), keepDims: try a.bool(3)) },
        // Shape ops.
        op("squeeze(x, axis: nil)", "Removes axes of size 1 (all, or the given ones).") { a in try a.tensor(0).squeezed(axes: try a.axes(1)) },
        op("unsqueeze(x, axis)", "Inserts an axis of size 1.") { a in try a.tensor(0).unsqueezed(axis: try a.int(1)) },
        op("cat(tensors, axis: 0)", "Concatenates a list of tensors along an existing axis.") { a in try Tensor.concat(try a.tensors(0), axis: try a.int(1)) },
        op("stack(tensors, axis: 0)", "Stacks a list of equally shaped tensors along a new axis.") { a in try Tensor.stack(try a.tensors(0), axis: try a.int(1)) },
        list("chunk(x, count, axis: 0)", "Splits a tensor into count nearly equal pieces along an axis (a list).") { a in try a.tensor(0).chunk(try a.int(1), axis: try a.int(2)) },
        op("flip(x, *axes)", "Reverses the order along the given axes.") { a in try a.tensor(0).flipped(axes: try a.ints(1)) },
        op("roll(x, shifts, axes)", "Rotates values along axes by shifts (integers or lists).") { a in try a.tensor(0).rolled(shifts: try a.ints(1), axes: try a.ints(2)) },
        op("repeat(x, count, axis)", "Repeats each slice count times along an axis.") { a in try a.tensor(0).repeated(try a.int(1), axis: try a.int(2)) },
        op("tile(x, *multiples)", "Tiles the tensor multiples[i] times along axis i.") { a in try a.tensor(0).tiled(try a.ints(1)) },
        op("pad(x, widths, mode: \"constant\", value: 0)", "Pads the last axes: widths is a list of [before, after] pairs, first pair for the first padded axis; mode constant, reflect or replicate.") { a in
            guard case .list(let l) = a[1] else { throw a.typeError(1, "a list of [before, after] pairs") }
            let widths: [(before: Int, after: Int)] = try l.items.map { item in
                guard case .list(let pair) = item, pair.items.count == 2, case .number(let b) = pair.items[0], case .number(let e) = pair.items[1],
                      b == b.rounded(), e == e.rounded(), abs(b) < 1e9, abs(e) < 1e9 else {
                    throw LoupeError("pad: argument 'widths' must be a list of [before, after] integer pairs, got \(item.display)")
                }
                return (Int(b), Int(e))
            }
            let mode = PadMode(rawValue: try a.choice(2, PadMode.allCases.map(\.rawValue)))!
            return try a.tensor(0).padded(widths, mode: mode, value: try a.float(3))
        },
        // Indexing and linear algebra.
        op("index_select(x, axis, indices)", "The slices at the given indices (a list) along an axis.") { a in try a.tensor(0).indexSelect(axis: try a.int(1), indices: try a.ints(2)) },
        op("gather(x, axis, index)", "Values picked along an axis by an index tensor of the same rank.") { a in try a.tensor(0).gather(axis: try a.int(1), index: try a.tensor(2)) },
        op("outer(a, b)", "Outer product of two vectors.") { a in try Tensor.outer(try a.tensor(0), try a.tensor(1)) },
        op("pinv(x, rcond: 1e-6)", "Moore-Penrose pseudo-inverse of a matrix.") { a in try a.tensor(0).pseudoInverse(rcond: try a.float(1)) },
        Builtin("svd(x)", methodOf: "tensor",
                "Thin singular value decomposition of a matrix [m, n] (LAPACK): {u [m, k], s [k] descending, vh [k, n]} with x = u @ diag(s) @ vh, k = min(m, n); not differentiable.") { a in
            let (u, s, vh) = try a.tensor(0).singularValueDecomposition()
            return .record(RecordBox([("u", .tensor(u)), ("s", .tensor(s)), ("vh", .tensor(vh))]))
        },
        // Creation.
        Builtin("linspace(start, end, count)", "count evenly spaced values from start to end inclusive.") { a in .tensor(try Tensor.linspace(try a.float(0), try a.float(1), count: try a.int(2))) },
        Builtin("eye(n, m: nil)", "An n x m identity matrix (m defaults to n).") { a in .tensor(try Tensor.eye(try a.int(0), try a.optionalInt(1))) },
        Builtin("randint(low, high, *shape)", "Random integers in [low, high) from the session generator.") { a in
            let shape = try TensorBindings.shape(a, 2)
            return .tensor(try Tensor.randint(shape, low: try a.int(0), high: try a.int(1), generator: &a.interpreter.rng))
        },
    ]
}
