import Foundation
import LoupeTensor

/// Tensor statistics for display.
enum TensorExtras {
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
