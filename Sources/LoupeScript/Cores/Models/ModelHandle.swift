import Foundation
import LoupeModels

/// A model as a Loupe value (`type(m)` is `"model"`): the module tree, plus the class names
/// `predict` prints and the metadata a checkpoint carried.
public final class ModelHandle: ScriptHandle {
    /// The root module. Its parameters are shared with every handle made from it by `replace`.
    public let module: Module
    /// Class names by index (from checkpoint metadata `loupe.classes`, or a data set), if known.
    public var classNames: [String]?

    public init(_ module: Module, classNames: [String]? = nil) {
        self.module = module
        self.classNames = classNames
    }

    public var typeName: String { "model" }

    public var summary: String {
        "\(module.typeName), \(ModelHandle.formatCount(module.parameterCount)) parameters"
    }

    /// 1234567 -> "1.23M".
    static func formatCount(_ n: Int) -> String {
        if n >= 1_000_000 { return String(format: "%.2fM", Double(n) / 1e6) }
        if n >= 10_000 { return String(format: "%.1fk", Double(n) / 1e3) }
        return String(n)
    }
}
