import Foundation
import LoupeTensor

/// The tensor core: creation, elementwise ops, reductions, shape ops, indexing, linear algebra,
/// neural-network functions, gradients and `minimize`. Declares the `tensor` value type and its
/// attributes (`shape`, `rank`, `count`, `grad`, `requires_grad`, `T`).
struct TensorCore: ScriptCore {
    let name = "tensor"

    var builtins: [Builtin] { TensorBindings.all + OpsBindings.all + NNBindings.all + OptimBindings.all }

    var valueTypes: [ValueType] {
        [ValueType("tensor", "A float32 N-d tensor, with gradients when it requires them.",
                   attributeNames: ["shape", "rank", "count", "grad", "requires_grad", "T"],
                   attribute: TensorCore.attribute)]
    }

    /// A tensor's attribute `name`, or nil when tensors have none of that name.
    static func attribute(_ value: Value, _ name: String) throws -> Value? {
        guard case .tensor(let t) = value else { return nil }
        switch name {
        case "shape": return .list(ListBox(t.shape.map { .number(Double($0)) }))
        case "rank": return .number(Double(t.rank))
        case "count": return .number(Double(t.count))
        case "grad": return t.grad.map { .tensor($0) } ?? .null
        case "requires_grad": return .bool(t.requiresGrad)
        case "T": return .tensor(try t.transposed())
        default: return nil
        }
    }
}
