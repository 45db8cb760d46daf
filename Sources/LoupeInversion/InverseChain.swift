import Foundation
import LoupeInputOptimization
import LoupeTensor
import LoupeModels

/// The kind of patch-embedding inverse at the end of a ViT inverse chain.
public enum PatchInverseKind: String, Codable, Sendable, CaseIterable {
    case analytic, linear, enhanced
}

/// How a ViT's depth is cut into inverse modules.
public enum InverseLayout: Equatable, Sendable {
    /// One inverse module per block: `blocks.i` -> `blocks.(i-1)` (`tokens` for block 0).
    case blocks
    /// One per residual sub-layer: `blocks.i` -> `blocks.i.resid_attn` -> `blocks.(i-1)`.
    case sublayers
    /// Groups of this many blocks, each inverted by a module of as many blocks (the whole
    /// depth in one module when it is the model's depth).
    case stages(Int)
}

/// The model an inverse chain inverts: a ViT, or a DETR with the image size its inverse
/// reconstructs.
public enum InverseSource: Equatable, Sendable {
    case vit(ViTConfig)
    case detr(DETRConfig, height: Int, width: Int)

    /// The source model's architecture name (`vit`, `detr`).
    public var architecture: String {
        switch self {
        case .vit: return VisionTransformer.architectureName
        case .detr: return DETR.architectureName
        }
    }
}

/// What an inverse chain is made of: stages mapping the representation at `from` to the
/// representation at `to` (a capture path of the source model; `pixels`, the image in [0, 1];
/// or DETR's `predictions`), the source model and its input normalisation.
public struct InverseChainConfig: Codable, Equatable, Sendable {
    public struct Stage: Codable, Equatable, Sendable {
        public var from: String
        public var to: String
        /// ViT: `analytic`, `linear`, `enhanced` (patch inverses) or `blocks`. DETR: `backbone`,
        /// `encoder`, `decoder` or `predictor`.
        public var kind: String
        /// Blocks or layers of a `blocks`, `encoder` or `decoder` module.
        public var depth: Int?
        /// Stage widths of an `enhanced` patch inverse or a `backbone` inverse; hidden widths of a
        /// `predictor`.
        public var widths: [Int]?

        public init(from: String, to: String, kind: String, depth: Int? = nil, widths: [Int]? = nil) {
            self.from = from
            self.to = to
            self.kind = kind
            self.depth = depth
            self.widths = widths
        }
    }

    public var stages: [Stage]
    public var source: InverseSource
    /// The source model's input normalisation.
    public var normalization: Normalization

    public init(stages: [Stage], source: InverseSource, normalization: Normalization) {
        self.stages = stages
        self.source = source
        self.normalization = normalization
    }

    public init(stages: [Stage], source: ViTConfig, normalization: Normalization) {
        self.init(stages: stages, source: .vit(source), normalization: normalization)
    }

    /// The source model's architecture name (`vit`, `detr`).
    public var sourceArchitecture: String { source.architecture }

    /// The ViT configuration of a ViT chain.
    func vitSource(op: String) throws -> ViTConfig {
        guard case .vit(let config) = source else { throw LoupeError("\(op): the inverse is for a \(sourceArchitecture), not a ViT") }
        return config
    }

    private enum CodingKeys: String, CodingKey { case stages, sourceArchitecture, source, imageSize, normalization }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        stages = try c.decode([Stage].self, forKey: .stages)
        normalization = try c.decode(Normalization.self, forKey: .normalization)
        let architecture = try c.decodeIfPresent(String.self, forKey: .sourceArchitecture) ?? VisionTransformer.architectureName
        switch architecture {
        case VisionTransformer.architectureName:
            source = .vit(try c.decode(ViTConfig.self, forKey: .source))
        case DETR.architectureName:
            let size = try c.decode([Int].self, forKey: .imageSize)
            guard size.count == 2 else {
                throw DecodingError.dataCorruptedError(forKey: .imageSize, in: c, debugDescription: "imageSize must be [height, width]")
            }
            source = .detr(try c.decode(DETRConfig.self, forKey: .source), height: size[0], width: size[1])
        default:
            throw DecodingError.dataCorruptedError(forKey: .sourceArchitecture, in: c,
                                                   debugDescription: "unknown source architecture '\(architecture)' (vit, detr)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(stages, forKey: .stages)
        try c.encode(sourceArchitecture, forKey: .sourceArchitecture)
        switch source {
        case .vit(let config):
            try c.encode(config, forKey: .source)
        case .detr(let config, let height, let width):
            try c.encode(config, forKey: .source)
            try c.encode([height, width], forKey: .imageSize)
        }
        try c.encode(normalization, forKey: .normalization)
    }

    /// The representation name of pixels, the end of every chain.
    public static let pixels = "pixels"

    /// The stages of a ViT chain for `layout`, deepest first, ending with the patch inverse.
    public static func vit(_ config: ViTConfig, layout: InverseLayout = .blocks, patch: PatchInverseKind = .linear,
                           normalization: Normalization? = nil) throws -> InverseChainConfig {
        func before(_ block: Int) -> String { block == 0 ? "tokens" : "blocks.\(block - 1)" }
        var stages: [Stage] = []
        switch layout {
        case .blocks:
            for i in stride(from: config.depth - 1, through: 0, by: -1) {
                stages.append(Stage(from: "blocks.\(i)", to: before(i), kind: "blocks", depth: 1))
            }
        case .sublayers:
            for i in stride(from: config.depth - 1, through: 0, by: -1) {
                stages.append(Stage(from: "blocks.\(i)", to: "blocks.\(i).resid_attn", kind: "blocks", depth: 1))
                stages.append(Stage(from: "blocks.\(i).resid_attn", to: before(i), kind: "blocks", depth: 1))
            }
        case .stages(let size):
            guard size >= 1 else { throw LoupeError("inverse: stage size must be at least 1, got \(size)") }
            var end = config.depth - 1
            while end >= 0 {
                let start = max(0, end - size + 1)
                stages.append(Stage(from: "blocks.\(end)", to: before(start), kind: "blocks", depth: end - start + 1))
                end = start - 1
            }
        }
        let layoutOfTokens = TokenLayout(config)
        let widths = patch == .enhanced ? try EnhancedPatchInverse.defaultWidths(layoutOfTokens) : nil
        stages.append(Stage(from: "tokens", to: pixels, kind: patch.rawValue, widths: widths))
        return InverseChainConfig(stages: stages, source: config,
                                  normalization: normalization ?? .identity(channels: config.channels))
    }

    /// The stages of a DETR chain for images `height x width`, deepest first, as Rathjens et al.:
    /// the inverse predictor (`predictions` -> the last decoder output), the inverse decoder (->
    /// `transformer.encoder`), the inverse encoder (-> `input_proj`, the backbone embedding) and the
    /// backbone inverse (-> pixels). Depths default to the model's; normalisation to ImageNet's.
    public static func detr(_ config: DETRConfig, height: Int, width: Int, encoderDepth: Int? = nil, decoderDepth: Int? = nil,
                            backboneWidths: [Int]? = nil, predictorWidths: [Int]? = nil,
                            normalization: Normalization? = nil) throws -> InverseChainConfig {
        try config.validate()
        let decoderOutput = "transformer.decoder.layers.\(config.decoderLayers - 1).normed"
        let layout = DETRInverseLayout(config, height: height, width: width)
        let stages = [
            Stage(from: DETR.predictionsPath, to: decoderOutput, kind: "predictor", widths: predictorWidths ?? [512, 256]),
            Stage(from: decoderOutput, to: "transformer.encoder", kind: "decoder", depth: decoderDepth ?? config.decoderLayers),
            Stage(from: "transformer.encoder", to: "input_proj", kind: "encoder", depth: encoderDepth ?? config.encoderLayers),
            Stage(from: "input_proj", to: pixels, kind: "backbone", widths: backboneWidths ?? DETRBackboneInverse.defaultWidths(layout)),
        ]
        return InverseChainConfig(stages: stages, source: .detr(config, height: height, width: width),
                                  normalization: normalization ?? .imageNet)
    }
}

/// A chain of inverse modules (`stages.i`) reconstructing images from any captured depth of a
/// source model. A ViT's chain is saved by `saveModel` as architecture `vit-inverse`, a DETR's
/// (`DETRInverseChain`) as `detr-inverse`, each with its `InverseChainConfig` as `loupe.config`;
/// `InverseChain.load` rebuilds either.
public class InverseChain: Module, Architecture {
    public class var architectureName: String { "vit-inverse" }

    public let config: InverseChainConfig
    public let stageModules: [Module]
    private let container: Sequential

    /// A chain with fresh (zero) modules; initialise with `initialize(generator:)` or load weights.
    /// `make(_:)` gives a DETR's chain its own class.
    public init(_ config: InverseChainConfig) throws {
        guard !config.stages.isEmpty else { throw LoupeError("inverse: a chain needs at least one stage") }
        self.config = config
        stageModules = try config.stages.map { try InverseChain.module(for: $0, of: config) }
        for (index, stage) in config.stages.enumerated() where index > 0 {
            guard config.stages[index - 1].to == stage.from else {
                throw LoupeError("inverse: stage \(index) starts at '\(stage.from)' but the previous one ends at '\(config.stages[index - 1].to)'")
            }
        }
        guard config.stages.last?.to == InverseChainConfig.pixels else {
            throw LoupeError("inverse: the last stage must end at '\(InverseChainConfig.pixels)'")
        }
        container = Sequential(stageModules)
        super.init()
        registerModule("stages", container)
        if case .detr = config.source, !(self is DETRInverseChain) {
            throw LoupeError("inverse: a DETR's chain is a DETRInverseChain (InverseChain.make builds the right one)")
        }
    }

    /// A chain of the class for `config`'s source: `DETRInverseChain` for a DETR.
    public static func make(_ config: InverseChainConfig) throws -> InverseChain {
        if case .detr = config.source { return try DETRInverseChain(config) }
        return try InverseChain(config)
    }

    /// The inverse module of one stage.
    static func module(for stage: InverseChainConfig.Stage, of config: InverseChainConfig) throws -> Module {
        switch config.source {
        case .vit(let vit):
            try vit.validate()
            let layout = TokenLayout(vit)
            switch stage.kind {
            case "analytic": return try AnalyticPatchInverse(layout: layout, positionEmbedsClassToken: vit.positionEmbedsClassToken)
            case "linear": return try LinearPatchInverse(layout: layout)
            case "enhanced": return try EnhancedPatchInverse(layout: layout, widths: stage.widths)
            case "blocks": return try BlockInverse(config: vit, depth: stage.depth ?? 1)
            default: throw LoupeError("inverse: unknown stage kind '\(stage.kind)' for a ViT (analytic, linear, enhanced, blocks)")
            }
        case .detr(let detr, let height, let width):
            try detr.validate()
            let layout = DETRInverseLayout(detr, height: height, width: width)
            switch stage.kind {
            case "backbone": return try DETRBackboneInverse(layout: layout, widths: stage.widths)
            case "encoder": return try DETREncoderInverse(layout: layout, heads: detr.heads, ffn: detr.ffn, depth: stage.depth ?? detr.encoderLayers)
            case "decoder":
                return try DETRDecoderInverse(layout: layout, queries: detr.queries, heads: detr.heads, ffn: detr.ffn,
                                              depth: stage.depth ?? detr.decoderLayers)
            case "predictor": return try DETRPredictorInverse(classes: detr.classes, dim: detr.dim, hidden: stage.widths)
            default: throw LoupeError("inverse: unknown stage kind '\(stage.kind)' for a DETR (backbone, encoder, decoder, predictor)")
            }
        }
    }

    /// A ViT chain with random initial weights (the analytic patch inverse computed from `model`).
    public convenience init(model: VisionTransformer, layout: InverseLayout = .blocks, patch: PatchInverseKind = .linear,
                            normalization: Normalization? = nil, generator: inout RandomGenerator) throws {
        try self.init(try InverseChainConfig.vit(model.config, layout: layout, patch: patch, normalization: normalization))
        try initialize(generator: &generator)
        try setAnalytic(from: model)
    }

    public override var typeName: String { "InverseChain" }

    /// Random initial weights for every learned module (see `InverseInitialization`).
    public func initialize(generator: inout RandomGenerator) throws {
        for module in stageModules { try InverseInitialization.initialize(module, generator: &generator) }
    }

    /// Fills the analytic patch inverses from `model`'s patch embedding.
    public func setAnalytic(from model: VisionTransformer) throws {
        for case let analytic as AnalyticPatchInverse in stageModules {
            let computed = try AnalyticPatchInverse(model: model)
            analytic.pseudoInverse.value = computed.pseudoInverse.value
            analytic.positionEmbedding.value = computed.positionEmbedding.value
            analytic.bias.value = computed.bias.value
        }
    }

    /// The paths a reconstruction can start from, deepest first.
    public var startPaths: [String] { config.stages.map(\.from) }

    /// The index of the stage starting at `path`.
    func stageIndex(from path: String) throws -> Int {
        guard let index = config.stages.firstIndex(where: { $0.from == path }) else {
            throw LoupeError("reconstruct: the inverse has no stage starting at '\(path)' (starts: \(startPaths.joined(separator: ", ")))")
        }
        return index
    }

    /// Runs stage `index` on `x`; patch inverses return images in [0, 1] (the analytic one
    /// through the inverse normalisation, unclamped, so it stays exact).
    public func runStage(_ index: Int, _ x: Tensor) throws -> Tensor {
        let output = try ForwardContext().run(stageModules[index], x)
        if stageModules[index] is AnalyticPatchInverse { return try config.normalization.invert(output) }
        return output
    }

    /// Chains the stages from the activation `activation` at `path` down to pixels `[B, C, H, W]`.
    public func reconstruct(_ activation: Tensor, from path: String) throws -> Tensor {
        var x = activation
        for index in try stageIndex(from: path)..<stageModules.count { x = try runStage(index, x) }
        return x
    }

    /// Reconstructs from a record of captured activations.
    public func reconstruct(_ activations: [String: Tensor], from path: String) throws -> Tensor {
        guard let activation = activations[path] else {
            throw LoupeError("reconstruct: no captured activation '\(path)' (captured: \(activations.keys.sorted().joined(separator: ", ")))")
        }
        return try reconstruct(activation, from: path)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try reconstruct(input, from: config.stages[0].from)
    }

    // MARK: Saving

    public func configurationJSON() throws -> String {
        try encodeConfiguration(config)
    }

    public class func build(configurationJSON: String) throws -> Module {
        try make(try decodeConfiguration(InverseChainConfig.self, configurationJSON, architecture: architectureName))
    }

    /// Saves the chain (weights and buffers, with its configuration as metadata).
    public func save(to path: String) throws {
        try saveModel(self, to: path)
    }

    /// Loads a chain saved by `save(to:)`.
    public static func load(_ path: String) throws -> InverseChain {
        try load(path, architectures: try ArchitectureCatalog(InverseChain.architectures, owner: "LoupeInversion"))
    }

    /// The architectures of inverse chains, for a catalog.
    public static let architectures: [any Architecture.Type] = [InverseChain.self, DETRInverseChain.self]

    /// Loads a chain saved by `save(to:)`, rebuilt through `architectures` (which must hold
    /// `InverseChain.architectures`).
    public static func load(_ path: String, architectures: ArchitectureCatalog) throws -> InverseChain {
        guard let chain = try loadModel(path, architectures: architectures) as? InverseChain else {
            throw LoupeError("load_inverse: '\(path)' is not an inverse chain (architecture vit-inverse or detr-inverse)")
        }
        return chain
    }
}

/// A DETR's inverse chain (see `InverseChainConfig.detr`), saved as architecture `detr-inverse`.
public final class DETRInverseChain: InverseChain {
    public override class var architectureName: String { "detr-inverse" }

    /// A DETR chain for `model` and images `height x width` with random initial weights.
    public convenience init(model: DETR, height: Int, width: Int, encoderDepth: Int? = nil, decoderDepth: Int? = nil,
                            normalization: Normalization? = nil, generator: inout RandomGenerator) throws {
        try self.init(try InverseChainConfig.detr(model.config, height: height, width: width, encoderDepth: encoderDepth,
                                                  decoderDepth: decoderDepth, normalization: normalization))
        try initialize(generator: &generator)
    }

    public override var typeName: String { "DETRInverseChain" }
}
