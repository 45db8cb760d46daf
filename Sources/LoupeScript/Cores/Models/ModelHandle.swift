import Foundation
import LoupeIO
import LoupeInputOptimization
import LoupeModels
import LoupeTensor

/// A model as a Loupe value (`type(m)` is `"model"`): the module tree, plus the class names
/// `predict` prints and the metadata a checkpoint carried.
public final class ModelHandle: ScriptHandle {
    /// The root module. Its parameters are shared with every handle made from it by `replace`.
    public let module: Module
    /// Class names by index (from checkpoint metadata `loupe.classes`, or a data set), if known.
    public var classNames: [String]?
    /// How inputs are prepared (metadata `loupe.preprocess` of converted checkpoints), if known.
    public var preprocess: ModelPreprocess?

    public init(_ module: Module, classNames: [String]? = nil, preprocess: ModelPreprocess? = nil) {
        self.module = module
        self.classNames = classNames
        self.preprocess = preprocess
    }

    public var typeName: String { "model" }

    public var summary: String {
        "\(module.typeName), \(ModelHandle.formatCount(module.parameterCount)) parameters"
    }

    /// 1234567 -> "1.23M".
    static func formatCount(_ n: Int) -> String {
        if n >= 1_000_000 { return String(format: "%.2fM", Double(n) / 1e6) }
        if n >= 10_000 { return String(format: "%.1fk", Double(n) / 1e3) }
        return String(n)
    }
}

/// The input preparation a converted checkpoint records in its `loupe.preprocess` metadata
/// (`Scripts/export_timm.py`, `Scripts/export_torchvision.py`): normalisation and input size.
public struct ModelPreprocess {
    public var normalization: Normalization?
    /// The side of the square input the model was trained on (`input_size` [C, H, W]).
    public var inputSize: Int?

    /// Parses the metadata's JSON; `path` names the checkpoint in errors.
    init(json text: String, path: String) throws {
        guard let data = text.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LoupeError("model: '\(path)': metadata loupe.preprocess is not a JSON object")
        }
        func floats(_ key: String) throws -> [Float]? {
            guard let raw = object[key] else { return nil }
            guard let list = raw as? [NSNumber], !list.isEmpty else {
                throw LoupeError("model: '\(path)': loupe.preprocess '\(key)' must be a list of numbers")
            }
            return list.map(\.floatValue)
        }
        let mean = try floats("mean"), std = try floats("std")
        if let mean, let std {
            guard mean.count == std.count, std.allSatisfy({ $0 != 0 && $0.isFinite }) else {
                throw LoupeError("model: '\(path)': loupe.preprocess mean \(mean) and std \(std) must match, with non-zero std")
            }
            normalization = Normalization(mean: mean, std: std)
        }
        if let size = object["input_size"] as? [NSNumber], let side = size.last?.intValue, side > 0 {
            inputSize = side
        }
    }

    /// The preprocessing recorded in the checkpoint at `path`, if any.
    static func read(_ path: String) throws -> ModelPreprocess? {
        guard !path.hasSuffix(".json"), let text = try SafeTensors.open(path).metadata["loupe.preprocess"] else { return nil }
        return try ModelPreprocess(json: text, path: path)
    }
}
