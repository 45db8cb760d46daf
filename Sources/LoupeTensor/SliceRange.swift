/// A Python slice `start:end:step` resolved against a sequence of `length` items: the `count`
/// positions `first, first + step, ...`. Bounds clamp like Python's (negative bounds count from
/// the end); the slice of tensors, lists and strings alike.
public struct SliceRange: Equatable, Sendable {
    public let first: Int
    public let step: Int
    public let count: Int

    /// Resolves `start:end:step` (nil = Python's defaults). Throws for a zero step.
    public init(start: Int?, end: Int?, step: Int?, length: Int, op: String = "index") throws {
        let step = step ?? 1
        guard step != 0 else { throw LoupeError("\(op): slice step cannot be zero") }
        guard step != Int.min else { throw LoupeError("\(op): slice step \(step) is out of range") }
        self.init(start: start, end: end, validStep: step, length: length)
    }

    /// Resolves a slice whose step is known to be neither 0 nor `Int.min`.
    init(start: Int?, end: Int?, validStep step: Int, length n: Int) {
        self.step = step
        if step > 0 {
            var s = start ?? 0, e = end ?? n
            if s < 0 { s += n }; if e < 0 { e += n }
            s = Swift.min(Swift.max(s, 0), n); e = Swift.min(Swift.max(e, 0), n)
            first = s
            count = e > s ? (e - s - 1) / step + 1 : 0
        } else {
            var s = start ?? n - 1, e = end ?? -n - 1
            if s < 0 { s += n }; if e < 0 { e += n }
            s = Swift.min(Swift.max(s, -1), n - 1); e = Swift.min(Swift.max(e, -1), n - 1)
            first = s
            count = s > e ? (s - e - 1) / (-step) + 1 : 0
        }
    }

    /// The selected positions in order.
    public var indices: [Int] { (0..<count).map { first + $0 * step } }
}
