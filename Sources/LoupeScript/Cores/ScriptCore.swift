import Foundation
import LoupeModels

/// A part of the language, declared in one place: its builtins, the value types it introduces
/// (with their attributes; methods are builtins declared with `methodOf`) and the model
/// architectures `model(path)` can rebuild. The interpreter is built from the list in
/// `ScriptCores.standard`; `BuiltinTable` checks that no two cores declare the same name.
public protocol ScriptCore {
    /// The core's name in messages (`"tensor"`, `"models"`).
    var name: String { get }
    /// The builtins the core declares.
    var builtins: [Builtin] { get }
    /// The value types the core introduces.
    var valueTypes: [ValueType] { get }
    /// The architectures of the checkpoints the core's values are saved as.
    var architectures: [any Architecture.Type] { get }
}

extension ScriptCore {
    public var valueTypes: [ValueType] { [] }
    public var architectures: [any Architecture.Type] { [] }
}

/// A type of Loupe value (`type(x)`): its name, a short description, and the attributes of values
/// that are not handles (handles serve their own attributes, see `ScriptHandle`).
public struct ValueType {
    /// The name `type(x)` returns.
    public let name: String
    /// What the values are, in one line.
    public let doc: String
    /// The attribute names (for completion).
    public let attributeNames: [String]
    /// Reads attribute `name` of a value of this type; nil when it has none.
    let attribute: ((Value, String) throws -> Value?)?

    /// A value type; `attribute` reads the attributes listed in `attributeNames`.
    public init(_ name: String, _ doc: String, attributeNames: [String] = [],
                attribute: ((Value, String) throws -> Value?)? = nil) {
        self.name = name
        self.doc = doc
        self.attributeNames = attributeNames
        self.attribute = attribute
    }
}

/// A core assembled from parts (used by tests and embedders that add builtins of their own).
public struct CustomCore: ScriptCore {
    public var name: String
    public var builtins: [Builtin]
    public var valueTypes: [ValueType]
    public var architectures: [any Architecture.Type]

    public init(name: String, builtins: [Builtin], valueTypes: [ValueType] = [], architectures: [any Architecture.Type] = []) {
        self.name = name
        self.builtins = builtins
        self.valueTypes = valueTypes
        self.architectures = architectures
    }
}

/// The cores the language is built from.
public enum ScriptCores {
    /// Every core of the language: the one list `Interpreter()` is built from.
    public static let standard: [any ScriptCore] = [
        GeneralCore(), TensorCore(), IOCore(), ModelsCore(), InversionCore(), VisualizationCore(), PaintingCore(), GraftingCore(),
    ]
}
