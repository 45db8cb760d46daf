import Foundation
import LoupeTensor

/// The architectures a checkpoint may name, by `architectureName`: `loadModel` rebuilds a model
/// from its `loupe.architecture` and `loupe.config` metadata through a catalog, and so do the
/// nested specs inside it (a `Sequential`'s layers, `loupe.replacements`). A catalog is a value
/// built from an explicit list of types; two architectures of one name are an error.
public struct ArchitectureCatalog {
    /// An architecture and who contributed it (named in errors about duplicates).
    private struct Entry {
        var type: any Architecture.Type
        var owner: String
    }

    private var entries: [String: Entry] = [:]

    /// An empty catalog.
    public init() {}

    /// A catalog of `architectures`, contributed by `owner`. Throws when two share a name.
    public init(_ architectures: [any Architecture.Type], owner: String = "LoupeModels") throws {
        try add(architectures, owner: owner)
    }

    /// Adds `architectures` contributed by `owner`; throws when a name is already in the catalog,
    /// naming both owners.
    public mutating func add(_ architectures: [any Architecture.Type], owner: String) throws {
        for type in architectures {
            let name = type.architectureName
            if let existing = entries[name] {
                throw LoupeError("architecture '\(name)' is declared twice: by \(existing.owner) (\(existing.type)) and by \(owner) (\(type))")
            }
            entries[name] = Entry(type: type, owner: owner)
        }
    }

    /// The architecture names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The architecture of a name, if the catalog has it.
    public func architecture(named name: String) -> (any Architecture.Type)? { entries[name]?.type }

    /// Builds the architecture `name` from its JSON configuration (weights not loaded).
    public func build(architecture name: String, configurationJSON: String) throws -> Module {
        guard let type = entries[name]?.type else {
            throw LoupeError("model: unknown architecture '\(name)' (known: \(names.joined(separator: ", ")))")
        }
        return try type.build(configurationJSON: configurationJSON, catalog: self)
    }
}

extension ArchitectureCatalog {
    /// The architectures LoupeModels defines: the ViT, ResNet, DETR, StyleGAN2 generator and discriminator, DiT and the Stable Diffusion VAE, and the modules that can stand
    /// in for others in a model edited by `replace`.
    public static let loupeModelsArchitectures: [any Architecture.Type] = [
        VisionTransformer.self, ResNet.self, DETR.self, StyleGAN2.self, StyleGAN2Discriminator.self, DiT.self,
        AutoencoderKL.self,
        Identity.self, ReLU.self, GELU.self, Linear.self, Conv2d.self, ConvTranspose2d.self, LayerNorm.self, MLP.self,
        ViTBlock.self, Sequential.self,
    ]

    /// A catalog of `loupeModelsArchitectures`, for Swift callers loading LoupeModels' checkpoints.
    public static var loupeModels: ArchitectureCatalog {
        get throws { try ArchitectureCatalog(loupeModelsArchitectures) }
    }
}
