/// Tensor creation: ranges, identity matrices and seeded random tensors.
extension Tensor {
    /// Values `start, start + step, ...` below `end` (above `end` for a negative step), like
    /// `torch.arange`.
    public static func arange(start: Float = 0, end: Float, step: Float = 1) throws -> Tensor {
        guard step != 0, step.isFinite, start.isFinite, end.isFinite else {
            throw LoupeError("arange: invalid range start \(start), end \(end), step \(step)")
        }
        let length = (Double(end) - Double(start)) / Double(step)
        guard length <= Double(1 << 40) else {
            throw LoupeError("arange: range start \(start), end \(end), step \(step) is too large")
        }
        let count = Swift.max(0, Int(length.rounded(.up)))
        let result = Tensor.uninitialized([count])
        let p = result.storage.pointer
        for i in 0..<count { p[i] = Float(Double(start) + Double(i) * Double(step)) }
        return result
    }

    /// `count` evenly spaced values from `start` to `end` inclusive, like `torch.linspace`.
    public static func linspace(_ start: Float, _ end: Float, count: Int) throws -> Tensor {
        guard count >= 0 else { throw LoupeError("linspace: count must be non-negative, got \(count)") }
        _ = try checkedCount([count], op: "linspace")
        let result = Tensor.uninitialized([count])
        let p = result.storage.pointer
        if count == 1 { p[0] = start }
        if count > 1 {
            let step = (Double(end) - Double(start)) / Double(count - 1)
            // Fill from both ends as torch does so that the last value is exactly `end`.
            let half = count / 2
            for i in 0..<count {
                p[i] = i < half ? Float(Double(start) + step * Double(i))
                                : Float(Double(end) - step * Double(count - 1 - i))
            }
        }
        return result
    }

    /// An `n` x `m` matrix (m defaults to n) with ones on the diagonal.
    public static func eye(_ n: Int, _ m: Int? = nil) throws -> Tensor {
        let cols = m ?? n
        guard n >= 0, cols >= 0 else { throw LoupeError("eye: sizes must be non-negative, got \(n) x \(cols)") }
        let result = try Tensor.zeros([n, cols])
        for i in 0..<Swift.min(n, cols) { result.storage.pointer[i * cols + i] = 1 }
        return result
    }

    /// Uniform values in [low, high).
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1,
                               generator: inout RandomGenerator) throws -> Tensor {
        let count = try checkedCount(shape, op: "uniform")
        guard low <= high, low.isFinite, high.isFinite else {
            throw LoupeError("uniform: invalid bounds low \(low), high \(high)")
        }
        let result = Tensor.uninitialized(shape)
        let p = result.storage.pointer
        let width = high - low
        for i in 0..<count { p[i] = low + width * generator.nextUniform() }
        return result
    }

    /// Normal values with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float = 1,
                              generator: inout RandomGenerator) throws -> Tensor {
        let count = try checkedCount(shape, op: "normal")
        guard std >= 0, std.isFinite, mean.isFinite else {
            throw LoupeError("normal: invalid mean \(mean) or std \(std)")
        }
        let result = Tensor.uninitialized(shape)
        let p = result.storage.pointer
        for i in 0..<count { p[i] = mean + std * generator.nextNormal() }
        return result
    }

    /// Uniform integers in `low..<high`, stored as floats.
    public static func randint(_ shape: [Int], low: Int = 0, high: Int,
                               generator: inout RandomGenerator) throws -> Tensor {
        let count = try checkedCount(shape, op: "randint")
        guard low < high else { throw LoupeError("randint: empty range \(low)..<\(high)") }
        guard !high.subtractingReportingOverflow(low).overflow else {
            throw LoupeError("randint: range \(low)..<\(high) is too large")
        }
        let result = Tensor.uninitialized(shape)
        let p = result.storage.pointer
        for i in 0..<count { p[i] = Float(low + generator.nextInt(below: high - low)) }
        return result
    }
}
