/// The four arithmetic operators with broadcasting and their gradients. Scalars on either side
/// are rank-0 tensors.
extension Tensor {
    public static func + (a: Tensor, b: Tensor) throws -> Tensor {
        let result = try binaryMap(a, b, op: "add", AddKernel())
        let sa = a.shape, sb = b.shape
        return record(result, op: "add", inputs: [a, b]) { grad in
            [try grad.summed(toShape: sa), try grad.summed(toShape: sb)]
        }
    }

    public static func - (a: Tensor, b: Tensor) throws -> Tensor {
        let result = try binaryMap(a, b, op: "sub", SubtractKernel())
        let sa = a.shape, sb = b.shape
        return record(result, op: "sub", inputs: [a, b]) { grad in
            [try grad.summed(toShape: sa), try grad.negated().summed(toShape: sb)]
        }
    }

    public static func * (a: Tensor, b: Tensor) throws -> Tensor {
        let result = try binaryMap(a, b, op: "mul", MultiplyKernel())
        let needA = a.requiresGrad, needB = b.requiresGrad
        let da = a.detached(), db = b.detached()
        return record(result, op: "mul", inputs: [a, b]) { grad in
            [needA ? try (grad * db).summed(toShape: da.shape) : nil,
             needB ? try (grad * da).summed(toShape: db.shape) : nil]
        }
    }

    public static func / (a: Tensor, b: Tensor) throws -> Tensor {
        let result = try binaryMap(a, b, op: "div", DivideKernel())
        let needA = a.requiresGrad, needB = b.requiresGrad
        let db = b.detached()
        let quotient = result
        let sa = a.shape
        return record(result, op: "div", inputs: [a, b]) { grad in
            let ga = try grad / db
            return [needA ? try ga.summed(toShape: sa) : nil,
                    needB ? try (ga * quotient).negated().summed(toShape: db.shape) : nil]
        }
    }

    public static func + (a: Tensor, b: Float) throws -> Tensor { try a + Tensor(b) }
    public static func + (a: Float, b: Tensor) throws -> Tensor { try Tensor(a) + b }
    public static func - (a: Tensor, b: Float) throws -> Tensor { try a - Tensor(b) }
    public static func - (a: Float, b: Tensor) throws -> Tensor { try Tensor(a) - b }
    public static func * (a: Tensor, b: Float) throws -> Tensor { try a * Tensor(b) }
    public static func * (a: Float, b: Tensor) throws -> Tensor { try Tensor(a) * b }
    public static func / (a: Tensor, b: Float) throws -> Tensor { try a / Tensor(b) }
    public static func / (a: Float, b: Tensor) throws -> Tensor { try Tensor(a) / b }

    public static prefix func - (a: Tensor) -> Tensor { a.negated() }

    /// Elementwise negation.
    public func negated() -> Tensor {
        let result = unaryMap(NegateKernel())
        return Tensor.record(result, op: "neg", inputs: [self]) { grad in [grad.negated()] }
    }
}
