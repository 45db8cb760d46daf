import LoupeModels
import LoupeTensor

// The grafting operators as architectures, so a model edited by `replace` with them saves its
// replacements (`loupe.replacements`) and `loadModel` rebuilds it through a catalog holding
// `GraftingArchitectures.operators` (see `GraftingArchitectures.catalog`). Names are the grafting
// code's operator names; configurations its constructor arguments (snake_case JSON).

/// The grafting operators' architectures and a catalog that rebuilds grafted models.
///
/// LoupeModels' catalog (`ArchitectureCatalog.loupeModels`) cannot name these types (LoupeGrafting
/// sits above it), so a layer above both adds them: Swift callers use `catalog`; the script
/// layer's grafting core returns `operators` from its `ScriptCore.architectures`, and
/// `BuiltinTable` merges every core's list into the catalog `model(path)` loads through (a name
/// declared twice is an error naming both owners).
public enum GraftingArchitectures {
    /// Hyena-X, -Y, -SE, sliding-window attention, Mamba-2 and MLP-Hyena-X. (The ratio-3 and
    /// ratio-6 MLPs are LoupeModels' `mlp` with `approximate` GELU.)
    public static let operators: [any Architecture.Type] = [
        HyenaX.self, HyenaY.self, HyenaSE.self, SlidingWindowAttention.self, Mamba2.self, MLPHyenaX.self,
    ]

    /// LoupeModels' architectures plus `operators`.
    public static var catalog: ArchitectureCatalog {
        get throws {
            var catalog = try ArchitectureCatalog.loupeModels
            try catalog.add(operators, owner: "LoupeGrafting")
            return catalog
        }
    }

    /// timm's `Mlp` with hidden width `ratio * dim` and tanh GELU, as the grafting code's
    /// `mlp_ratio_3` / `mlp_ratio_6` replacements (`fc1`, `fc2`), with torch's default
    /// initialisation drawn from `generator`.
    public static func ratioMLP(dim: Int, ratio: Int, generator: inout RandomGenerator) throws -> MLP {
        guard dim > 0, ratio > 0 else { throw LoupeError("ratioMLP: needs a positive width and ratio, got \(dim) and \(ratio)") }
        let mlp = try MLP(dim: dim, hidden: ratio * dim, approximateGELU: true)
        try mlp.resetParameters(generator: &generator)
        return mlp
    }
}

extension HyenaX: Architecture {
    struct Config: Codable { var dModel: Int; var shortFilterOrder: Int }
    public static let architectureName = "hyena_x"
    public func configurationJSON() throws -> String {
        try encodeConfiguration(Config(dModel: dim, shortFilterOrder: shortFilter.kernel))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        return try HyenaX(dim: c.dModel, shortFilterOrder: c.shortFilterOrder)
    }
}

extension HyenaY: Architecture {
    struct Config: Codable { var dModel: Int; var innerFilterLen: Int }
    public static let architectureName = "hyena_y"
    public func configurationJSON() throws -> String {
        try encodeConfiguration(Config(dModel: dim, innerFilterLen: innerFilter.kernel))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        return try HyenaY(dim: c.dModel, innerFilterLength: c.innerFilterLen)
    }
}

extension HyenaSE: Architecture {
    struct Config: Codable { var dModel: Int; var shortFilterOrder: Int }
    public static let architectureName = "hyena_se"
    public func configurationJSON() throws -> String {
        try encodeConfiguration(Config(dModel: dim, shortFilterOrder: shortFilter.kernel))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        return try HyenaSE(dim: c.dModel, shortFilterOrder: c.shortFilterOrder)
    }
}

extension SlidingWindowAttention: Architecture {
    struct Config: Codable { var embedDim: Int; var numHeads: Int; var windowSize: [Int]; var qkvProjBias: Bool; var outProjBias: Bool }
    public static let architectureName = "swa"
    public func configurationJSON() throws -> String {
        try encodeConfiguration(Config(embedDim: dim, numHeads: heads, windowSize: [left, right],
                                       qkvProjBias: wqkv.bias != nil, outProjBias: outProj.bias != nil))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        guard c.windowSize.count == 2 else {
            throw LoupeError("model: 'swa' needs window_size [left, right], got \(configurationJSON)")
        }
        return try SlidingWindowAttention(dim: c.embedDim, heads: c.numHeads, left: c.windowSize[0], right: c.windowSize[1],
                                          qkvBias: c.qkvProjBias, outBias: c.outProjBias)
    }
}

extension Mamba2: Architecture {
    public static let architectureName = "mamba2"
    public func configurationJSON() throws -> String { try encodeConfiguration(config) }
    public static func build(configurationJSON: String) throws -> Module {
        try Mamba2(try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName))
    }
}

extension MLPHyenaX: Architecture {
    struct Config: Codable { var dModel: Int; var lMax: Int; var expansionRatio: Int; var shortFilterOrder: Int }
    public static let architectureName = "mlp_hyena_x"
    public func configurationJSON() throws -> String {
        try encodeConfiguration(Config(dModel: dim, lMax: tokens, expansionRatio: expansionRatio, shortFilterOrder: shortFilter.kernel))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        return try MLPHyenaX(dim: c.dModel, tokens: c.lMax, expansionRatio: c.expansionRatio, shortFilterOrder: c.shortFilterOrder)
    }
}
