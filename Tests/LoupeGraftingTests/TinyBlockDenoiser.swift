import Foundation
import LoupeModels
import LoupeTensor

/// One residual block whose operator sits at `attn` (a single-input module [N, T, D] -> [N, T, D]),
/// as a DiT block's attention: `h + attn(h / 2)`.
final class TinyBlock: Module, Architecture {
    static let architectureName = "tiny_block"
    let dim: Int
    let attn: Linear

    init(dim: Int) throws {
        self.dim = dim
        attn = try Linear(dim, dim)
        super.init()
        registerModule("attn", attn)
    }

    override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try input + context.apply(attn, named: "attn", input * 0.5)
    }

    func configurationJSON() throws -> String { "{\"dim\": \(dim)}" }
    static func build(configurationJSON: String) throws -> Module {
        let values = try JSONSerialization.jsonObject(with: Data(configurationJSON.utf8)) as? [String: Int] ?? [:]
        return try TinyBlock(dim: values["dim"] ?? 1)
    }
}

/// A denoiser with DiT's inputs whose pixels are tokens: `embed` (C -> D) plus a label and a
/// time embedding, `blocks` (a Sequential of `TinyBlock`s, so operators sit at `blocks.N.attn`),
/// `head` (D -> 2C).
final class TinyBlockDenoiser: Module, Architecture {
    static let architectureName = "tiny_block_denoiser"
    let channels: Int, dim: Int, depth: Int, classes: Int
    let embed: Linear, blocks: Sequential, head: Linear
    let table: Parameter, timeWeight: Parameter

    init(channels: Int, dim: Int, depth: Int, classes: Int, seed: UInt64 = 1) throws {
        self.channels = channels
        self.dim = dim
        self.depth = depth
        self.classes = classes
        embed = try Linear(channels, dim)
        blocks = Sequential(try (0..<depth).map { _ in try TinyBlock(dim: dim) })
        head = try Linear(dim, 2 * channels)
        var generator = RandomGenerator(seed: seed)
        table = Parameter(try Tensor.normal([classes + 1, dim], std: 0.3, generator: &generator))
        timeWeight = Parameter(try Tensor.normal([dim], std: 0.3, generator: &generator))
        super.init()
        registerModule("embed", embed)
        registerModule("blocks", blocks)
        registerModule("head", head)
        registerParameter("table", table)
        registerParameter("time_weight", timeWeight)
        for (path, parameter) in namedParameters() where path != "table" && path != "time_weight" {
            parameter.value = try Tensor.normal(parameter.value.shape, std: 0.4, generator: &generator)
        }
    }

    override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("t"), InputParameter("y")] }

    override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x"), t = try inputs.tensor("t"), y = try inputs.tensor("y")
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let tokens = try x.reshaped([n, channels, h * w]).transposed(1, 2)              // [N, HW, C]
        let condition = try NN.embedding(y, weight: table.value) + (t / 1000).reshaped([n, 1]) * timeWeight.value
        var hidden = try context.apply(embed, named: "embed", tokens) + condition.unsqueezed(axis: 1)
        hidden = try context.apply(blocks, named: "blocks", hidden)
        let out = try context.apply(head, named: "head", hidden)                      // [N, HW, 2C]
        return .tensor(try out.transposed(1, 2).contiguous().reshaped([n, 2 * channels, h, w]))
    }

    func configurationJSON() throws -> String {
        "{\"channels\": \(channels), \"dim\": \(dim), \"depth\": \(depth), \"classes\": \(classes)}"
    }

    static func build(configurationJSON: String) throws -> Module {
        let v = try JSONSerialization.jsonObject(with: Data(configurationJSON.utf8)) as? [String: Int] ?? [:]
        return try TinyBlockDenoiser(channels: v["channels"] ?? 1, dim: v["dim"] ?? 1, depth: v["depth"] ?? 1, classes: v["classes"] ?? 1)
    }

    static var catalog: ArchitectureCatalog {
        get throws {
            try ArchitectureCatalog(ArchitectureCatalog.loupeModelsArchitectures + [TinyBlockDenoiser.self, TinyBlock.self, TinyDenoiser.self])
        }
    }
}
