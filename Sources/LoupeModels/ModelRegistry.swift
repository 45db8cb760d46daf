import Foundation
import LoupeTensor

/// A model that can be saved with its configuration and rebuilt by name.
public protocol Architecture: Module {
    /// The name stored as `loupe.architecture` (e.g. `"vit"`).
    static var architectureName: String { get }
    /// The configuration stored as `loupe.config` (JSON).
    func configurationJSON() throws -> String
    /// A model (weights not loaded) from a configuration written by `configurationJSON()`.
    static func build(configurationJSON: String) throws -> Module
}

/// Architectures by name, so `loadModel` can rebuild any Loupe checkpoint from its metadata.
public enum ModelRegistry {
    nonisolated(unsafe) private static var builders: [String: (String) throws -> Module] = [
        VisionTransformer.architectureName: VisionTransformer.build,
        ResNet.architectureName: ResNet.build,
        // Modules that can stand in for others in a model edited by `replace`.
        Identity.architectureName: Identity.build,
        ReLU.architectureName: ReLU.build,
        GELU.architectureName: GELU.build,
        Linear.architectureName: Linear.build,
        Conv2d.architectureName: Conv2d.build,
        LayerNorm.architectureName: LayerNorm.build,
        MLP.architectureName: MLP.build,
        ViTBlock.architectureName: ViTBlock.build,
        Sequential.architectureName: Sequential.build,
    ]
    private static let lock = NSLock()

    /// Registers (or replaces) an architecture.
    public static func register<A: Architecture>(_ type: A.Type) {
        lock.lock()
        defer { lock.unlock() }
        builders[A.architectureName] = A.build
    }

    /// The registered names, sorted.
    public static var names: [String] {
        lock.lock()
        defer { lock.unlock() }
        return builders.keys.sorted()
    }

    /// Builds the architecture `name` from its JSON configuration.
    public static func build(architecture name: String, configurationJSON: String) throws -> Module {
        lock.lock()
        let builder = builders[name]
        lock.unlock()
        guard let builder else {
            throw LoupeError("loadModel: unknown architecture '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        return try builder(configurationJSON)
    }
}
