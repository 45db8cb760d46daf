import Foundation
import XCTest
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// The timm parity fixtures written by Scripts/fixtures/models_timm.py.
enum TimmFixtures {
    static func cases() throws -> [FixtureCase] { try Fixtures.load("models_timm") }

    static func config(_ c: FixtureCase) throws -> ViTConfig {
        guard let imageSize = c.int("imageSize"), let patchSize = c.int("patchSize"), let dim = c.int("dim"),
              let depth = c.int("depth"), let heads = c.int("heads"), let classes = c.int("classes") else {
            throw LoupeError("fixture \(c.name): incomplete ViT configuration")
        }
        return ViTConfig(imageSize: imageSize, patchSize: patchSize, dim: dim, depth: depth, heads: heads,
                         classes: classes, mlpRatio: c.float("mlpRatio") ?? 4, classToken: c.bool("classToken") ?? true,
                         layerScale: c.float("layerScale"),
                         positionEmbedsClassToken: c.bool("positionEmbedsClassToken") ?? true,
                         pool: c.string("pool").flatMap(ViTConfig.Pool.init(rawValue:)))
    }

    static func weightsPath(_ name: String) -> String {
        Fixtures.directory.appendingPathComponent(name + ".safetensors").path
    }

    /// The fixture `name` with its model loaded strictly.
    static func model(_ name: String) throws -> (VisionTransformer, FixtureCase) {
        guard let c = try cases().first(where: { $0.name == name }) else { throw LoupeError("no fixture \(name)") }
        let model = try VisionTransformer(try config(c))
        try loadWeights(model, from: weightsPath(name))
        return (model, c)
    }

    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("loupe-models-\(ProcessInfo.processInfo.processIdentifier)-\(name)").path
    }
}
