import Foundation
import LoupeTensor

/// The shape of a DiT (facebookresearch/DiT `models.py` `DiT`). Field names are DiT's
/// constructor arguments (`input_size`, `patch_size`, `hidden_size`, ...); the defaults are
/// DiT-XL/2 on 256-pixel images (a 32x32x4 latent). `parallelGroups` is Loupe's: groups of
/// consecutive blocks that run side by side on the same input (depth restructuring).
public struct DiTConfig: Codable, Equatable, Sendable {
    /// Side of the square latent input.
    public var inputSize: Int
    /// Side of a patch (the patch embedding's kernel and stride).
    public var patchSize: Int
    /// Latent channels.
    public var inChannels: Int
    /// Token width.
    public var hiddenSize: Int
    /// Number of blocks.
    public var depth: Int
    /// Attention heads.
    public var numHeads: Int
    /// MLP hidden width over `hiddenSize` (the width is `Int(hiddenSize * mlpRatio)`, as DiT's `int()`).
    public var mlpRatio: Double
    /// The training label dropout probability. The forward never drops labels; it only decides
    /// whether the label table has the null-class row (index `numClasses`) used for
    /// classifier-free guidance (> 0: it has).
    public var classDropoutProb: Double
    /// Number of classes.
    public var numClasses: Int
    /// Whether the model also predicts the variance (output channels `2 * inChannels`).
    public var learnSigma: Bool
    /// Groups of consecutive block indices run in parallel: every block of a group gets the same
    /// `x` and `c`, and the group's output is `x + sum_i (block_i(x, c) - x)`. Blocks outside
    /// every group run one after another. Empty: all sequential (DiT).
    public var parallelGroups: [[Int]]

    public init(inputSize: Int = 32, patchSize: Int = 2, inChannels: Int = 4, hiddenSize: Int = 1152, depth: Int = 28,
                numHeads: Int = 16, mlpRatio: Double = 4, classDropoutProb: Double = 0.1, numClasses: Int = 1000,
                learnSigma: Bool = true, parallelGroups: [[Int]] = []) {
        self.inputSize = inputSize
        self.patchSize = patchSize
        self.inChannels = inChannels
        self.hiddenSize = hiddenSize
        self.depth = depth
        self.numHeads = numHeads
        self.mlpRatio = mlpRatio
        self.classDropoutProb = classDropoutProb
        self.numClasses = numClasses
        self.learnSigma = learnSigma
        self.parallelGroups = parallelGroups
    }

    enum CodingKeys: String, CodingKey {
        case inputSize, patchSize, inChannels, hiddenSize, depth, numHeads, mlpRatio, classDropoutProb, numClasses
        case learnSigma, parallelGroups
    }

    /// Missing keys take DiT's defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = DiTConfig()
        inputSize = try c.decodeIfPresent(Int.self, forKey: .inputSize) ?? d.inputSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        inChannels = try c.decodeIfPresent(Int.self, forKey: .inChannels) ?? d.inChannels
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? d.depth
        numHeads = try c.decodeIfPresent(Int.self, forKey: .numHeads) ?? d.numHeads
        mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? d.mlpRatio
        classDropoutProb = try c.decodeIfPresent(Double.self, forKey: .classDropoutProb) ?? d.classDropoutProb
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? d.numClasses
        learnSigma = try c.decodeIfPresent(Bool.self, forKey: .learnSigma) ?? d.learnSigma
        parallelGroups = try c.decodeIfPresent([[Int]].self, forKey: .parallelGroups) ?? d.parallelGroups
    }

    /// DiT's named configurations (`DiT_models`): `"S/2"`, `"B/4"`, `"XL/2"`, ... (a `"DiT-"`
    /// prefix is accepted): S is 384 wide, 12 deep, 6 heads; B 768, 12, 12; L 1024, 24, 16;
    /// XL 1152, 28, 16; the number after the slash is the patch size (2, 4 or 8).
    public static func preset(_ name: String, inputSize: Int = 32, numClasses: Int = 1000) throws -> DiTConfig {
        let short = name.hasPrefix("DiT-") ? String(name.dropFirst(4)) : name
        let parts = short.split(separator: "/")
        let sizes: [String: (hidden: Int, depth: Int, heads: Int)] = [
            "S": (384, 12, 6), "B": (768, 12, 12), "L": (1024, 24, 16), "XL": (1152, 28, 16),
        ]
        guard parts.count == 2, let size = sizes[String(parts[0])], let patch = Int(parts[1]), [2, 4, 8].contains(patch) else {
            throw LoupeError("dit: unknown preset '\(name)' (known: \(presetNames.joined(separator: ", ")))")
        }
        return DiTConfig(inputSize: inputSize, patchSize: patch, hiddenSize: size.hidden, depth: size.depth,
                         numHeads: size.heads, numClasses: numClasses)
    }

    /// The presets' names, as DiT's `DiT_models` without the `DiT-` prefix.
    public static let presetNames = ["XL/2", "XL/4", "XL/8", "L/2", "L/4", "L/8", "B/2", "B/4", "B/8", "S/2", "S/4", "S/8"]

    /// Output channels: `2 * inChannels` with `learnSigma`, else `inChannels`.
    public var outChannels: Int { learnSigma ? 2 * inChannels : inChannels }
    /// Patches per side.
    public var gridSize: Int { inputSize / patchSize }
    /// Tokens per image.
    public var tokenCount: Int { gridSize * gridSize }
    /// Width of the MLP hidden layer.
    public var mlpHidden: Int { Int(Double(hiddenSize) * mlpRatio) }
    /// Whether the label table has the null class (row `numClasses`).
    public var hasNullClass: Bool { classDropoutProb > 0 }
    /// Rows of the label table.
    public var labelTableRows: Int { numClasses + (hasNullClass ? 1 : 0) }
    /// Width of the sinusoidal timestep features (DiT's `frequency_embedding_size`).
    public static let frequencyEmbeddingSize = 256

    /// The number of learnable scalars of the model (without the fixed `pos_embed`, which DiT
    /// keeps as a frozen `nn.Parameter` and so counts in `sum(p.numel() for p in parameters())`).
    public var parameterCount: Int {
        let d = hiddenSize, p = patchSize, h = mlpHidden
        let patchEmbed = d * inChannels * p * p + d
        let timestep = (Self.frequencyEmbeddingSize * d + d) + (d * d + d)
        let labels = labelTableRows * d
        let block = (3 * d * d + 3 * d) + (d * d + d) + (h * d + h) + (d * h + d) + (6 * d * d + 6 * d)
        let final = (p * p * outChannels * d + p * p * outChannels) + (2 * d * d + 2 * d)
        return patchEmbed + timestep + labels + depth * block + final
    }

    /// The runs of the blocks: each parallel group, and every other block on its own, in order.
    public var stages: [[Int]] {
        var result: [[Int]] = []
        var i = 0
        while i < depth {
            if let group = parallelGroups.first(where: { $0.first == i }) {
                result.append(group)
                i += group.count
            } else {
                result.append([i])
                i += 1
            }
        }
        return result
    }

    /// Throws when the numbers cannot make a DiT. Messages use DiT's argument names.
    public func validate() throws {
        guard inputSize > 0, patchSize > 0, inChannels > 0 else {
            throw LoupeError("dit: input_size (\(inputSize)), patch_size (\(patchSize)) and in_channels (\(inChannels)) must be positive")
        }
        guard inputSize % patchSize == 0 else {
            throw LoupeError("dit: input_size \(inputSize) is not a multiple of patch_size \(patchSize)")
        }
        guard hiddenSize > 0, numHeads > 0, hiddenSize % numHeads == 0 else {
            throw LoupeError("dit: hidden_size \(hiddenSize) must be a positive multiple of num_heads \(numHeads)")
        }
        guard hiddenSize % 4 == 0 else {
            throw LoupeError("dit: hidden_size \(hiddenSize) must be a multiple of 4 (the 2-D sin-cos position embedding splits it in four)")
        }
        guard depth >= 1 else { throw LoupeError("dit: depth must be at least 1, got \(depth)") }
        guard mlpRatio > 0, mlpHidden > 0 else { throw LoupeError("dit: mlp_ratio \(mlpRatio) leaves no MLP width") }
        guard numClasses >= 1 else { throw LoupeError("dit: num_classes must be at least 1, got \(numClasses)") }
        guard classDropoutProb >= 0, classDropoutProb < 1 else {
            throw LoupeError("dit: class_dropout_prob must be in [0, 1), got \(classDropoutProb)")
        }
        var seen = Set<Int>()
        for group in parallelGroups {
            guard !group.isEmpty else { throw LoupeError("dit: parallel_groups has an empty group (\(parallelGroups))") }
            for index in group where !(0..<depth).contains(index) {
                throw LoupeError("dit: parallel_groups block \(index) is out of range 0..<\(depth) (depth \(depth))")
            }
            for (a, b) in zip(group, group.dropFirst()) where b != a + 1 {
                throw LoupeError("dit: parallel_groups group \(group) is not consecutive block indices in increasing order")
            }
            for index in group where !seen.insert(index).inserted {
                throw LoupeError("dit: parallel_groups puts block \(index) in two groups (\(parallelGroups))")
            }
        }
    }
}
