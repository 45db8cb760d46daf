import Foundation
import LoupeModels
import LoupeTensor
import LoupeIO

/// A model's attributes (`m.modules`, `m.params`, `m.param_count`, `m.classes`,
/// `m.architecture`, `m.config`, `m.type`, `m.replaced`), calling a model (`m(x)`), and the input
/// checks every model builtin shares.
extension ModelHandle: CallableHandle {
    public var attributeNames: [String] {
        ["architecture", "classes", "config", "modules", "param_count", "params", "replaced", "type"]
    }

    public func attribute(_ name: String) throws -> Value? {
        switch name {
        case "modules":
            return .list(ListBox(moduleRecords(shapes: nil)))
        case "params":
            return .record(parameterRecord())
        case "param_count":
            return .number(Double(module.parameterCount))
        case "classes":
            return classNames.map { .list(ListBox($0.map { .string($0) })) } ?? .null
        case "architecture":
            guard let architecture = root as? any Architecture else { return .null }
            return .string(type(of: architecture).architectureName)
        case "config":
            guard let architecture = root as? any Architecture else { return .null }
            let json = try architecture.configurationJSON()
            return ModelHandle.value(of: try JSONParser.parse(Array(json.utf8), context: "config"))
        case "type":
            return .string(module.typeName)
        case "replaced":
            let paths = (module as? ReplacedModel)?.replacements.keys.sorted() ?? []
            return .list(ListBox(paths.map { .string($0) }))
        default:
            return nil
        }
    }

    /// `m(x)`: the model's output on `x` (as `forward(m, x)`); `m(x, c: c)` for a model with several
    /// inputs, which may return a record.
    public func call(_ positional: [Value], _ named: [(String, Value)], interpreter: Interpreter) throws -> Value {
        if module.inputSignature.count == 1, named.isEmpty {
            guard positional.count == 1 else {
                throw LoupeError("model: call a model with one input tensor, m(x); got \(positional.count) arguments")
            }
            guard case .tensor = positional[0] else {
                throw LoupeError("model: the input must be a tensor, got \(positional[0].typeName)")
            }
        }
        return ModelHandle.value(of: try module.callAsFunction(inputs: try inputs(positional: positional, named: named, op: "model")))
    }

    /// The original architecture under any `replace` edits.
    var root: Module { (module as? ReplacedModel)?.base ?? module }

    /// The image input a whole model expects: channels and (for a ViT) the side length. Nil for a
    /// submodule, whose input is passed through unchanged.
    var imageInput: (channels: Int, size: Int?)? {
        guard let model = root as? any ImageModel else { return nil }
        return (model.expectedImage.channels, model.expectedImage.size)
    }

    /// The expected image shape as text: `[3, 8, 8]`, or `[3, H, W]` for a ResNet.
    var imageShapeText: String {
        guard let (channels, size) = imageInput else { return "" }
        return size.map { "[\(channels), \($0), \($0)]" } ?? "[\(channels), H, W]"
    }

    /// `x` as a batch: an image [C, H, W] gains a batch axis of 1; a batch [B, C, H, W] is checked.
    /// Inputs of submodules pass unchanged.
    func batched(_ x: Tensor, op: String) throws -> Tensor {
        guard let (channels, size) = imageInput else { return x }
        let image = x.rank == 3 ? x.shape : x.rank == 4 ? Array(x.shape.dropFirst()) : []
        let sizeMatches = size.map { image.count == 3 && image[1] == $0 && image[2] == $0 } ?? true
        guard image.count == 3, image[0] == channels, sizeMatches, x.count > 0 else {
            let batch = "[B, " + imageShapeText.dropFirst()
            throw LoupeError("\(op): input \(describe(shape: x.shape)) is not an image \(imageShapeText) or a batch \(batch) for this \(module.typeName)")
        }
        return x.rank == 3 ? try x.reshaped([1] + x.shape) : x
    }

    /// Runs `body` with every module in evaluation mode, restoring each module's mode after.
    func inEvaluationMode<R>(_ body: () throws -> R) throws -> R {
        let modules = module.namedModules().map(\.module)
        let saved = modules.map(\.training)
        defer { for (m, flag) in zip(modules, saved) { m.training = flag } }
        module.setTraining(false)
        return try body()
    }

    /// One record {path, type, params} per module (params: every parameter of its subtree), with
    /// `inputs` (each input's shape by name) and `shape` (the output's shape) when `shapes` are given.
    func moduleRecords(shapes: ModuleShapes?) -> [Value] {
        func list(_ shape: [Int]) -> Value { .list(ListBox(shape.map { .number(Double($0)) })) }
        return module.namedModules().map { path, m in
            var fields: [(String, Value)] = [("path", .string(path)), ("type", .string(m.typeName)),
                                             ("params", .number(Double(m.parameterCount)))]
            if let shapes {
                let entry = shapes[path]
                fields.append(("inputs", entry.map { .record(RecordBox($0.inputs.map { ($0.name, list($0.shape)) })) } ?? .null))
                fields.append(("shape", entry?.output.map(list) ?? .null))
            }
            return .record(RecordBox(fields))
        }
    }

    /// A JSON value as a Loupe value (objects become records, arrays lists).
    static func value(of json: JSONValue) -> Value {
        switch json {
        case .null: return .null
        case .bool(let b): return .bool(b)
        case .integer(let n): return .number(Double(n))
        case .number(let n): return .number(n)
        case .string(let s): return .string(s)
        case .array(let items): return .list(ListBox(items.map(value(of:))))
        case .object(let members): return .record(RecordBox(members.map { ($0.0, value(of: $0.1)) }))
        }
    }
}

extension ModelHandle {
    /// `m.params`: the parameters by path. Assigning into it writes through to the model
    /// (`m.params["head.bias"] = zeros(10)`, `m.params["head.weight"][0] = 0`): the path must
    /// exist and the shape must match. Every model sharing that parameter (a `replace` overlay,
    /// a `submodule`) sees the change.
    func parameterRecord() -> RecordBox {
        let parameters = module.namedParameters()
        let record = RecordBox(parameters.map { ($0.path, .tensor($0.parameter.value)) })
        let byPath = Dictionary(parameters.map { ($0.path, $0.parameter) }, uniquingKeysWith: { first, _ in first })
        record.assignmentHook = { path, value in
            guard let parameter = byPath[path] else {
                let similar = byPath.keys.filter { $0.hasPrefix(path.split(separator: ".").first.map(String.init) ?? "") }.sorted().prefix(6)
                throw LoupeError("params: the model has no parameter '\(path)'\(similar.isEmpty ? "" : " (e.g. \(similar.joined(separator: ", ")))")")
            }
            guard case .tensor(let tensor) = value else {
                throw LoupeError("params: '\(path)' must be set to a tensor, got a \(value.typeName)")
            }
            guard tensor.shape == parameter.shape else {
                throw LoupeError("params: '\(path)' has shape \(describe(shape: parameter.shape)), cannot set a tensor of shape \(describe(shape: tensor.shape))")
            }
            parameter.value = tensor.detached().contiguousCopy()
        }
        return record
    }
}
