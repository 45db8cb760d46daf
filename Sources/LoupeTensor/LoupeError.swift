/// The one error type every Loupe core throws. Its message names the operation and the
/// offending shapes, files or positions, e.g. `matmul: inner dimensions differ: [2, 3] @ [4, 5]`.
public struct LoupeError: Error, CustomStringConvertible, Equatable, Sendable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Formats a shape the way error messages show it: `[2, 3]`.
@inlinable
public func describe(shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
