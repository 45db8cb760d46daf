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

/// What an inverse chain is made of: stages mapping the activation at `from` to the
/// representation at `to` (a capture path of the source model, or `pixels`: the image in
/// [0, 1]), and the source model's configuration. Architecture-neutral: a DETR chain lists its
/// own paths and module kinds.
public struct InverseChainConfig: Codable, Equatable, Sendable {
    public struct Stage: Codable, Equatable, Sendable {
        public var from: String
        public var to: String
        /// `analytic`, `linear`, `enhanced` (patch inverses) or `blocks`.
        public var kind: String
        /// Blocks of a `blocks` module.
        public var depth: Int?
        /// Stage widths of an `enhanced` patch inverse.
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
    /// The source model's architecture name (`vit`) and configuration.
    public var sourceArchitecture: String
    public var source: ViTConfig
    /// The source model's input normalisation.
    public var normalization: Normalization

    public init(stages: [Stage], source: ViTConfig, normalization: Normalization, sourceArchitecture: String = "vit") {
        self.stages = stages
        self.source = source
        self.normalization = normalization
        self.sourceArchitecture = sourceArchitecture
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
}

/// A chain of inverse modules (`stages.i`) reconstructing images from any captured depth of a
/// source model. Saved by `saveModel` as architecture `vit-inverse` with its
/// `InverseChainConfig` as `loupe.config`; `InverseChain.load` rebuilds it.
public final class InverseChain: Module, Architecture {
    public static let architectureName = "vit-inverse"

    public let config: InverseChainConfig
    public let stageModules: [Module]
    private let container: Sequential

    /// A chain with fresh (zero) modules; initialise with `initialize(generator:)` or load weights.
    public init(_ config: InverseChainConfig) throws {
        guard !config.stages.isEmpty else { throw LoupeError("inverse: a chain needs at least one stage") }
        try config.source.validate()
        self.config = config
        let layout = TokenLayout(config.source)
        stageModules = try config.stages.map { stage -> Module in
            switch stage.kind {
            case "analytic": return try AnalyticPatchInverse(layout: layout, positionEmbedsClassToken: config.source.positionEmbedsClassToken)
            case "linear": return try LinearPatchInverse(layout: layout)
            case "enhanced": return try EnhancedPatchInverse(layout: layout, widths: stage.widths)
            case "blocks": return try BlockInverse(config: config.source, depth: stage.depth ?? 1)
            default: throw LoupeError("inverse: unknown stage kind '\(stage.kind)' (analytic, linear, enhanced, blocks)")
            }
        }
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

    public static func build(configurationJSON: String) throws -> Module {
        try InverseChain(try decodeConfiguration(InverseChainConfig.self, configurationJSON, architecture: architectureName))
    }

    /// Saves the chain (weights and buffers, with its configuration as metadata).
    public func save(to path: String) throws {
        try saveModel(self, to: path)
    }

    /// Loads a chain saved by `save(to:)`.
    public static func load(_ path: String) throws -> InverseChain {
        try load(path, architectures: try ArchitectureCatalog([InverseChain.self], owner: "LoupeInversion"))
    }

    /// Loads a chain saved by `save(to:)`, rebuilt through `architectures` (which must hold
    /// `InverseChain`).
    public static func load(_ path: String, architectures: ArchitectureCatalog) throws -> InverseChain {
        guard let chain = try loadModel(path, architectures: architectures) as? InverseChain else {
            throw LoupeError("load_inverse: '\(path)' is not an inverse chain (architecture \(architectureName))")
        }
        return chain
    }
}
