import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor
import LoupeVisualization

/// Geirhos et al. (2023), "Don't trust your eyes: on the (un)reliability of feature
/// visualizations", from the language: the sanity check of visualizations against natural
/// images (`fv_sanity`) and silent units (`silent_unit`).
enum DeceptionBindings {
    static let all: [Builtin] = [
        Builtin("fv_sanity(m, path, unit, natural, k: 16, n: 8, layers: nil, steps: 512, lr: 0.05, param: \"fourier\", decorrelate: true, transforms: \"standard\", seed: nil, size: nil, input_size: nil, mean: nil, std: nil, label: \"fv_sanity\")",
                """
                Geirhos et al.'s sanity check of feature visualizations for channel `unit` of the activation \
                at `path`: does the network process the unit's visualizations like the natural images that \
                drive it? `natural`: images [N, C, H, W] in [0, 1] (or a record with images). Top: the k \
                natural images with the highest channel mean of the unit (ties by index). Visualizations: n \
                images of visualize(m, channel(path, unit)) made together as one batch (each image its own \
                starting spectrum from `seed`; they share each step's random transform, and since the \
                objective is their mean and Adam is scale-free, each is optimised as if alone up to that \
                shared transform; visualization settings as visualize). Random: k natural images drawn from \
                `seed`, outside the top (when N >= 2k; else the rest and then top images). Natural images \
                reach the model as visualizations do: normalised (mean/std) and resized to the input size. \
                Measure, per layer l of `layers` (default: every block output up to the unit's activation \
                in execution order: a ResNet's stem output (relu, or maxpool with the ImageNet stem) and \
                blocks layerS.B, a ViT's blocks.N, another model's top-level modules; then `path` itself; a block whose output is path's own value is left out): each \
                image's activation vector v_l(x) is its channel means over positions ([B, C, H, W]) or its \
                mean over tokens ([B, T, D]); r(x, y) is Spearman's rank correlation of v_l(x) and v_l(y) \
                over the channels (Pearson correlation of average ranks, ties sharing their mean rank, as \
                scipy.stats.spearmanr). viz_to_natural = mean of r(viz_i, top_j) over all n x k pairs; \
                natural_to_natural (the baseline) = mean of r(top_i, top_j) over the k(k-1) pairs i != j; \
                natural_to_random (the floor) = mean of r(top_i, random_j) over all pairs of distinct \
                images. Undefined correlations (a constant vector) are left out of the means. Visualizations \
                processed like natural images score near the baseline; near the floor they are not. \
                Returns {layers, viz_to_natural, natural_to_natural, natural_to_random (lists, one number per \
                layer), table (one row per layer), plot (the three series over the layers, an image), \
                visualizations [n, C, H, W], top_natural [k, C, H, W], random_natural [k, C, H, W], \
                top_indices, random_indices, unit_natural (the unit's value on each top image), \
                unit_visualizations (on each visualization)}.
                """) { a in try sanity(a) },
        Builtin("silent_unit(m, path, unit, natural, test: nil, scale: 1, direction: \"visualization\", towards: nil, seed: nil, mean: nil, std: nil)",
                """
                Geirhos et al.'s silent unit: a new model (made with replace) in which the convolution \
                (Conv2d) at `path` computes conv(x) plus, on output channel `unit` only, relu(w' * x + b'), \
                a one-channel convolution with the original's kernel size, stride and padding. w' is found \
                to respond to the images `towards` (give snapshots of the unit's own feature visualization, \
                or another unit's) more than to any natural image: Adam on a soft maximum of the natural \
                images' responses minus the towards images', over every position; without `towards`, \
                `direction: "visualization"` uses a uniform gray image (where visualizations start) and \
                `"random"` a random direction from `seed`, which a visualization may never reach. w' is \
                made orthogonal to the unit's filter w (Gram-Schmidt on the flattened \
                filters) with norm scale * |w|. b' = -max of w' * x over every position of every `natural` \
                image (x the convolution's input; images [N, C, H, W] in [0, 1], or a record with images, \
                normalised by `mean`/`std`, default the checkpoint's loupe.preprocess, else as they are). \
                So on every natural image the added term is exactly 0 and the \
                model's outputs are unchanged bit for bit, yet the unit's feature visualization, which is \
                free to leave the natural images, wakes the term from its first step and is drawn to w' \
                (a random w' is usually never reached). Compare visualize(m, channel(path, \
                unit)) (or the channel of the following batch norm, e.g. "layer3.0.bn2" for \
                "layer3.0.conv2") on m and on the new model. The module is saved by save_model \
                (architecture silent_unit_conv2d) with children conv (the original) and silent (w', b'), \
                and its added term is the activation `path.added`. `test` (default: the natural images): \
                images, a record {images, labels} or "fashion-mnist" (its test split). Returns {model, \
                silent_on (test images on which the added term is 0 at every position), total (test \
                images), max_natural (the max that sets b'), max_test (the max of w' * x + b' over the test \
                images, before the ReLU), accuracy_before, accuracy_after (when test has labels, else nil), \
                filter (w', [1, C, kh, kw]), bias (b')}.
                """) { a in try silent(a) },
    ]

    static func stopCheck(_ a: Arguments) -> () throws -> Void {
        let interpreter = a.interpreter, position = interpreter.builtinCallPos
        return { try interpreter.checkInterrupt(position) }
    }

    static func numbers(_ values: [Double]) -> Value { .list(ListBox(values.map { .number($0) })) }

    // MARK: fv_sanity

    static func sanity(_ a: Arguments) throws -> Value {
        let handle = try ModelBindings.model(a, "m")
        let module = handle.module
        let path = try a.string("path")
        let unit = try a.int("unit")
        let k = try a.int("k"), n = try a.int("n")
        guard k >= 2 else { throw a.error("k", "fv_sanity: k must be at least 2 (the baseline needs pairs of top images), got \(k)") }
        guard n >= 1 else { throw a.error("n", "fv_sanity: n must be at least 1, got \(n)") }
        let settings = try VisualizationBindings.settings(a, handle)
        let natural = try InversionBindings.images(a, "natural")
        guard natural.rank == 4, natural.shape[1] == settings.channels else {
            throw a.error("natural", "fv_sanity: natural images must be [N, \(settings.channels), H, W], got \(describe(shape: natural.shape))")
        }
        var layers: [String]?
        if !a.isNil("layers") {
            switch a["layers"] {
            case .string(let one): layers = [one]
            default:
                layers = try a.list("layers").items.map {
                    guard case .string(let s) = $0 else { throw a.typeError("layers", "a list of activation paths") }
                    return s
                }
            }
            if layers?.isEmpty == true { throw a.error("layers", "fv_sanity: give at least one layer") }
        }

        // The path, the unit and the layers, checked on the first image.
        let inputSize = settings.options.inputSize ?? [settings.side, settings.side]
        var probe = try natural.sliced(axis: 0, start: 0, end: 1)
        if let normalization = settings.options.normalization { probe = try normalization.apply(probe) }
        if probe.shape[2] != inputSize[0] || probe.shape[3] != inputSize[1] {
            probe = try NN.upsampleBilinear2d(probe, size: (inputSize[0], inputSize[1]), alignCorners: true)
        }
        let sites = try GradMode.withoutGrad { try activationPaths(module, probe) }
        let known = Set(sites)
        func checkSite(_ site: String, _ argument: String) throws {
            guard known.contains(site) else {
                throw a.error(argument, "fv_sanity: model m has no activation at '\(site)' (closest: \(similarPaths(to: site, among: sites, limit: 5).joined(separator: ", ")))")
            }
        }
        try checkSite(path, "path")
        for layer in layers ?? [] { try checkSite(layer, "layers") }
        let unitActivation = try GradMode.withoutGrad { try activation(module, probe, at: path) }
        let unitChannels = try channelVectors(unitActivation, path: path).shape[1]
        guard unit >= 0 && unit < unitChannels else {
            throw a.error("unit", "fv_sanity: unit \(unit) is out of range for the \(unitChannels) channels of the activation \(describe(shape: unitActivation.shape)) at '\(path)'")
        }
        guard natural.shape[0] > k else {
            throw a.error("natural", "fv_sanity: \(natural.shape[0]) natural images are too few for the top \(k) and random ones; give at least \(k + 1)")
        }

        var options = SanityCheckOptions()
        options.layers = layers
        options.topK = k
        options.visualizations = n
        options.visualization = settings.options
        options.seed = settings.options.seed
        options.checkStop = stopCheck(a)
        let result = try sanityCheck(module, path: path, unit: unit, natural: natural, channels: settings.channels,
                                     size: [settings.side, settings.side], options: options)
        return .record(RecordBox([
            ("layers", .list(ListBox(result.layers.map { .string($0.path) }))),
            ("viz_to_natural", numbers(result.layers.map(\.visualizationToNatural))),
            ("natural_to_natural", numbers(result.layers.map(\.naturalToNatural))),
            ("natural_to_random", numbers(result.layers.map(\.naturalToRandom))),
            ("table", .string(result.table)),
            ("plot", .tensor(try result.plot())),
            ("visualizations", .tensor(result.visualizations)),
            ("top_natural", .tensor(result.topNatural)),
            ("random_natural", .tensor(result.randomNatural)),
            ("top_indices", numbers(result.topIndices.map(Double.init))),
            ("random_indices", numbers(result.randomIndices.map(Double.init))),
            ("unit_natural", numbers(result.topUnitValues.map(Double.init))),
            ("unit_visualizations", numbers(result.visualizationUnitValues.map(Double.init))),
        ]))
    }

    // MARK: silent_unit

    static func silent(_ a: Arguments) throws -> Value {
        let handle = try ModelBindings.model(a, "m")
        let module = handle.module
        let path = try a.string("path")
        let unit = try a.int("unit")
        let conv: Conv2d
        do {
            conv = try convolution(module, path)
        } catch let e as LoupeError {
            throw a.error("path", e.message)
        }
        guard conv.groups == 1 else {
            throw a.error("path", "silent_unit: the Conv2d at '\(path)' is grouped (groups \(conv.groups)); only ungrouped convolutions are supported")
        }
        let outputs = conv.weight.shape[0]
        guard unit >= 0 && unit < outputs else {
            throw a.error("unit", "silent_unit: unit \(unit) is out of range for the \(outputs) output channels of the Conv2d at '\(path)'")
        }
        let scale = try a.float("scale")
        guard scale > 0, scale.isFinite else { throw a.error("scale", "silent_unit: scale must be positive, got \(Value.number(Double(scale)).display)") }
        var natural = try InversionBindings.images(a, "natural")
        guard natural.rank == 4, natural.shape[0] > 0 else {
            throw a.error("natural", "silent_unit: natural images must be [N, C, H, W] with N > 0, got \(describe(shape: natural.shape))")
        }
        var test: Tensor?, labels: [Int]?
        switch a["test"] {
        case .null: break
        case .string:
            let data = try TrainBindings.labeledImages(a, "test", defaultSplit: "test").data
            test = data.images
            labels = data.labels
        case .record(let record) where record["labels"] != nil:
            let data = try TrainBindings.labeledImages(a, "test", defaultSplit: "test").data
            test = data.images
            labels = data.labels
        default:
            test = try InversionBindings.images(a, "test")
        }
        if let test, test.rank != 4 || test.shape[0] == 0 || Array(test.shape.dropFirst()) != Array(natural.shape.dropFirst()) {
            throw a.error("test", "silent_unit: test images must be [N, \(natural.shape.dropFirst().map(String.init).joined(separator: ", "))] like the natural ones, got \(describe(shape: test.shape))")
        }
        // Images in [0, 1] become the model's inputs.
        let channels = natural.shape[1]
        if let normalization = try InversionBindings.normalization(a, mean: "mean", std: "std", channels: channels)
            ?? handle.preprocess?.normalization {
            guard normalization.mean.count == channels else {
                throw a.error("natural", "silent_unit: the normalisation has \(normalization.mean.count) channels, the images \(channels)")
            }
            natural = try normalization.apply(natural)
            if let raw = test { test = try normalization.apply(raw) }
        }
        var options = SilentUnitOptions()
        if !a.isNil("towards") {
            let images = try InversionBindings.images(a, "towards")
            guard images.rank == 4, Array(images.shape.dropFirst()) == Array(natural.shape.dropFirst()) else {
                throw a.error("towards", "silent_unit: towards must be images [N, \(natural.shape.dropFirst().map(String.init).joined(separator: ", "))] like the natural ones, got \(describe(shape: images.shape))")
            }
            let normalization = try InversionBindings.normalization(a, mean: "mean", std: "std", channels: channels)
                ?? handle.preprocess?.normalization
            options.towards = try normalization?.apply(images) ?? images
        } else if try a.choice("direction", ["visualization", "random"]) == "visualization" {
            let gray = try Tensor.zeros([1] + Array(natural.shape.dropFirst())) + 0.5
            let normalization = try InversionBindings.normalization(a, mean: "mean", std: "std", channels: channels)
                ?? handle.preprocess?.normalization
            options.towards = try normalization?.apply(gray) ?? gray
        }
        options.scale = scale
        options.seed = try TrainBindings.trainingSeed(a)
        options.checkStop = stopCheck(a)
        let result = try silentUnit(module, path: path, unit: unit, natural: natural, test: test, labels: labels, options: options)
        func number(_ value: Double?) -> Value { value.map { .number($0) } ?? .null }
        return .record(RecordBox([
            ("model", .handle(ModelHandle(result.model, classNames: handle.classNames, preprocess: handle.preprocess))),
            ("silent_on", .number(Double(result.silentOn))),
            ("total", .number(Double(result.total))),
            ("max_natural", .number(Double(result.maxNatural))),
            ("max_test", .number(Double(result.maxTest))),
            ("accuracy_before", number(result.accuracyBefore)),
            ("accuracy_after", number(result.accuracyAfter)),
            ("filter", .tensor(result.module.silent.weight.value.detached())),
            ("bias", .number(Double(try result.module.silent.bias!.value.detached().reshaped([1]).scalars[0]))),
        ]))
    }

    /// The `Conv2d` at `path`, or an error naming the closest module paths or convolutions.
    static func convolution(_ model: Module, _ path: String) throws -> Conv2d {
        guard let found = model.module(at: path) else {
            let paths = model.namedModules().map(\.path).filter { !$0.isEmpty }
            throw LoupeError("silent_unit: model m has no module at '\(path)' (closest: \(similarPaths(to: path, among: paths, limit: 5).joined(separator: ", ")))")
        }
        guard let conv = found as? Conv2d else {
            let convolutions = model.namedModules().filter { $0.module is Conv2d }.map(\.path)
            let listed = similarPaths(to: path, among: convolutions, limit: 5)
            throw LoupeError("silent_unit: the module at '\(path)' is a \(found.typeName), not a convolution (Conv2d)"
                             + (listed.isEmpty ? "; m has no Conv2d" : "; convolutions nearby: \(listed.joined(separator: ", "))"))
        }
        return conv
    }
}

/// The visualization core's architectures: the silent unit's module, so `model(path)` rebuilds a
/// model saved with one (declared here, with the builtins that make it).
extension VisualizationCore {
    var architectures: [any Architecture.Type] { [SilentUnitConv2d.self] }
}
