import Foundation
import LoupeTensor

/// Small differentiable tensor functions the language needs before the `ops` branch lands:
/// power and full reductions. Replace with the core's versions once merged.
enum TensorExtras {
    /// Elementwise `x ** y` with broadcasting; gradient with respect to both.
    static func pow(_ x: Tensor, _ y: Tensor) throws -> Tensor {
        let result = try Tensor.broadcastMap(x, y, op: "pow") { Foundation.pow($0, $1) }
        let dx = x.detached(), dy = y.detached()
        let needX = x.requiresGrad, needY = y.requiresGrad
        return Tensor.record(result, op: "pow", inputs: [x, y]) { grad in
            var gx: Tensor? = nil, gy: Tensor? = nil
            if needX {
                let d = try Tensor.broadcastMap(dx, dy, op: "pow") { a, b in b == 0 ? 0 : b * Foundation.pow(a, b - 1) }
                gx = try (grad * d).summed(toShape: dx.shape)
            }
            if needY {
                let d = try Tensor.broadcastMap(dx, dy, op: "pow") { a, b in a > 0 ? Foundation.pow(a, b) * Foundation.log(a) : 0 }
                gy = try (grad * d).summed(toShape: dy.shape)
            }
            return [gx, gy]
        }
    }

    /// The sum of all elements as a rank-0 tensor.
    static func sum(_ x: Tensor) -> Tensor {
        let total = x.withContiguousPointer { p -> Double in
            var s = 0.0
            for i in 0..<x.count { s += Double(p[i]) }
            return s
        }
        let shape = x.shape
        return Tensor.record(Tensor(Float(total)), op: "sum", inputs: [x]) { grad in
            [try grad.expanded(to: shape).contiguousCopy()]
        }
    }

    /// The mean of all elements as a rank-0 tensor.
    static func mean(_ x: Tensor) throws -> Tensor {
        guard x.count > 0 else { throw LoupeError("mean: tensor of shape \(describe(shape: x.shape)) is empty") }
        return try sum(x) / Float(x.count)
    }

    /// Summary statistics over finite values, and counts of NaN and infinite values.
    static func stats(_ x: Tensor) -> (mean: Double, std: Double, min: Float, max: Float, nan: Int, inf: Int) {
        x.withContiguousPointer { p in
            var s = 0.0, s2 = 0.0, lo = Float.infinity, hi = -Float.infinity, nan = 0, inf = 0, n = 0
            for i in 0..<x.count {
                let v = p[i]
                if v.isNaN { nan += 1; continue }
                if v.isInfinite { inf += 1; continue }
                n += 1
                s += Double(v); s2 += Double(v) * Double(v)
                lo = Swift.min(lo, v); hi = Swift.max(hi, v)
            }
            let mean = n > 0 ? s / Double(n) : .nan
            let variance = n > 0 ? Swift.max(0, s2 / Double(n) - mean * mean) : .nan
            return (mean, variance.squareRoot(), lo, hi, nan, inf)
        }
    }
}
