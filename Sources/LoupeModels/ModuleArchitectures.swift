import Foundation
import LoupeTensor

// Small modules as architectures, so models edited by `replace` with them can be saved
// (`loupe.replacements`) and rebuilt by `loadModel`.

/// A configuration as JSON with sorted, snake_case keys (the `loupe.config` metadata, and
/// `m.config` in the language): the names the language's constructors take (`image_size`,
/// `mlp_ratio`). Configurations whose argument names differ from their Swift property names
/// (ViT's `patch`, ResNet's `small`) say so with their coding keys.
public func encodeConfiguration<C: Encodable>(_ config: C) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return String(decoding: try encoder.encode(config), as: UTF8.self)
}

/// A configuration from `loupe.config` JSON, with an error naming the architecture. Accepts the
/// snake_case keys `encodeConfiguration` writes and the camelCase keys of checkpoints saved
/// before it did (a camelCase key is left as it is by the snake_case conversion).
public func decodeConfiguration<C: Decodable>(_ type: C.Type, _ json: String, architecture: String) throws -> C {
    do {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(C.self, from: Data(json.utf8))
    } catch {
        throw LoupeError("model: '\(architecture)' configuration \(json) is not a valid \(C.self): \(error)")
    }
}

/// Architecture name and configuration of one module, as stored in `loupe.replacements` and in a
/// `Sequential`'s configuration.
struct ModuleSpec: Codable {
    var architecture: String
    var config: String

    init(_ module: Module, role: String) throws {
        guard let architecture = module as? any Architecture else {
            throw LoupeError("save_model: \(role) is a \(module.typeName), which cannot be saved (savable modules: \(savableModulesText))")
        }
        self.architecture = type(of: architecture).architectureName
        config = try architecture.configurationJSON()
    }

    /// The module, built through `catalog`.
    func build(_ catalog: ArchitectureCatalog) throws -> Module {
        try catalog.build(architecture: architecture, configurationJSON: config)
    }
}

/// The architectures of LoupeModels by name, for errors about modules that cannot be saved.
var savableModulesText: String {
    ArchitectureCatalog.loupeModelsArchitectures.map { $0.architectureName }.sorted().joined(separator: ", ")
}

extension Identity: Architecture {
    public static let architectureName = "identity"
    public func configurationJSON() throws -> String { "{}" }
    public static func build(configurationJSON: String) throws -> Module { Identity() }
}

extension ReLU: Architecture {
    public static let architectureName = "relu"
    public func configurationJSON() throws -> String { "{}" }
    public static func build(configurationJSON: String) throws -> Module { ReLU() }
}

extension GELU: Architecture {
    struct Config: Codable { var approximate: Bool }
    public static let architectureName = "gelu"
    public func configurationJSON() throws -> String { try encodeConfiguration(Config(approximate: approximate)) }
    public static func build(configurationJSON: String) throws -> Module {
        GELU(approximate: try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName).approximate)
    }
}

extension Linear: Architecture {
    struct Config: Codable { var inFeatures: Int; var outFeatures: Int; var bias: Bool }
    public static let architectureName = "linear"
    public func configurationJSON() throws -> String {
        try encodeConfiguration(Config(inFeatures: weight.shape[1], outFeatures: weight.shape[0], bias: bias != nil))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        guard c.inFeatures > 0, c.outFeatures > 0 else { throw LoupeError("model: 'linear' needs positive sizes, got \(configurationJSON)") }
        return try Linear(c.inFeatures, c.outFeatures, bias: c.bias)
    }
}

extension Conv2d: Architecture {
    struct Config: Codable { var inChannels: Int; var outChannels: Int; var kernel: Int; var stride: Int; var padding: Int; var groups: Int; var bias: Bool }
    public static let architectureName = "conv2d"
    public func configurationJSON() throws -> String {
        let shape = weight.shape
        guard shape[2] == shape[3], stride.0 == stride.1, padding.0 == padding.1 else {
            throw LoupeError("save_model: only square Conv2d kernels, strides and paddings can be saved, got weight \(describe(shape: shape))")
        }
        return try encodeConfiguration(Config(inChannels: shape[1] * groups, outChannels: shape[0], kernel: shape[2], stride: stride.0,
                                              padding: padding.0, groups: groups, bias: bias != nil))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        guard c.inChannels > 0, c.outChannels > 0, c.kernel > 0, c.stride > 0, c.padding >= 0 else {
            throw LoupeError("model: 'conv2d' needs positive sizes, got \(configurationJSON)")
        }
        return try Conv2d(c.inChannels, c.outChannels, kernel: c.kernel, stride: c.stride, padding: c.padding, groups: c.groups, bias: c.bias)
    }
}

extension LayerNorm: Architecture {
    struct Config: Codable { var dim: Int; var eps: Float }
    public static let architectureName = "layer_norm"
    public func configurationJSON() throws -> String { try encodeConfiguration(Config(dim: weight.shape[0], eps: eps)) }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        guard c.dim > 0 else { throw LoupeError("model: 'layer_norm' needs a positive dim, got \(configurationJSON)") }
        return try LayerNorm(c.dim, eps: c.eps)
    }
}

extension MLP: Architecture {
    /// `approximate` (tanh GELU) is written only when set, so exact-GELU configurations read as before.
    struct Config: Codable { var dim: Int; var hidden: Int; var approximate: Bool? }
    public static let architectureName = "mlp"
    public func configurationJSON() throws -> String {
        try encodeConfiguration(Config(dim: fc1.weight.shape[1], hidden: fc1.weight.shape[0], approximate: act.approximate ? true : nil))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        guard c.dim > 0, c.hidden > 0 else { throw LoupeError("model: 'mlp' needs positive sizes, got \(configurationJSON)") }
        return try MLP(dim: c.dim, hidden: c.hidden, approximateGELU: c.approximate ?? false)
    }
}

extension ViTBlock: Architecture {
    public static let architectureName = "vit_block"
    public func configurationJSON() throws -> String { try encodeConfiguration(config) }
    public static func build(configurationJSON: String) throws -> Module {
        let config = try decodeConfiguration(ViTConfig.self, configurationJSON, architecture: architectureName)
        try config.validate()
        return try ViTBlock(config: config)
    }
}

extension Sequential: Architecture {
    struct Config: Codable { var layers: [ModuleSpec] }
    public static let architectureName = "sequential"
    public func configurationJSON() throws -> String {
        try encodeConfiguration(Config(layers: try layers.enumerated().map { try ModuleSpec($1, role: "layer \($0) of a Sequential") }))
    }
    /// A Sequential whose layers are LoupeModels' architectures.
    public static func build(configurationJSON: String) throws -> Module {
        try build(configurationJSON: configurationJSON, catalog: try .loupeModels)
    }
    /// A Sequential whose layers are built through `catalog`.
    public static func build(configurationJSON: String, catalog: ArchitectureCatalog) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        return Sequential(try c.layers.map { try $0.build(catalog) })
    }
}
