import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor
import LoupeVisualization

/// Feature visualization from the language: objectives (`channel`, `neuron`, `logit`,
/// `direction`, `diversity`) and `visualize`.
enum VisualizationBindings {
    static let all: [Builtin] = objectives + FoolingBindings.all + [
        Builtin("visualize(m, objective, steps: 512, lr: 0.05, size: nil, batch: 1, param: \"fourier\", decorrelate: true, transforms: \"standard\", seed: nil, mean: nil, std: nil, input_size: nil, snapshots: nil, label: \"visualize\")",
                """
                Feature visualization with lucent's render_vis numerics: a batch of images of side \
                `size` (default: the model's input size; 128 for a ResNet with the ImageNet stem) in \
                lucent's Fourier parameterisation (`param: "pixel"` for per-pixel logits; spectrum drawn \
                with sd 0.01 from `seed`) with decorrelated colour (3 channels), through a sigmoid, is \
                optimised with Adam (`lr`, betas 0.9/0.999) for `steps` steps to minimise the objective. \
                Each step the images pass lucent's standard transforms (pad 12 with 0.5, jitter 8, scale \
                0.90-1.10, rotate -10..10 degrees, jitter 4; `transforms: "none"` for none, or a list of \
                records applied in order: {pad: 4, value: 0.5}, {jitter: 2}, {roll: 2}, {scale: [0.95, 1, \
                1.05]}, {rotate: [-5, 0, 5]}, for images much smaller than 224 px), the input \
                normalisation (`mean`/`std`, default the checkpoint's loupe.preprocess, else none) and a \
                bilinear resize to the model's input size (`input_size`; default the model's fixed size, \
                224 for a smaller image into an ImageNet-stem ResNet as lucent, else `size`). Progress \
                bar with the objective. Returns {images [B, C, H, W], image (the first), losses (the \
                objective before each step), loss, snapshots (images after each step listed in \
                `snapshots`, by step)}.
                """) { a in try visualize(a) },
    ]

    static let objectives: [Builtin] = [
        Builtin("channel(path, c, batch: nil)",
                """
                Objective: maximise channel c at activation `path`, averaged over every position (and the \
                batch, or only image `batch`): lucent's channel. For ViT token activations [B, T, D] the \
                channel is the last axis and the mean is over tokens. Combine objectives with + and - \
                and scale them by numbers.
                """) { a in
            let path = try a.string("path"), c = try a.int("c"), batch = try a.optionalInt("batch")
            return .handle(ObjectiveHandle("channel(\(quoted(path)), \(c))") { _ in
                .channel(path, c, channelAxis: Objective.automaticChannelAxis, batch: batch)
            })
        },
        Builtin("neuron(path, c, y: nil, x: nil, token: nil, batch: nil)",
                """
                Objective: maximise one unit, channel c at one position of activation `path`: row y and \
                column x of a map [B, C, H, W] (default the centre, as lucent's neuron); for ViT tokens \
                [B, T, D] the token `token`, or the patch token at row y, column x of the patch grid \
                (after the class token), default the centre patch.
                """) { a in
            let path = try a.string("path"), c = try a.int("c"), batch = try a.optionalInt("batch")
            let y = try a.optionalInt("y"), x = try a.optionalInt("x"), token = try a.optionalInt("token")
            if (y == nil) != (x == nil) { throw a.error(y == nil ? "x" : "y", "neuron: give both y: and x:, or neither") }
            if token != nil && y != nil { throw a.error("token", "neuron: give token: or y: and x:, not both") }
            var text = "neuron(\(quoted(path)), \(c)"
            if let y, let x { text += ", y: \(y), x: \(x)" }
            if let token { text += ", token: \(token)" }
            return .handle(ObjectiveHandle(text + ")") { _ in
                Objective(layer: path, description: text + ")") { activation in
                    let position = try unitPosition(activation, y: y, x: x, token: token, path: path)
                    return try Objective.neuron(path, c, position: position, channelAxis: Objective.automaticChannelAxis,
                                                batch: batch)([path: activation])
                }
            })
        },
        Builtin("logit(k, path: nil, batch: nil)",
                """
                Objective: maximise logit k of the model's classifier (its head: `head` of a ViT, `fc` of \
                a ResNet; `path` names another [B, K] output).
                """) { a in
            let k = try a.int("k"), given = a.isNil("path") ? nil : try a.string("path"), batch = try a.optionalInt("batch")
            return .handle(ObjectiveHandle("logit(\(k))") { model in
                .logit(try given ?? headPath(model), k, batch: batch)
            })
        },
        Builtin("direction(path, vector, batch: nil)",
                """
                Objective: maximise the dot product of the activation's channel vectors at `path` with \
                `vector` [C], averaged over positions (lucid's direction).
                """) { a in
            let path = try a.string("path"), vector = try a.tensor("vector").detached(), batch = try a.optionalInt("batch")
            guard vector.rank == 1 else { throw a.error("vector", "direction: vector must be [C], got \(describe(shape: vector.shape))") }
            return .handle(ObjectiveHandle("direction(\(quoted(path)), [\(vector.count)])") { _ in
                .direction(path, vector, channelAxis: Objective.automaticChannelAxis, batch: batch)
            })
        },
        Builtin("diversity(path)",
                """
                lucent's diversity term at activation `path`: minus the mean pairwise similarity of the \
                batch's Gram matrices, so subtract it to push a batch apart: \
                `channel(p, c) - 100 * diversity(p)` with batch: 4 or more.
                """) { a in
            let path = try a.string("path")
            return .handle(ObjectiveHandle("diversity(\(quoted(path)))") { _ in
                .diversity(path, channelAxis: Objective.automaticChannelAxis)
            })
        },
        Builtin("objective_value(m, objective, images)",
                "The objective's value (the loss visualize minimises) for images [B, C, H, W] given to model m as they are.") { a in
            let module = try ModelBindings.model(a, "m").module
            let objective = try objectiveHandle(a, "objective").objective(for: module)
            let images = try a.tensor("images").detached()
            return .number(Double(try GradMode.withoutGrad { try objective.evaluate(module, images).item() }))
        },
    ]

    // MARK: Helpers

    static func quoted(_ text: String) -> String { "\"\(text)\"" }

    static func objectiveHandle(_ a: Arguments, _ name: String) throws -> ObjectiveHandle {
        guard case .handle(let h) = a[name], let handle = h as? ObjectiveHandle else {
            throw a.typeError(name, "an objective (from channel, neuron, logit, direction or diversity)")
        }
        return handle
    }

    /// The classifier head's path: `head` of a ViT, `fc` of a ResNet.
    static func headPath(_ model: Module) throws -> String {
        switch (model as? ReplacedModel)?.base ?? model {
        case is VisionTransformer: return "head"
        case is ResNet: return "fc"
        default: throw LoupeError("logit: a \(model.typeName) has no known classifier head; pass its path: logit(k, path: \"...\")")
        }
    }

    /// The position `Objective.neuron` takes for an activation: `[y, x]` of a map, the token of
    /// `[B, T, D]` tokens (a patch token from `y`, `x` on the square grid after the prefix tokens).
    static func unitPosition(_ a: Tensor, y: Int?, x: Int?, token: Int?, path: String) throws -> [Int]? {
        if a.rank == 3 {
            if let token { return [token] }
            let tokens = a.shape[1]
            let side = Int(Double(tokens).squareRoot())
            let prefix = tokens - side * side
            guard side >= 1, prefix >= 0 else { return nil }
            let row = y ?? side / 2, column = x ?? side / 2
            guard row >= 0 && row < side && column >= 0 && column < side else {
                throw LoupeError("neuron: patch (\(row), \(column)) is outside the \(side)x\(side) grid of activation \(describe(shape: a.shape)) at '\(path)'")
            }
            return [prefix + row * side + column]
        }
        if token != nil {
            throw LoupeError("neuron: token: needs a token activation [B, T, D]; '\(path)' is \(describe(shape: a.shape))")
        }
        if let y, let x { return [y, x] }
        return nil
    }

    // MARK: visualize

    /// The settings `visualize` and the deceptions share: steps, lr, batch, param, decorrelate,
    /// transforms, seed, label, size, input_size, mean and std (whichever the builtin declares).
    struct Settings {
        var options = VisualizationOptions()
        var channels = 0
        var side = 0
    }

    static func settings(_ a: Arguments, _ handle: ModelHandle) throws -> Settings {
        let module = handle.module
        var result = Settings()
        var options = VisualizationOptions()
        options.steps = try a.int("steps")
        guard options.steps >= 1 else { throw a.error("steps", "\(a.builtin.name): steps must be at least 1, got \(options.steps)") }
        options.learningRate = try a.number("lr")
        guard options.learningRate > 0, options.learningRate.isFinite else {
            throw a.error("lr", "\(a.builtin.name): lr must be positive, got \(options.learningRate)")
        }
        if a.builtin.indexByName["batch"] != nil {
            options.batch = try a.int("batch")
            guard options.batch >= 1 else { throw a.error("batch", "\(a.builtin.name): batch must be at least 1, got \(options.batch)") }
        }
        options.parameterization = ImageParameterization.Kind(rawValue: try a.choice("param", ["fourier", "pixel"]))!
        options.decorrelate = try a.bool("decorrelate")
        options.transforms = try transforms(a, "transforms")
        options.seed = try TrainBindings.trainingSeed(a)
        options.label = try a.string("label")

        let expected = (handle.root as? ImageModel)?.expectedImage
        guard let channels = expected?.channels else {
            throw a.error("m", "\(a.builtin.name): model m takes no image (a \(module.typeName)); it needs an image model")
        }
        let imagenetStem = (handle.root as? ResNet)?.config.stem == .imagenet
        let fixedSide = expected?.size ?? handle.preprocess?.inputSize
        let side: Int
        if let given = try a.optionalInt("size") {
            guard given >= 1 else { throw a.error("size", "\(a.builtin.name): size must be positive, got \(given)") }
            side = given
        } else if let fixedSide {
            side = fixedSide
        } else if imagenetStem {
            side = 128
        } else {
            throw a.error("size", "\(a.builtin.name): pass size: for a \(module.typeName) with no fixed input size (e.g. size: 28 for Fashion-MNIST)")
        }
        if let inputSide = try a.optionalInt("input_size") {
            guard inputSide >= 1 else { throw a.error("input_size", "\(a.builtin.name): input_size must be positive, got \(inputSide)") }
            options.inputSize = [inputSide, inputSide]
        } else if let fixed = expected?.size {
            options.inputSize = [fixed, fixed]
        } else if imagenetStem {
            options.inputSize = side < 224 ? [224, 224] : [side, side]
        } else {
            options.inputSize = [side, side]
        }
        options.normalization = try InversionBindings.normalization(a, mean: "mean", std: "std", channels: channels)
            ?? handle.preprocess?.normalization
        let interpreter = a.interpreter, position = interpreter.builtinCallPos
        options.onStep = { _, _ in try interpreter.checkInterrupt(position) }
        result.options = options
        result.channels = channels
        result.side = side
        return result
    }

    /// `transforms:` "standard" (lucent's), "none", or a list of records applied in order:
    /// {pad: w, value: 0.5}, {jitter: d}, {roll: n}, {scale: [..]}, {rotate: [..]}.
    static func transforms(_ a: Arguments, _ name: String) throws -> RandomTransform? {
        switch a[name] {
        case .string:
            return try a.choice(name, ["standard", "none"]) == "standard" ? try RandomTransform.standard() : nil
        case .list(let list):
            return RandomTransform.compose(try list.items.map { item in
                guard case .record(let record) = item, record.keys.count >= 1 else {
                    throw a.error(name, "\(a.builtin.name): each transform must be a record such as {jitter: 2}, got \(item.typeName)")
                }
                func number(_ key: String) throws -> Double {
                    guard let value = record[key], case .number(let n) = value else {
                        throw a.error(name, "\(a.builtin.name): transform '\(key)' needs a number")
                    }
                    return n
                }
                func numbers(_ key: String) throws -> [Double] {
                    guard let value = record[key], case .list(let values) = value else {
                        throw a.error(name, "\(a.builtin.name): transform '\(key)' needs a list of numbers")
                    }
                    return try values.items.map {
                        guard case .number(let n) = $0 else { throw a.error(name, "\(a.builtin.name): transform '\(key)' needs a list of numbers") }
                        return n
                    }
                }
                func whole(_ key: String) throws -> Int {
                    let n = try number(key)
                    guard n == n.rounded(), abs(n) < 1e6 else { throw a.error(name, "\(a.builtin.name): transform '\(key)' needs a whole number, got \(n)") }
                    return Int(n)
                }
                switch record.keys.first ?? "" {
                case "pad": return try .pad(try whole("pad"), mode: .constant, value: record["value"] == nil ? 0.5 : Float(try number("value")))
                case "jitter": return try .jitter(try whole("jitter"))
                case "roll": return try .roll(try whole("roll"))
                case "scale": return try .randomScale(try numbers("scale"))
                case "rotate": return try .randomRotate(degrees: try numbers("rotate"))
                default:
                    throw a.error(name, "\(a.builtin.name): unknown transform '\(record.keys.first ?? "")' (pad, jitter, roll, scale, rotate)")
                }
            })
        default:
            throw a.typeError(name, "\"standard\", \"none\" or a list of transforms")
        }
    }

    static func visualize(_ a: Arguments) throws -> Value {
        let handle = try ModelBindings.model(a, "m")
        let module = handle.module
        let objective = try objectiveHandle(a, "objective").objective(for: module)
        let settings = try settings(a, handle)
        var options = settings.options
        if !a.isNil("snapshots") { options.snapshots = try a.ints("snapshots") }
        let channels = settings.channels, side = settings.side
        let result = try LoupeVisualization.visualize(module, objective: objective, channels: channels, size: [side, side],
                                                      options: options)
        let first = try result.images.sliced(axis: 0, start: 0, end: 1).squeezed(axes: [0])
        return .record(RecordBox([
            ("images", .tensor(result.images)),
            ("image", .tensor(first)),
            ("losses", .tensor(Tensor(result.losses))),
            ("loss", .number(Double(result.losses.last ?? .nan))),
            ("snapshots", .record(RecordBox(result.snapshots.map { ("\($0.step)", .tensor($0.images)) }))),
        ]))
    }
}
