import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor
import LoupeVisualization

/// `fooling_circuit`: a model whose feature visualizations lie while its behaviour on natural
/// images is unchanged.
enum FoolingBindings {
    static let all: [Builtin] = [
        Builtin("fooling_circuit(m, path, unit, target, natural, test, layers: nil, runs: 48, batch: 8, steps: 512, snapshots: nil, lr: 0.05, gain: 1, epochs: 4, param: \"fourier\", decorrelate: true, transforms: \"standard\", seed: nil, size: nil, input_size: nil, mean: nil, std: nil, label: \"fooling\")",
                """
                Geirhos et al.'s fooling circuit for channel `unit` of the module at `path` (a module \
                path such as "layer3" or "blocks.2.mlp.fc1"). 1. Makes `runs` feature visualizations \
                (batches of `batch`, `steps` steps, images kept also after each step in `snapshots`, default [32, 128]) of \
                random channels of `layers` (default: a ResNet's four stages, a ViT's blocks), and runs / 4 \
                more of the target response itself (the images the fooled unit's visualization becomes, \
                so a visualization that comes to look like a natural target stays flagged). 2. Trains a \
                ResNet-10 of width 8 with two outputs for `epochs` epochs to tell them, as made and as the \
                model sees them while they are optimised (transformed), from the `natural` images \
                (tensor or record with images). 3. Returns replace(m, path, circuit): the circuit runs \
                the original module and, when the detector calls the model's input a visualization \
                (logit 1 above logit 0), replaces channel `unit` everywhere by `gain` times the dot \
                product of the input with `target` (an image [C, H, W] of the model's input size), so \
                visualizing the unit draws the target; natural inputs get the original outputs bit for \
                bit. The last quarter of the runs (other units and seeds) is held out. Returns {model, \
                detector, heldout_accuracy (held-out visualizations called visualizations, as made), \
                heldout_transformed_accuracy (as the model sees them), natural_accuracy (test images \
                called natural), natural_flagged, natural_count, accuracy_before, accuracy_after (test \
                accuracy, when `test` has labels), before, after (the unit's visualization by the \
                original and the fooled model, same seed), target_correlation_before, \
                target_correlation_after (Pearson correlation of those with the target), \
                training_visualizations, training_natural}. Visualization settings as visualize.
                """) { a in try foolingCircuit(a) },
    ]

    static func foolingCircuit(_ a: Arguments) throws -> Value {
        let handle = try ModelBindings.model(a, "m")
        let module = handle.module
        let path = try a.string("path")
        let unit = try a.int("unit")
        guard module.module(at: path) != nil else {
            let near = module.namedModules().map(\.path).filter { !$0.isEmpty }.prefix(12).joined(separator: ", ")
            throw a.error("path", "fooling_circuit: model m has no module at '\(path)' (modules: \(near), ...)")
        }
        guard unit >= 0 else { throw a.error("unit", "fooling_circuit: unit must be non-negative, got \(unit)") }
        let settings = try VisualizationBindings.settings(a, handle)
        var options = FoolingCircuitOptions()
        options.visualization = settings.options
        options.runs = try a.int("runs")
        options.batch = try a.int("batch")
        options.steps = settings.options.steps
        if !a.isNil("snapshots") { options.snapshots = try a.ints("snapshots") }
        options.gain = try a.float("gain")
        options.detectorEpochs = try a.int("epochs")
        guard options.runs >= 2 else { throw a.error("runs", "fooling_circuit: runs must be at least 2, got \(options.runs)") }
        guard options.detectorEpochs >= 1 else { throw a.error("epochs", "fooling_circuit: epochs must be at least 1, got \(options.detectorEpochs)") }
        options.seed = settings.options.seed
        if a.isNil("layers") {
            switch handle.root {
            case let resnet as ResNet: options.layers = ["layer1", "layer2", "layer3", "layer4"].filter { resnet.module(at: $0) != nil }
            case let vit as VisionTransformer: options.layers = (0..<vit.config.depth).map { "blocks.\($0)" }
            default: throw a.error("layers", "fooling_circuit: give layers: for a \(module.typeName)")
            }
        } else {
            switch a["layers"] {
            case .string(let one): options.layers = [one]
            default: options.layers = try a.list("layers").items.map {
                guard case .string(let s) = $0 else { throw a.typeError("layers", "a list of activation paths") }
                return s
            }
            }
        }
        let interpreter = a.interpreter, position = interpreter.builtinCallPos
        options.checkStop = { try interpreter.checkInterrupt(position) }

        var target = try a.tensor("target").detached()
        if target.rank == 4 && target.shape[0] == 1 { target = try target.squeezed(axes: [0]) }
        if target.rank == 2 { target = try target.unsqueezed(axis: 0) }
        let size = [settings.side, settings.side]
        let inputSize = settings.options.inputSize ?? size
        guard target.rank == 3, target.shape == [settings.channels, inputSize[0], inputSize[1]] else {
            throw a.error("target", "fooling_circuit: target must be an image [\(settings.channels), \(inputSize[0]), \(inputSize[1])] in [0, 1] (the model's input), got \(describe(shape: target.shape))")
        }
        let natural = try InversionBindings.images(a, "natural")
        let test: LabeledImages
        if case .record = a["test"], case .record(let record) = a["test"], record["labels"] != nil {
            test = try TrainBindings.labeledImages(a, "test", defaultSplit: "test").data
        } else {
            let images = try InversionBindings.images(a, "test")
            test = try LabeledImages(images: images, labels: [], op: "fooling_circuit")
        }
        let result = try LoupeVisualization.foolingCircuit(module, path: path, unit: unit, target: target, natural: natural,
                                                           test: test, channels: settings.channels, size: size, options: options)

        // The unit's visualization by both models, from the same seed.
        let objective = Objective.channel(path, unit, channelAxis: Objective.automaticChannelAxis)
        var shown = settings.options
        shown.batch = 1
        shown.label = "visualize unit"
        let before = try LoupeVisualization.visualize(module, objective: objective, channels: settings.channels, size: size, options: shown).images
        let after = try LoupeVisualization.visualize(result.model, objective: objective, channels: settings.channels, size: size, options: shown).images
        func correlation(_ image: Tensor) throws -> Double {
            var x = image
            if x.shape[2] != inputSize[0] || x.shape[3] != inputSize[1] {
                x = try NN.upsampleBilinear2d(x, size: (inputSize[0], inputSize[1]), alignCorners: true)
            }
            return pearson(x.contiguous().scalars, target.contiguous().scalars)
        }
        func number(_ value: Double?) -> Value { value.map { .number($0) } ?? .null }
        return .record(RecordBox([
            ("model", .handle(ModelHandle(result.model, classNames: handle.classNames, preprocess: handle.preprocess))),
            ("detector", .handle(ModelHandle(result.detector, classNames: ["natural", "visualization"]))),
            ("heldout_accuracy", .number(result.heldOutAccuracy)),
            ("heldout_transformed_accuracy", .number(result.heldOutTransformedAccuracy)),
            ("natural_accuracy", .number(result.naturalAccuracy)),
            ("natural_flagged", .number(Double(result.naturalFlagged))),
            ("natural_count", .number(Double(result.naturalCount))),
            ("accuracy_before", number(result.testAccuracyBefore)),
            ("accuracy_after", number(result.testAccuracyAfter)),
            ("before", .tensor(try before.squeezed(axes: [0]))),
            ("after", .tensor(try after.squeezed(axes: [0]))),
            ("target_correlation_before", .number(try correlation(before))),
            ("target_correlation_after", .number(try correlation(after))),
            ("training_visualizations", .number(Double(result.trainingVisualizations))),
            ("training_natural", .number(Double(result.trainingNatural))),
        ]))
    }

    /// Pearson correlation of two equally long lists (0 when either is constant).
    static func pearson(_ x: [Float], _ y: [Float]) -> Double {
        let n = Double(min(x.count, y.count))
        guard n > 1 else { return 0 }
        var mx = 0.0, my = 0.0
        for i in 0..<Int(n) { mx += Double(x[i]); my += Double(y[i]) }
        mx /= n; my /= n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for i in 0..<Int(n) {
            let dx = Double(x[i]) - mx, dy = Double(y[i]) - my
            sxy += dx * dy; sxx += dx * dx; syy += dy * dy
        }
        return sxx > 0 && syy > 0 ? sxy / (sxx * syy).squareRoot() : 0
    }
}
