import Foundation
import LoupeTensor

/// Binary operators on values: numbers, strings, lists and tensors (with broadcasting).
enum Operators {
    /// Unary minus: numbers, tensors, and handles that scale by -1 (objectives).
    static func negate(_ v: Value) throws -> Value {
        switch v {
        case .number(let n): return .number(-n)
        case .tensor(let t): return .tensor(-t)
        case .handle(let h as ArithmeticHandle):
            if let negated = try h.binary(.multiply, .number(-1), v) { return negated }
            throw LoupeError("unary '-' is not defined for \(v.typeName)")
        default: throw LoupeError("unary '-' needs a number or tensor, got \(v.typeName)")
        }
    }

    static func binary(_ op: BinaryOperator, _ a: Value, _ b: Value) throws -> Value {
        switch op {
        case .equal: return .bool(valuesEqual(a, b))
        case .notEqual: return .bool(!valuesEqual(a, b))
        default: break
        }
        switch (a, b) {
        case (.number(let x), .number(let y)):
            switch op {
            case .add: return .number(x + y)
            case .subtract: return .number(x - y)
            case .multiply: return .number(x * y)
            case .divide:
                guard y != 0 else { throw LoupeError("division by zero") }
                return .number(x / y)
            case .remainder:
                guard y != 0 else { throw LoupeError("modulo by zero") }
                return .number(remainder(x, y))
            case .power: return .number(pow(x, y))
            case .less: return .bool(x < y)
            case .lessOrEqual: return .bool(x <= y)
            case .greater: return .bool(x > y)
            case .greaterOrEqual: return .bool(x >= y)
            default: break
            }
        case (.string(let x), .string(let y)):
            switch op {
            case .add:
                try ScriptLimits.checkString(x.utf8.count + y.utf8.count, "'+'")
                return .string(x + y)
            case .less: return .bool(x < y)
            case .lessOrEqual: return .bool(x <= y)
            case .greater: return .bool(x > y)
            case .greaterOrEqual: return .bool(x >= y)
            default: break
            }
        case (.string(let x), .number(let n)) where op == .multiply:
            guard n >= 0, n == n.rounded(), n < 1e15 else {
                throw LoupeError("'*': cannot repeat a string \(Value.number(n).display) times")
            }
            try ScriptLimits.checkString(Int(n * Double(x.utf8.count)), "'*'")
            return .string(String(repeating: x, count: Int(n)))
        case (.list(let x), .list(let y)) where op == .add:
            try ScriptLimits.checkList(x.items.count + y.items.count, "'+'")
            return .list(ListBox(x.items + y.items))
        case (.handle(let h as ArithmeticHandle), _), (_, .handle(let h as ArithmeticHandle)):
            if let result = try h.binary(op, a, b) { return result }
        case (.tensor, _), (_, .tensor):
            return try tensorBinary(op, a, b)
        default: break
        }
        throw LoupeError("operator '\(op.rawValue)' is not defined for \(a.typeName) and \(b.typeName)")
    }

    /// `x % y` (y not 0) with the sign of `y`, as in Python.
    @inline(__always)
    static func remainder(_ x: Double, _ y: Double) -> Double {
        let r: Double
        // Integers below 2^53 take the exact integer remainder (the same value as fmod's, which
        // has x's sign also when it is 0), not the slower floating-point one.
        if abs(x) < 9.0e15, abs(y) < 9.0e15, x == x.rounded(.towardZero), y == y.rounded(.towardZero) {
            let q = Int64(x) % Int64(y)
            r = q == 0 ? (x.sign == .minus ? -0.0 : 0.0) : Double(q)
        } else {
            r = x.truncatingRemainder(dividingBy: y)
        }
        return r != 0 && (r < 0) != (y < 0) ? r + y : r
    }

    static func asTensor(_ v: Value, _ op: BinaryOperator) throws -> Tensor {
        switch v {
        case .tensor(let t): return t
        case .number(let n): return Tensor(Float(n))
        case .bool(let b): return Tensor(b ? 1 : 0)
        case .list(let l): return try tensorFromList(l)
        default: throw LoupeError("operator '\(op.rawValue)' is not defined for \(v.typeName) and tensor")
        }
    }

    static func tensorBinary(_ op: BinaryOperator, _ a: Value, _ b: Value) throws -> Value {
        let x = try asTensor(a, op), y = try asTensor(b, op)
        switch op {
        case .add: return .tensor(try x + y)
        case .subtract: return .tensor(try x - y)
        case .multiply: return .tensor(try x * y)
        case .divide: return .tensor(try x / y)
        case .matmul: return .tensor(try x.matmul(y))
        case .power: return .tensor(try x.pow(y))
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let r = try Tensor.broadcastMap(x.detached(), y.detached(), op: op.rawValue) { p, q in
                switch op {
                case .less: return p < q ? 1 : 0
                case .lessOrEqual: return p <= q ? 1 : 0
                case .greater: return p > q ? 1 : 0
                default: return p >= q ? 1 : 0
                }
            }
            return .tensor(r)
        default:
            throw LoupeError("operator '\(op.rawValue)' is not defined for tensors")
        }
    }
}
