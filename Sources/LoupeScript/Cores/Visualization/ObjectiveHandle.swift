import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor

/// A feature-visualization objective as a Loupe value (`type(o)` is `"objective"`): made by
/// `channel`, `neuron`, `logit`, `direction` and `diversity`, combined with `+`, `-`, unary
/// `-`, `*` and `/` by numbers, and `+`/`-` of a number. The objective is built for a model when
/// it is used, so `logit(k)` finds the classifier head of whichever model it is given.
public final class ObjectiveHandle: ArithmeticHandle {
    /// The objective for a model.
    let build: (Module) throws -> Objective
    /// How the objective reads, e.g. `channel("layer2", 5) - 100 * diversity("layer2")`.
    let text: String

    init(_ text: String, build: @escaping (Module) throws -> Objective) {
        self.text = text
        self.build = build
    }

    /// The objective for `model`.
    public func objective(for model: Module) throws -> Objective { try build(model) }

    public var typeName: String { "objective" }
    public var summary: String { text }

    public func attribute(_ name: String) throws -> Value? {
        name == "text" ? .string(text) : nil
    }

    public var attributeNames: [String] { ["text"] }

    public func binary(_ op: BinaryOperator, _ lhs: Value, _ rhs: Value) throws -> Value? {
        switch (lhs, rhs) {
        case (.handle(let l as ObjectiveHandle), .handle(let r as ObjectiveHandle)):
            switch op {
            case .add: return .handle(ObjectiveHandle("\(l.text) + \(r.text)") { try l.build($0) + r.build($0) })
            case .subtract: return .handle(ObjectiveHandle("\(l.text) - \(r.wrapped)") { try l.build($0) - r.build($0) })
            default: return nil
            }
        case (.handle(let o as ObjectiveHandle), .number(let n)):
            let w = Float(n), shown = Value.number(n).display
            switch op {
            case .multiply: return .handle(ObjectiveHandle("\(o.wrapped) * \(shown)") { w * (try o.build($0)) })
            case .divide:
                guard n != 0 else { throw LoupeError("division of an objective by zero") }
                return .handle(ObjectiveHandle("\(o.wrapped) / \(shown)") { (try o.build($0)) / w })
            case .add: return .handle(ObjectiveHandle("\(o.text) + \(shown)") { (try o.build($0)) + w })
            case .subtract: return .handle(ObjectiveHandle("\(o.text) - \(shown)") { (try o.build($0)) + (-w) })
            default: return nil
            }
        case (.number(let n), .handle(let o as ObjectiveHandle)):
            let w = Float(n), shown = Value.number(n).display
            switch op {
            case .multiply:
                if n == -1 { return .handle(ObjectiveHandle("-\(o.wrapped)") { -(try o.build($0)) }) }
                return .handle(ObjectiveHandle("\(shown) * \(o.wrapped)") { w * (try o.build($0)) })
            case .add: return .handle(ObjectiveHandle("\(shown) + \(o.text)") { (try o.build($0)) + w })
            case .subtract: return .handle(ObjectiveHandle("\(shown) - \(o.wrapped)") { -(try o.build($0)) + w })
            default: return nil
            }
        default:
            return nil
        }
    }

    /// The text, in parentheses when it is a sum.
    private var wrapped: String {
        text.contains(" + ") || text.contains(" - ") ? "(\(text))" : text
    }
}
