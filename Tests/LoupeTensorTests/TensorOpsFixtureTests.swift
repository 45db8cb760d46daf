import XCTest
@testable import LoupeTensor
import LoupeTestSupport

/// Forward values and input gradients of every tensor op against PyTorch
/// (Fixtures/tensor_ops.json, written by Scripts/fixtures/tensor_ops.py).
final class TensorOpsFixtureTests: XCTestCase {
    typealias Op = (_ x: [String: Tensor], _ c: FixtureCase) throws -> Tensor

    static let ops: [String: Op] = {
        var ops: [String: Op] = [
            "abs": { x, _ in x["x"]!.abs() }, "exp": { x, _ in x["x"]!.exp() }, "log": { x, _ in x["x"]!.log() },
            "sqrt": { x, _ in x["x"]!.sqrt() }, "rsqrt": { x, _ in x["x"]!.rsqrt() }, "sin": { x, _ in x["x"]!.sin() },
            "cos": { x, _ in x["x"]!.cos() }, "tanh": { x, _ in x["x"]!.tanh() },
            "sigmoid": { x, _ in x["x"]!.sigmoid() }, "relu": { x, _ in x["x"]!.relu() },
            "silu": { x, _ in x["x"]!.silu() },
            "leaky_relu": { x, c in x["x"]!.leakyRelu(slope: c.float("slope")!) },
            "gelu": { x, c in x["x"]!.gelu(approximate: c.bool("approximate")!) },
            "softplus": { x, c in x["x"]!.softplus(beta: c.float("beta")!, threshold: c.float("threshold")!) },
            "clamp": { x, c in try x["x"]!.clamped(min: c.float("min"), max: c.float("max")) },
            "pow_scalar": { x, c in x["x"]!.pow(c.float("p")!) },
            "pow": { x, _ in try x["x"]!.pow(x["y"]!) },
            "maximum": { x, _ in try x["x"]!.maximum(x["y"]!) },
            "minimum": { x, _ in try x["x"]!.minimum(x["y"]!) },
            "where": { x, _ in try Tensor.where(x["c"]!, x["x"]!, x["y"]!) },
            "greater": { x, _ in try x["x"]!.greater(x["y"]!) },
            "greater_equal": { x, _ in try x["x"]!.greaterOrEqual(x["y"]!) },
            "less": { x, _ in try x["x"]!.less(x["y"]!) },
            "less_equal": { x, _ in try x["x"]!.lessOrEqual(x["y"]!) },
            "equal": { x, _ in try x["x"]!.equal(x["y"]!) },
            "not_equal": { x, _ in try x["x"]!.notEqual(x["y"]!) },
            "sum": { x, c in try x["x"]!.sum(axes: c.ints("axes"), keepDims: c.bool("keepDims")!) },
            "mean": { x, c in try x["x"]!.mean(axes: c.ints("axes"), keepDims: c.bool("keepDims")!) },
            "max": { x, c in try x["x"]!.max(axes: c.ints("axes"), keepDims: c.bool("keepDims")!) },
            "min": { x, c in try x["x"]!.min(axes: c.ints("axes"), keepDims: c.bool("keepDims")!) },
            "logsumexp": { x, c in try x["x"]!.logSumExp(axes: c.ints("axes"), keepDims: c.bool("keepDims")!) },
            "variance": { x, c in
                try x["x"]!.variance(axes: c.ints("axes"), unbiased: c.bool("unbiased")!, keepDims: c.bool("keepDims")!) },
            "std": { x, c in
                try x["x"]!.standardDeviation(axes: c.ints("axes"), unbiased: c.bool("unbiased")!, keepDims: c.bool("keepDims")!) },
            "norm": { x, c in
                let p = c.float("p")!
                return try x["x"]!.norm(p: p < 0 ? .infinity : p, axes: c.ints("axes"), keepDims: c.bool("keepDims")!) },
            "argmax": { x, c in try x["x"]!.argmax(axis: c.int("axis"), keepDims: c.bool("keepDims")!) },
            "argmin": { x, c in try x["x"]!.argmin(axis: c.int("axis"), keepDims: c.bool("keepDims")!) },
        ]
        ops["squeeze"] = { x, c in try x["x"]!.squeezed(axes: c.ints("axes")) }
        ops["unsqueeze"] = { x, c in try x["x"]!.unsqueezed(axis: c.int("axis")!) }
        ops["concat"] = { x, c in try Tensor.concat([x["x"]!, x["y"]!, x["z"]!], axis: c.int("axis")!) }
        ops["stack"] = { x, c in try Tensor.stack([x["x"]!, x["y"]!], axis: c.int("axis")!) }
        ops["slice"] = { x, c in
            try x["x"]!.sliced(axis: c.int("axis")!, start: c.int("start"), end: c.int("end"), step: c.int("step") ?? 1) }
        ops["index_select"] = { x, c in try x["x"]!.indexSelect(axis: c.int("axis")!, indices: c.ints("indices")!) }
        ops["gather"] = { x, c in try x["x"]!.gather(axis: c.int("axis")!, index: x["i"]!) }
        ops["scatter_add"] = { x, c in try x["x"]!.scatterAdd(axis: c.int("axis")!, index: x["i"]!, source: x["s"]!) }
        ops["pad"] = { x, c in
            let w = c.ints("widths")!
            let widths = stride(from: 0, to: w.count, by: 2).map { (before: w[$0], after: w[$0 + 1]) }
            return try x["x"]!.padded(widths, mode: PadMode(rawValue: c.string("mode")!)!, value: c.float("value")!) }
        ops["flip"] = { x, c in try x["x"]!.flipped(axes: c.ints("axes")!) }
        ops["roll"] = { x, c in try x["x"]!.rolled(shifts: c.ints("shifts")!, axes: c.ints("axes")!) }
        ops["repeat_interleave"] = { x, c in try x["x"]!.repeated(c.int("count")!, axis: c.int("axis")!) }
        ops["tile"] = { x, c in try x["x"]!.tiled(c.ints("multiples")!) }
        ops["indexed"] = { x, _ in
            try x["x"]!.indexed([.index(1), .range(start: nil, end: nil, step: 2), .newAxis, .range(start: 1, end: nil, step: nil)]) }
        ops["outer"] = { x, _ in try Tensor.outer(x["x"]!, x["y"]!) }
        ops["pinv"] = { x, _ in try x["x"]!.pseudoInverse(rcond: 1e-5) }
        ops["arange"] = { _, c in try Tensor.arange(start: c.float("start")!, end: c.float("end")!, step: c.float("step")!) }
        ops["linspace"] = { _, c in try Tensor.linspace(c.float("start")!, c.float("end")!, count: c.int("count")!) }
        ops["eye"] = { _, c in try Tensor.eye(c.int("n")!, c.int("m")) }
        return ops
    }()

    /// Looser tolerances where float32 accumulation order or libm versus torch's vector math differ.
    static func tolerance(_ op: String) -> (rtol: Float, atol: Float) {
        switch op {
        case "pinv": return (1e-3, 1e-4)
        case "variance", "std", "norm", "logsumexp", "pow", "exp", "gelu", "softplus", "pow_scalar": return (1e-4, 1e-5)
        default: return (1e-5, 1e-6)
        }
    }

    func testAllCasesMatchPyTorch() throws {
        let cases = try Fixtures.load("tensor_ops")
        XCTAssertGreaterThan(cases.count, 100)
        var checked = 0
        var gradientChecks = 0
        for c in cases {
            guard let op = Self.ops[c.op] else { XCTFail("\(c.name): no binding for op \(c.op)"); continue }
            var inputs: [String: Tensor] = [:]
            var leaves: [(String, Tensor)] = []
            for (key, t) in c.tensors where key != "out" && key != "g" && !key.hasPrefix("grad_") {
                if c.tensors["grad_" + key] != nil {
                    let leaf = t.requiringGrad()
                    inputs[key] = leaf
                    leaves.append((key, leaf))
                } else {
                    inputs[key] = t
                }
            }
            let (rtol, atol) = Self.tolerance(c.op)
            let out: Tensor
            do { out = try op(inputs, c) } catch { XCTFail("\(c.name): threw \(error)"); continue }
            assertClose(out, try c.tensor("out"), rtol: rtol, atol: atol, "\(c.name) forward")
            if let g = c.tensors["g"], !leaves.isEmpty {
                let grads = try Autograd.gradients(of: out, wrt: leaves.map(\.1), seed: g)
                for ((key, _), grad) in zip(leaves, grads) {
                    gradientChecks += 1
                    assertClose(grad, try c.tensor("grad_" + key), rtol: Swift.max(rtol, 1e-4), atol: Swift.max(atol, 1e-5),
                                "\(c.name) gradient of \(key)")
                }
            }
            checked += 1
        }
        XCTAssertEqual(checked, cases.count)
        XCTAssertEqual(gradientChecks, 107, "every fixture gradient is compared")
    }
}
