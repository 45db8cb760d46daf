import LoupeTensor

// `ConvTranspose2d` as an architecture, so a model edited by `replace` with one can be saved and
// rebuilt (it is in `ArchitectureCatalog.loupeModelsArchitectures`).

extension ConvTranspose2d: Architecture {
    struct Config: Codable {
        var inChannels: Int, outChannels: Int, kernel: Int, stride: Int
        var padding: Int?, outputPadding: Int?
    }
    public static let architectureName = "conv_transpose2d"
    public func configurationJSON() throws -> String {
        let shape = weight.shape
        return try encodeConfiguration(Config(inChannels: shape[0], outChannels: shape[1], kernel: shape[2], stride: stride,
                                              padding: padding, outputPadding: outputPadding))
    }
    public static func build(configurationJSON: String) throws -> Module {
        let c = try decodeConfiguration(Config.self, configurationJSON, architecture: architectureName)
        return try ConvTranspose2d(c.inChannels, c.outChannels, kernel: c.kernel, stride: c.stride,
                                   padding: c.padding ?? 0, outputPadding: c.outputPadding ?? 0)
    }
}
