import Foundation
import LoupeTensor

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
        op("exp(x)", "Elementwise e^x.") { a in try a.tensor("x").exp() },
        op("log(x)", "Elementwise natural logarithm.") { a in try a.tensor("x").log() },
        op("rsqrt(x)", "Elementwise 1 / sqrt(x).") { a in try a.tensor("x").rsqrt() },
        op("sin(x)", "Elementwise sine.") { a in try a.tensor("x").sin() },
        op("cos(x)", "Elementwise cosine.") { a in try a.tensor("x").cos() },
        op("tanh(x)", "Elementwise hyperbolic tangent.") { a in try a.tensor("x").tanh() },
        op("erf(x)", "Elementwise error function.") { a in try a.tensor("x").erf() },
        op("sigmoid(x)", "Elementwise logistic sigmoid 1 / (1 + e^-x).") { a in try a.tensor("x").sigmoid() },
        op("relu(x)", "Elementwise max(x, 0).") { a in try a.tensor("x").relu() },
        op("leaky_relu(x, slope: 0.01)", "Elementwise x for x > 0, slope * x otherwise.") { a in try a.tensor("x").leakyRelu(slope: try a.float("slope")) },
        op("gelu(x, approximate: false)", "Elementwise GELU (tanh approximation with approximate: true).") { a in try a.tensor("x").gelu(approximate: try a.bool("approximate")) },
        op("silu(x)", "Elementwise x * sigmoid(x).") { a in try a.tensor("x").silu() },
        op("softplus(x, beta: 1, threshold: 20)", "Elementwise log(1 + e^(beta x)) / beta.") { a in try a.tensor("x").softplus(beta: try a.float("beta"), threshold: try a.float("threshold")) },
        op("clamp(x, min: nil, max: nil)", "Values limited to [min, max] (either bound may be nil).") { a in
            try a.tensor("x").clamped(min: a.isNil("min") ? nil : try a.float("min"), max: a.isNil("max") ? nil : try a.float("max"))
        },
        op("maximum(a, b)", "Elementwise larger of a and b (broadcasting).") { a in try a.tensor("a").maximum(try a.tensor("b")) },
        op("minimum(a, b)", "Elementwise smaller of a and b (broadcasting).") { a in try a.tensor("a").minimum(try a.tensor("b")) },
        op("where(condition, a, b)", "Elementwise a where condition is non-zero, else b (broadcasting).") { a in try Tensor.where(try a.tensor("condition"), try a.tensor("a"), try a.tensor("b")) },
        // Comparisons (torch's names, long forms to leave short names such as gt to scripts; 1 where true, else 0;
        // not differentiable). `==` and `!=` compare whole values.
        op("eq(a, b)", "Elementwise 1 where a == b, else 0 (broadcasting; a == b compares whole values).") { a in try a.tensor("a").equal(try a.tensor("b")) },
        op("not_equal(a, b)", "Elementwise 1 where a != b, else 0 (broadcasting).") { a in try a.tensor("a").notEqual(try a.tensor("b")) },
        op("greater(a, b)", "Elementwise 1 where a > b, else 0 (broadcasting; same as a > b).") { a in try a.tensor("a").greater(try a.tensor("b")) },
        op("greater_equal(a, b)", "Elementwise 1 where a >= b, else 0 (broadcasting; same as a >= b).") { a in try a.tensor("a").greaterOrEqual(try a.tensor("b")) },
        op("less(a, b)", "Elementwise 1 where a < b, else 0 (broadcasting; same as a < b).") { a in try a.tensor("a").less(try a.tensor("b")) },
        op("less_equal(a, b)", "Elementwise 1 where a <= b, else 0 (broadcasting; same as a <= b).") { a in try a.tensor("a").lessOrEqual(try a.tensor("b")) },
        // Reductions.
        op("sum(x, axis: nil, keepdims: false)", "Sum over all elements, one axis or a list of axes.") { a in try a.tensor("x").sum(axes: try a.axes("axis"), keepDims: try a.bool("keepdims")) },
        op("mean(x, axis: nil, keepdims: false)", "Mean over all elements, one axis or a list of axes.") { a in try a.tensor("x").mean(axes: try a.axes("axis"), keepDims: try a.bool("keepdims")) },
        op("var(x, axis: nil, unbiased: false, keepdims: false)", "Variance over axes (population variance unless unbiased: true).") { a in
            try a.tensor("x").variance(axes: try a.axes("axis"), unbiased: try a.bool("unbiased"), keepDims: try a.bool("keepdims"))
        },
        op("std(x, axis: nil, unbiased: false, keepdims: false)", "Standard deviation over axes.") { a in
            try a.tensor("x").standardDeviation(axes: try a.axes("axis"), unbiased: try a.bool("unbiased"), keepDims: try a.bool("keepdims"))
        },
        op("amax(x, axis: nil, keepdims: false)", "Largest value over axes (method: x.max()).", method: "max") { a in try a.tensor("x").max(axes: try a.axes("axis"), keepDims: try a.bool("keepdims")) },
        op("amin(x, axis: nil, keepdims: false)", "Smallest value over axes (method: x.min()).", method: "min") { a in try a.tensor("x").min(axes: try a.axes("axis"), keepDims: try a.bool("keepdims")) },
        op("argmax(x, axis: nil, keepdims: false)", "Index of the largest value (flattened when axis is nil).") { a in try a.tensor("x").argmax(axis: try a.optionalInt("axis"), keepDims: try a.bool("keepdims")) },
        op("argmin(x, axis: nil, keepdims: false)", "Index of the smallest value (flattened when axis is nil).") { a in try a.tensor("x").argmin(axis: try a.optionalInt("axis"), keepDims: try a.bool("keepdims")) },
        op("argsort(x, descending: false)", "The indices that sort a 1-D tensor (stable: equal values keep their order; nan last), as a tensor: x[argsort(x)[0].item()] is the smallest.") { a in
            let x = try a.tensor("x")
            guard x.rank == 1 else { throw a.error("x", "argsort: expected a 1-D tensor, got shape \(describe(shape: x.shape))") }
            let values = x.contiguous().scalars, descending = try a.bool("descending")
            let order = values.indices.sorted { i, j in
                let u = values[i], v = values[j]
                switch (u.isNaN, v.isNaN) {
                case (true, true): return i < j
                case (true, false): return false
                case (false, true): return true
                default: return u == v ? i < j : (descending ? u > v : u < v)
                }
            }
            return try Tensor(shape: [order.count], scalars: order.map { Float($0) })
        },
        op("logsumexp(x, axis: nil, keepdims: false)", "log(sum(exp(x))) over axes, computed stably.") { a in try a.tensor("x").logSumExp(axes: try a.axes("axis"), keepDims: try a.bool("keepdims")) },
        op("norm(x, p: 2, axis: nil, keepdims: false)", "The p-norm over axes.") { a in try a.tensor("x").norm(p: try a.float("p"), axes: try a.axes("axis"), keepDims: try a.bool("keepdims")) },
        // Shape ops.
        op("squeeze(x, axis: nil)", "Removes axes of size 1 (all, or the given ones).") { a in try a.tensor("x").squeezed(axes: try a.axes("axis")) },
        op("unsqueeze(x, axis)", "Inserts an axis of size 1.") { a in try a.tensor("x").unsqueezed(axis: try a.int("axis")) },
        op("cat(tensors, axis: 0)", "Concatenates a list of tensors along an existing axis.") { a in try Tensor.concat(try a.tensors("tensors"), axis: try a.int("axis")) },
        op("stack(tensors, axis: 0)", "Stacks a list of equally shaped tensors along a new axis.") { a in try Tensor.stack(try a.tensors("tensors"), axis: try a.int("axis")) },
        list("split(x, sizes, axis: 0)", "Splits a tensor along an axis into views, as torch.split: sizes is one piece length (the last piece may be shorter) or a list of lengths adding up to the axis's length.") { a in
            let x = try a.tensor("x")
            let axis = try a.int("axis")
            guard case .number = a["sizes"] else { return try x.split(sizes: try a.ints("sizes"), axis: axis) }
            let size = try a.int("sizes")
            guard size > 0 else { throw a.error("sizes", "split: a piece length must be positive, got \(size)") }
            let length = x.shape[try Tensor.normalizeAxis(axis, rank: x.rank, op: "split")]
            var sizes = stride(from: 0, to: length, by: size).map { Swift.min(size, length - $0) }
            if sizes.isEmpty { sizes = [0] }
            return try x.split(sizes: sizes, axis: axis)
        },
        list("chunk(x, count, axis: 0)", "Splits a tensor into count nearly equal pieces along an axis (a list).") { a in try a.tensor("x").chunk(try a.int("count"), axis: try a.int("axis")) },
        op("flip(x, *axes)", "Reverses the order along the given axes.") { a in try a.tensor("x").flipped(axes: try a.ints("axes")) },
        op("roll(x, shifts, axes)", "Rotates values along axes by shifts (integers or lists).") { a in try a.tensor("x").rolled(shifts: try a.ints("shifts"), axes: try a.ints("axes")) },
        op("repeat(x, count, axis)", "Repeats each slice count times along an axis.") { a in try a.tensor("x").repeated(try a.int("count"), axis: try a.int("axis")) },
        op("tile(x, *multiples)", "Tiles the tensor multiples[i] times along axis i.") { a in try a.tensor("x").tiled(try a.ints("multiples")) },
        op("pad(x, widths, mode: \"constant\", value: 0)",
           """
           Pads the last axes. widths is either PyTorch's flat list, last axis first ([1, 1, 2, 2] pads the last \
           axis by 1 before and 1 after and the one before it by 2 and 2), or a list of [before, after] pairs, \
           first pair for the first padded axis ([[2, 2], [1, 1]] is the same). mode constant, reflect or replicate.
           """) { a in
            guard case .list(let l) = a["widths"] else { throw a.typeError("widths", "a flat list of integers or a list of [before, after] pairs") }
            func integer(_ v: Value) -> Int? {
                guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e9 else { return nil }
                return Int(n)
            }
            var widths: [(before: Int, after: Int)]
            if l.items.allSatisfy({ if case .number = $0 { return true }; return false }) {
                let flat = l.items.compactMap(integer)
                guard flat.count == l.items.count, flat.count % 2 == 0 else {
                    throw a.error("widths", "pad: argument 'widths' must hold an even number of integers (before and after, last axis first), got \(a["widths"].display)")
                }
                widths = stride(from: flat.count - 2, through: 0, by: -2).map { (flat[$0], flat[$0 + 1]) }
            } else {
                widths = try l.items.map { item in
                    guard case .list(let pair) = item, pair.items.count == 2, let b = integer(pair.items[0]), let e = integer(pair.items[1]) else {
                        throw a.error("widths", "pad: argument 'widths' must be a flat list of integers or a list of [before, after] integer pairs, got \(item.display)")
                    }
                    return (b, e)
                }
            }
            let mode = PadMode(rawValue: try a.choice("mode", PadMode.allCases.map(\.rawValue)))!
            return try a.tensor("x").padded(widths, mode: mode, value: try a.float("value"))
        },
        // Indexing and linear algebra.
        op("index_select(x, axis, indices)", "The slices at the given indices (a list) along an axis.") { a in try a.tensor("x").indexSelect(axis: try a.int("axis"), indices: try a.ints("indices")) },
        op("gather(x, axis, index)", "Values picked along an axis by an index tensor of the same rank.") { a in try a.tensor("x").gather(axis: try a.int("axis"), index: try a.tensor("index")) },
        op("scatter_add(x, axis, index, src)", "x with the values of src added at the positions index gives along an axis (torch scatter_add; index and src of x's rank).") { a in
            try a.tensor("x").scatterAdd(axis: try a.int("axis"), index: try a.tensor("index"), source: try a.tensor("src"))
        },
        op("outer(a, b)", "Outer product of two vectors.") { a in try Tensor.outer(try a.tensor("a"), try a.tensor("b")) },
        op("pinv(x, rcond: 1e-6)", "Moore-Penrose pseudo-inverse of a matrix.") { a in try a.tensor("x").pseudoInverse(rcond: try a.float("rcond")) },
        Builtin("svd(x)", methodOf: "tensor",
                "Thin singular value decomposition of a matrix [m, n] (LAPACK): {u [m, k], s [k] descending, vh [k, n]} with x = u @ diag(s) @ vh, k = min(m, n); not differentiable.") { a in
            let (u, s, vh) = try a.tensor("x").singularValueDecomposition()
            return .record(RecordBox([("u", .tensor(u)), ("s", .tensor(s)), ("vh", .tensor(vh))]))
        },
        Builtin("frechet_distance(features_a, features_b)",
                """
                The Frechet distance between two sets of feature vectors [n, d] and [m, d] (rows are samples): \
                |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b)) with unbiased covariances, FID's formula when the \
                features are Inception pool features. Computed in double precision (LAPACK); a number; not differentiable.
                """) { a in
            .number(try frechetDistance(try a.tensor("features_a"), try a.tensor("features_b")))
        },
        // Creation.
        Builtin("linspace(start, end, count)", "count evenly spaced values from start to end inclusive.") { a in .tensor(try Tensor.linspace(try a.float("start"), try a.float("end"), count: try a.int("count"))) },
        Builtin("eye(n, m: nil)", "An n x m identity matrix (m defaults to n).") { a in .tensor(try Tensor.eye(try a.int("n"), try a.optionalInt("m"))) },
        Builtin("randint(low, high, *shape)", "Random integers in [low, high) from the session generator.") { a in
            let shape = try TensorBindings.shape(a, "shape")
            return .tensor(try Tensor.randint(shape, low: try a.int("low"), high: try a.int("high"), generator: &a.interpreter.rng))
        },
    ]
}
