import Foundation
import LoupeModels
import LoupeTensor

/// The builtins, methods, value types and architectures of a list of cores, checked once: two
/// builtins (or value types, methods of one type, architectures) of one name are an error naming
/// both cores, unless they are methods of different types (the free function then picks by its
/// first argument's type), as is a method of a type no core declares. `help`, completion and method lookup
/// read this one table.
public struct BuiltinTable {
    /// The cores, in order.
    public let cores: [any ScriptCore]
    /// Every builtin by name.
    public let builtins: [String: Builtin]
    /// The core that declared each builtin.
    public let coreOfBuiltin: [String: String]
    /// Builtins that are methods, by receiver type and method name.
    let methods: [String: [String: Builtin]]
    /// Value types by name.
    let valueTypes: [String: ValueType]
    /// The architectures `model(path)` rebuilds, from every core.
    public let architectures: ArchitectureCatalog

    /// Builds the table of `cores`; throws on any clash of names.
    public init(cores: [any ScriptCore]) throws {
        var builtins: [String: Builtin] = [:]
        var owners: [String: String] = [:]
        var types: [String: ValueType] = [:]
        var typeOwners: [String: String] = [:]
        var catalog = ArchitectureCatalog()
        for core in cores {
            for b in core.builtins {
                if let other = owners[b.name], let existing = builtins[b.name] {
                    // Methods of different types may share a name (`split` of strings and of
                    // tensors); the free function then dispatches on its first argument.
                    let versions = existing.overloads.isEmpty ? [existing] : Array(existing.overloads.values)
                    guard let type = b.methodOf, versions.allSatisfy({ $0.methodOf != nil && $0.methodOf != type }) else {
                        throw LoupeError("builtin '\(b.name)' is declared twice: by the \(other) core and by the \(core.name) core")
                    }
                    builtins[b.name] = Builtin(overloading: versions + [b])
                    owners[b.name] = other + " and " + core.name
                    continue
                }
                builtins[b.name] = b
                owners[b.name] = core.name
            }
            for t in core.valueTypes {
                if let other = typeOwners[t.name] {
                    throw LoupeError("value type '\(t.name)' is declared twice: by the \(other) core and by the \(core.name) core")
                }
                types[t.name] = t
                typeOwners[t.name] = core.name
            }
            try catalog.add(core.architectures, owner: "the \(core.name) core")
        }
        var methods: [String: [String: Builtin]] = [:]
        for core in cores {
            for b in core.builtins {
                guard let type = b.methodOf else { continue }
                guard types[type] != nil else {
                    throw LoupeError("builtin '\(b.name)' of the \(core.name) core is a method of '\(type)', a type no core declares")
                }
                let method = b.methodName ?? b.name
                if let other = methods[type]?[method] {
                    throw LoupeError("method '\(method)' of \(type) is declared twice: by '\(other.name)' (\(owners[other.name] ?? "?") core) and by '\(b.name)' (\(core.name) core)")
                }
                methods[type, default: [:]][method] = b
            }
        }
        self.cores = cores
        self.builtins = builtins
        coreOfBuiltin = owners
        self.methods = methods
        valueTypes = types
        architectures = catalog
    }

    /// The table of `ScriptCores.standard`.
    public static var standard: BuiltinTable {
        get throws { try BuiltinTable(cores: ScriptCores.standard) }
    }
}
