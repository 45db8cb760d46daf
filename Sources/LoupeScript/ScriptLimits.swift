import LoupeTensor

/// Sizes of lists and strings the language refuses to build, so that a runaway loop (`x = x + x`)
/// fails with a message naming the limit instead of exhausting memory. The fuzz harness lowers
/// them so that every execution stays fast.
public enum ScriptLimits {
    /// The most items of a list built by `range` or `+`.
    nonisolated(unsafe) public static var maxListItems = 10_000_000
    /// The most characters of a string built by `+`, `*` or interpolation.
    nonisolated(unsafe) public static var maxStringLength = 100_000_000

    /// Throws when a list of `count` items is over the limit.
    static func checkList(_ count: Int, _ what: String) throws {
        guard count <= maxListItems else {
            throw LoupeError("\(what): \(count) items is too many (limit \(maxListItems))")
        }
    }

    /// Throws when a string of `length` UTF-8 bytes is over the limit.
    static func checkString(_ length: Int, _ what: String) throws {
        guard length <= maxStringLength else {
            throw LoupeError("\(what): a string of \(length) characters is too long (limit \(maxStringLength))")
        }
    }
}
