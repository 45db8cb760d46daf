#if canImport(Glibc)
import Glibc
#endif

/// Binary and ternary elementwise ops with broadcasting: pow, maximum, minimum, where and
/// comparisons.
extension Tensor {
    /// Broadcasts three tensors to one shape (views without history).
    static func broadcastThree(_ a: Tensor, _ b: Tensor, _ c: Tensor, op: String) throws -> (Tensor, Tensor, Tensor) {
        let ab = try broadcastShape(a.shape, b.shape, op: op)
        let shape = try broadcastShape(ab, c.shape, op: op)
        return (try a.detached().expanded(to: shape), try b.detached().expanded(to: shape),
                try c.detached().expanded(to: shape))
    }

    /// x raised to `exponent` elementwise, with broadcasting. The exponent's gradient is
    /// `y * log(x)`, taken as 0 where x == 0 and the exponent >= 0 (as torch).
    public func pow(_ exponent: Tensor) throws -> Tensor {
        let result = try Tensor.broadcastMap(self, exponent, op: "pow") { powf($0, $1) }
        let needA = requiresGrad, needB = exponent.requiresGrad
        let base = detached(), power = exponent.detached()
        return Tensor.record(result, op: "pow", inputs: [self, exponent]) { grad in
            let (g, x, p) = try Tensor.broadcastThree(grad, base, power, op: "pow")
            var grads: [Tensor?] = [nil, nil]
            if needA {
                grads[0] = try Tensor.ternaryMap(g, x, p) { g, x, p in
                    p == 0 ? 0 : g * p * powf(x, p - 1)
                }.summed(toShape: base.shape)
            }
            if needB {
                grads[1] = try Tensor.ternaryMap(g, x, p) { g, x, p in
                    x == 0 && p >= 0 ? 0 : g * powf(x, p) * logf(x)
                }.summed(toShape: power.shape)
            }
            return grads
        }
    }

    /// Elementwise maximum with broadcasting. Ties split the gradient evenly (as torch).
    public func maximum(_ other: Tensor) throws -> Tensor {
        let result = try Tensor.broadcastMap(self, other, op: "maximum") { a, b in a < b || b != b ? b : a }
        return try extremumGradient(result, other, op: "maximum", pickFirst: { $0 > $1 })
    }

    /// Elementwise minimum with broadcasting. Ties split the gradient evenly (as torch).
    public func minimum(_ other: Tensor) throws -> Tensor {
        let result = try Tensor.broadcastMap(self, other, op: "minimum") { a, b in a > b || b != b ? b : a }
        return try extremumGradient(result, other, op: "minimum", pickFirst: { $0 < $1 })
    }

    private func extremumGradient(_ result: Tensor, _ other: Tensor, op: String,
                                  pickFirst: @escaping (Float, Float) -> Bool) throws -> Tensor {
        let needA = requiresGrad, needB = other.requiresGrad
        let da = detached(), db = other.detached()
        return Tensor.record(result, op: op, inputs: [self, other]) { grad in
            let (g, a, b) = try Tensor.broadcastThree(grad, da, db, op: op)
            return [
                needA ? try Tensor.ternaryMap(g, a, b) { g, a, b in
                    a == b ? g / 2 : (pickFirst(a, b) ? g : 0) }.summed(toShape: da.shape) : nil,
                needB ? try Tensor.ternaryMap(g, a, b) { g, a, b in
                    a == b ? g / 2 : (pickFirst(a, b) ? 0 : g) }.summed(toShape: db.shape) : nil,
            ]
        }
    }

    /// Elements of `a` where `condition` is nonzero and of `b` elsewhere, broadcasting all three.
    /// Differentiable in `a` and `b`.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let (c, x, y) = try broadcastThree(condition, a, b, op: "where")
        let result = ternaryMap(c, x, y) { c, x, y in c != 0 ? x : y }
        let needA = a.requiresGrad, needB = b.requiresGrad
        let cond = condition.detached(), sa = a.shape, sb = b.shape
        return record(result, op: "where", inputs: [a, b]) { grad in
            let (g, c, _) = try broadcastThree(grad, cond, grad, op: "where")
            return [
                needA ? try broadcastMap(g, c, op: "where") { g, c in c != 0 ? g : 0 }.summed(toShape: sa) : nil,
                needB ? try broadcastMap(g, c, op: "where") { g, c in c != 0 ? 0 : g }.summed(toShape: sb) : nil,
            ]
        }
    }

    /// 1 where self > other, else 0 (broadcasting, not differentiable).
    public func greater(_ other: Tensor) throws -> Tensor {
        try Tensor.broadcastMap(detached(), other.detached(), op: "greater") { $0 > $1 ? 1 : 0 }
    }

    /// 1 where self >= other, else 0.
    public func greaterOrEqual(_ other: Tensor) throws -> Tensor {
        try Tensor.broadcastMap(detached(), other.detached(), op: "greater_equal") { $0 >= $1 ? 1 : 0 }
    }

    /// 1 where self < other, else 0.
    public func less(_ other: Tensor) throws -> Tensor {
        try Tensor.broadcastMap(detached(), other.detached(), op: "less") { $0 < $1 ? 1 : 0 }
    }

    /// 1 where self <= other, else 0.
    public func lessOrEqual(_ other: Tensor) throws -> Tensor {
        try Tensor.broadcastMap(detached(), other.detached(), op: "less_equal") { $0 <= $1 ? 1 : 0 }
    }

    /// 1 where self == other, else 0.
    public func equal(_ other: Tensor) throws -> Tensor {
        try Tensor.broadcastMap(detached(), other.detached(), op: "equal") { $0 == $1 ? 1 : 0 }
    }

    /// 1 where self != other, else 0.
    public func notEqual(_ other: Tensor) throws -> Tensor {
        try Tensor.broadcastMap(detached(), other.detached(), op: "not_equal") { $0 != $1 ? 1 : 0 }
    }
}
