import Foundation
import LoupeModels
import LoupeTensor

/// A small class-conditional denoiser with DiT's inputs (`x [N, C, H, W]`, `t [N]`, `y [N]`) and
/// output ([N, 2C, H, W]: epsilon, then variance values): per pixel, a linear map of x's channels
/// plus a per-class and a per-timestep offset, `W x + b + E[y] + tw * t / 1000`. Saveable, so
/// trainers can copy it.
final class TinyDenoiser: Module, Architecture {
    static let architectureName = "tiny_denoiser"
    let channels: Int, classes: Int
    let weight: Parameter, bias: Parameter, table: Parameter, timeWeight: Parameter

    init(channels: Int, classes: Int, seed: UInt64 = 1) throws {
        self.channels = channels
        self.classes = classes
        var generator = RandomGenerator(seed: seed)
        weight = Parameter(try Tensor.normal([2 * channels, channels], std: 0.3, generator: &generator))
        bias = Parameter(try Tensor.normal([2 * channels, 1], std: 0.1, generator: &generator))
        table = Parameter(try Tensor.normal([classes + 1, 2 * channels], std: 0.3, generator: &generator))
        timeWeight = Parameter(try Tensor.normal([2 * channels, 1], std: 0.3, generator: &generator))
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerParameter("table", table)
        registerParameter("time_weight", timeWeight)
    }

    override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("t"), InputParameter("y")] }

    override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x"), t = try inputs.tensor("t"), y = try inputs.tensor("y")
        let n = x.shape[0], h = x.shape[2], w = x.shape[3]
        let flat = try x.reshaped([n, channels, h * w])
        let mapped = try weight.value.matmul(flat) + bias.value                       // [N, 2C, HW]
        let label = try NN.embedding(y, weight: table.value).unsqueezed(axis: 2)    // [N, 2C, 1]
        let time = try timeWeight.value.unsqueezed(axis: 0) * (t / 1000).reshaped([n, 1, 1])
        return .tensor(try (mapped + label + time).reshaped([n, 2 * channels, h, w]))
    }

    func configurationJSON() throws -> String { "{\"channels\": \(channels), \"classes\": \(classes)}" }

    static func build(configurationJSON: String) throws -> Module {
        let values = try JSONSerialization.jsonObject(with: Data(configurationJSON.utf8)) as? [String: Int] ?? [:]
        return try TinyDenoiser(channels: values["channels"] ?? 1, classes: values["classes"] ?? 1)
    }

    static var catalog: ArchitectureCatalog {
        get throws { try ArchitectureCatalog(ArchitectureCatalog.loupeModelsArchitectures + [TinyDenoiser.self]) }
    }
}
