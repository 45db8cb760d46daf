import Foundation
import LoupeTensor

/// A model that can be saved with its configuration and rebuilt by name (see `ArchitectureCatalog`).
public protocol Architecture: Module {
    /// The name stored as `loupe.architecture` (e.g. `"vit"`).
    static var architectureName: String { get }
    /// The configuration stored as `loupe.config` (JSON).
    func configurationJSON() throws -> String
    /// A model (weights not loaded) from a configuration written by `configurationJSON()`.
    static func build(configurationJSON: String) throws -> Module
    /// A model from its configuration, building any nested modules (e.g. a `Sequential`'s layers)
    /// through `catalog`. The default ignores the catalog and calls `build(configurationJSON:)`.
    static func build(configurationJSON: String, catalog: ArchitectureCatalog) throws -> Module
}

extension Architecture {
    public static func build(configurationJSON: String, catalog: ArchitectureCatalog) throws -> Module {
        try build(configurationJSON: configurationJSON)
    }
}
