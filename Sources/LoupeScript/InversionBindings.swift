import Foundation
import LoupeInputOptimization
import LoupeInversion
import LoupeModels
import LoupeTensor
import LoupeIO

/// A trained (or loaded) inverse chain as a Loupe value (`type(inv)` is `"inverse"`).
/// Attributes: `stages` (list of "from -> to"), `starts` (paths a reconstruction can start
/// from), `history` (record of per-epoch losses by stage), `mean`, `std`.
public final class InverseHandle: ScriptHandle {
    public let chain: InverseChain
    public var history: [(stage: String, losses: [Float])]

    public init(_ chain: InverseChain, history: [(stage: String, losses: [Float])] = []) {
        self.chain = chain
        self.history = history
    }

    public var typeName: String { "inverse" }

    public var summary: String {
        "inverse chain of \(chain.config.stages.count) stages (\(chain.startPaths.first ?? "?") -> pixels), \(chain.parameterCount) parameters"
    }

    public func attribute(_ name: String) throws -> Value? {
        switch name {
        case "stages": return .list(ListBox(chain.config.stages.map { .string("\($0.from) -> \($0.to)") }))
        case "starts": return .list(ListBox(chain.startPaths.map { .string($0) }))
        case "history": return .record(RecordBox(history.map { ($0.stage, .tensor(Tensor($0.losses))) }))
        case "mean": return .list(ListBox(chain.config.normalization.mean.map { .number(Double($0)) }))
        case "std": return .list(ListBox(chain.config.normalization.std.map { .number(Double($0)) }))
        default: return nil
        }
    }
}

/// Inversion from the language: optimisation-based `invert`, inverse chains (`train_inverse`,
/// `reconstruct`, `save_inverse`, `load_inverse`), image metrics, colour perturbation and the
/// layer and colour reports.
enum InversionBindings {
    static let all: [Builtin] = {
        // Inverse chains load with model(path) too.
        ModelRegistry.register(InverseChain.self)
        return builtins
    }()

    static let builtins: [Builtin] = [
        Builtin("invert(m, target, layer, steps: 200, lr: 0.05, loss: \"mse\", tv: 0, l2: 0, jitter: 0, param: \"pixel\", init: nil, seed: 0, shape: nil, mean: nil, std: nil, decorrelate: nil)",
                """
                Optimises images with Adam so that model m's activation at `layer` matches `target`: \
                images [B, C, H, W] in [0, 1] (their activation is taken) or an activation [B, ...]. \
                `loss` "mse" or "cosine"; `tv` total-variation and `l2` input penalties; `jitter` random \
                roll in pixels per step; `param` "pixel" (sigmoid of logits) or "fourier" (lucent's \
                fft_image, then sigmoid); `init` a starting image; `shape` [C, H, W] when m is not a ViT; \
                `mean`/`std` the model's input normalisation (lists per channel); `decorrelate` lucent's \
                colour decorrelation (default: on for 3-channel images). Progress bar with loss. \
                Returns {image, losses, loss}.
                """) { a in try invert(a) },
        Builtin("train_inverse(m, data, stages: \"blocks\", patch: \"linear\", epochs: 5, batch: 64, lr: 0.001, end_to_end: false, seed: 0, mean: nil, std: nil, schedule: \"cosine\")",
                """
                Trains an inverse chain for the ViT m on images (a tensor [N, C, H, W] in [0, 1] or a \
                record with `images`, as dataset() returns). `stages`: "blocks" (one inverse block per \
                block), "sublayers" (one per residual sub-layer), or a number of blocks per inverse \
                module. `patch`: "analytic" (pseudo-inverse, exact), "linear" (transposed conv) or \
                "enhanced" (k=2 s=2 transposed convs with BatchNorm+ReLU). Each module is trained alone \
                with Adam on MSE against the activation one stage earlier (image-level MSE for the patch \
                inverse); `end_to_end: true` trains the chain jointly on pixel MSE. `mean`/`std`: the \
                model's input normalisation. `schedule`: "cosine" (decay to 0 over each module's steps) \
                or "constant". Returns an inverse (attributes stages, starts, history).
                """) { a in try trainInverse(a) },
        Builtin("reconstruct(inv, acts, from)",
                """
                Reconstructs images [B, C, H, W] in [0, 1] with the inverse chain from the activation at \
                path `from` (e.g. "blocks.5", "blocks.5.resid_attn", "tokens"): `acts` is a record from \
                capture() or the activation tensor itself.
                """) { a in
            let chain = try inverse(a, 0).chain
            let path = try a.string(2)
            return .tensor(try GradMode.withoutGrad {
                switch a[1] {
                case .record(let record):
                    guard let value = record[path], case .tensor(let activation) = value else {
                        throw LoupeError("reconstruct: the record has no activation '\(path)' (keys: \(record.keys.joined(separator: ", ")))")
                    }
                    return try chain.reconstruct(activation, from: path)
                default:
                    return try chain.reconstruct(try a.tensor(1), from: path)
                }
            }.detached())
        },
        Builtin("save_inverse(inv, path)", "Saves an inverse chain as one safetensors file with its configuration (architecture vit-inverse, stages, source model config) as metadata.") { a in
            try a.interpreter.checkFileAccess("save_inverse")
            try inverse(a, 0).chain.save(to: try a.string(1))
            return .null
        },
        Builtin("load_inverse(path)", "Loads an inverse chain saved by save_inverse.") { a in
            try a.interpreter.checkFileAccess("load_inverse")
            let path = try a.string(0)
            _ = try? a.interpreter.readFile(path, op: "load_inverse")
            return .handle(InverseHandle(try InverseChain.load(path)))
        },
        Builtin("ssim(a, b)", "Structural similarity of images in [0, 1] as scikit-image (Gaussian 11x11 window, sigma 1.5, K1 0.01, K2 0.03, mean over channels): one value per image of [B, C, H, W], a number for [C, H, W] or [H, W].") { a in
            metric(try ImageMetrics.ssim(try a.tensor(0).detached(), try a.tensor(1).detached()))
        },
        Builtin("psnr(a, b)", "Peak signal-to-noise ratio in dB of images in [0, 1]: per image of [B, C, H, W], a number for one image.") { a in
            metric(try ImageMetrics.psnr(try a.tensor(0).detached(), try a.tensor(1).detached()))
        },
        Builtin("image_mse(a, b)", "Mean squared error per image of [B, C, H, W] (a number for one image); mse() is the loss over all elements.") { a in
            metric(try ImageMetrics.mse(try a.tensor(0).detached(), try a.tensor(1).detached()))
        },
        Builtin("activation_cosine(a, b)", "Cosine similarity per batch item of two activations [B, ...] (flattened).") { a in
            .tensor(try ImageMetrics.cosineSimilarity(try a.tensor(0).detached(), try a.tensor(1).detached()))
        },
        Builtin("recolor(img, hue: nil, set: nil, gray: false, mask: nil)", methodOf: "tensor",
                """
                Changes the colour of RGB images ([3, H, W] or [B, 3, H, W] in [0, 1]) in HSV: `hue` \
                rotates the hue by degrees, `set` sets it to "red", "green", "blue" or a number of \
                degrees (saturation and value kept, so gray pixels stay gray), `gray: true` replaces the \
                colour by its luma. Only inside `mask` ([H, W] weights in [0, 1]) when given.
                """) { a in
            let chosen = [!a.isNil(1), !a.isNil(2), try a.bool(3)].filter { $0 }.count
            guard chosen == 1 else { throw LoupeError("recolor: give exactly one of hue:, set: or gray: true") }
            let change: ColorChange
            if !a.isNil(1) {
                change = .rotateHue(try a.float(1))
            } else if !a.isNil(2) {
                if case .string(let name) = a[2] { change = try .named(name) } else { change = .setHue(try a.float(2)) }
            } else {
                change = .gray
            }
            return .tensor(try Recolor.recolor(try a.tensor(0).detached(), change, mask: try a.optionalTensor(4)))
        },
        Builtin("hue_error(a, b, mask: nil, threshold: 0.1)",
                """
                Mean circular hue difference in degrees (0-180) between RGB images a and b inside the \
                mask, over pixels coloured in both (saturation and value above `threshold`); nan when \
                there are none. Per image of [B, 3, H, W], a number for one image.
                """) { a in
            metric(try Recolor.hueError(try a.tensor(0).detached(), try a.tensor(1).detached(), mask: try a.optionalTensor(2),
                                        threshold: try a.float(3)))
        },
        Builtin("color_distance(a, b, mask: nil, hue_bins: 18, saturation_bins: 4)",
                """
                Bhattacharyya distance (0 same, 1 disjoint) between the hue-saturation histograms of RGB \
                images a and b inside the mask. Per image of [B, 3, H, W], a number for one image.
                """) { a in
            metric(try Recolor.histogramDistance(try a.tensor(0).detached(), try a.tensor(1).detached(), mask: try a.optionalTensor(2),
                                                 hueBins: try a.int(3), saturationBins: try a.int(4)))
        },
        Builtin("layer_report(m, inv, images, layers: nil, grid: nil)",
                """
                Reconstructs images [B, C, H, W] from each layer (default: every start of the inverse) \
                and measures MSE, PSNR, SSIM, re-encoding cosine and top-1 agreement. Returns {rows, \
                table, grid, images}: rows a list of records, table the text (print it), grid the picture \
                (originals first row, one row per layer), images the reconstructions by layer. Writes the \
                grid as PNG when `grid` is a path.
                """) { a in try layerReport(a) },
        Builtin("color_report(m, inv, images, changes: nil, mask: nil, layers: nil)",
                """
                The colour experiment: perturbs RGB images with each change ("red", "green", "blue", \
                "gray", or a number: hue rotation in degrees; default all four named) inside the mask, \
                reconstructs from each layer, and reports hue error to the perturbed input and to the \
                original, the fraction of coloured pixels kept and the histogram distance. Returns \
                {rows, table, images}.
                """) { a in try colorReport(a) },
    ]

    // MARK: Argument helpers

    static func metric(_ t: Tensor) -> Value {
        t.rank == 0 ? .number(Double(t.scalars[0])) : .tensor(t)
    }

    static func model(_ a: Arguments, _ i: Int) throws -> Module {
        try ModelBindings.model(a, i).module
    }

    static func vit(_ a: Arguments, _ i: Int) throws -> VisionTransformer {
        let module = try model(a, i)
        guard let vit = module as? VisionTransformer else {
            throw LoupeError("\(a.builtin.name): argument '\(a.builtin.params[i].name)' must be a ViT, got \(module.typeName)")
        }
        return vit
    }

    static func inverse(_ a: Arguments, _ i: Int) throws -> InverseHandle {
        guard case .handle(let h) = a[i], let handle = h as? InverseHandle else { throw a.typeError(i, "an inverse (from train_inverse or load_inverse)") }
        return handle
    }

    /// A tensor, or the `images` of a record.
    static func images(_ a: Arguments, _ i: Int) throws -> Tensor {
        if case .record(let record) = a[i] {
            guard let value = record["images"], case .tensor(let t) = value else {
                throw LoupeError("\(a.builtin.name): record argument '\(a.builtin.params[i].name)' has no tensor 'images'")
            }
            return t.detached()
        }
        return try a.tensor(i).detached()
    }

    static func floats(_ a: Arguments, _ i: Int) throws -> [Float]? {
        if a.isNil(i) { return nil }
        if case .number(let n) = a[i] { return [Float(n)] }
        return try a.list(i).items.map { item in
            guard case .number(let n) = item else {
                throw LoupeError("\(a.builtin.name): argument '\(a.builtin.params[i].name)' must be a list of numbers, got an item of type \(item.typeName)")
            }
            return Float(n)
        }
    }

    /// The normalisation from `mean` / `std` arguments (nil when both are nil).
    static func normalization(_ a: Arguments, mean: Int, std: Int, channels: Int?) throws -> Normalization? {
        let m = try floats(a, mean), s = try floats(a, std)
        if m == nil && s == nil { return nil }
        var meanValues = m ?? [], stdValues = s ?? []
        let count = channels ?? max(meanValues.count, stdValues.count)
        if meanValues.isEmpty { meanValues = [Float](repeating: 0, count: count) }
        if stdValues.isEmpty { stdValues = [Float](repeating: 1, count: count) }
        if meanValues.count == 1 { meanValues = [Float](repeating: meanValues[0], count: count) }
        if stdValues.count == 1 { stdValues = [Float](repeating: stdValues[0], count: count) }
        guard meanValues.count == count, stdValues.count == count, stdValues.allSatisfy({ $0 != 0 }) else {
            throw LoupeError("\(a.builtin.name): mean \(meanValues) and std \(stdValues) must have one non-zero std per channel (\(count))")
        }
        return Normalization(mean: meanValues, std: stdValues)
    }

    // MARK: Bodies

    static func invert(_ a: Arguments) throws -> Value {
        let module = try model(a, 0)
        let target = try a.tensor(1).detached()
        let layer = try a.string(2)
        var shape: [Int]
        if !a.isNil(12) {
            shape = try a.ints(12)
        } else if let vit = module as? VisionTransformer {
            shape = [vit.config.channels, vit.config.imageSize, vit.config.imageSize]
        } else if target.rank == 4 {
            shape = Array(target.shape.dropFirst())
        } else {
            throw LoupeError("invert: pass shape: [C, H, W] for a \(module.typeName)")
        }
        guard shape.count == 3 else { throw LoupeError("invert: shape must be [C, H, W], got \(shape)") }
        var options = InversionOptions()
        options.steps = try a.int(3)
        options.learningRate = try a.number(4)
        options.loss = InversionOptions.Loss(rawValue: try a.choice(5, ["mse", "cosine"]))!
        options.tv = try a.float(6)
        options.l2 = try a.float(7)
        options.jitter = try a.int(8)
        options.parameterization = InversionOptions.Parameterization(rawValue: try a.choice(9, ["pixel", "fourier"]))!
        options.initialImage = try a.optionalTensor(10)?.detached()
        let seed = try a.int(11)
        guard seed >= 0 else { throw LoupeError("invert: seed must be non-negative, got \(seed)") }
        options.seed = UInt64(seed)
        options.normalization = try normalization(a, mean: 13, std: 14, channels: shape[0])
        if !a.isNil(15) { options.decorrelateColor = try a.bool(15) }
        let interpreter = a.interpreter, position = interpreter.builtinCallPos
        options.onStep = { _, _ in try interpreter.checkInterrupt(position) }
        let isImages = target.rank == 4 && Array(target.shape.dropFirst()) == shape
        let result = isImages
            ? try LoupeInversion.invert(module, images: target, layer: layer, options: options)
            : try LoupeInversion.invert(module, target: target, layer: layer, imageShape: shape, options: options)
        return .record(RecordBox([
            ("image", .tensor(result.images)),
            ("losses", .tensor(Tensor(result.losses))),
            ("loss", .number(Double(result.losses.last ?? .nan))),
        ]))
    }

    static func trainInverse(_ a: Arguments) throws -> Value {
        let model = try vit(a, 0)
        let data = try images(a, 1)
        var options = InverseTrainingOptions()
        switch a[2] {
        case .number:
            let size = try a.int(2)
            guard size >= 1 else { throw LoupeError("train_inverse: stages must be at least 1 block per module, got \(size)") }
            options.layout = .stages(size)
        default:
            options.layout = try a.choice(2, ["blocks", "sublayers"]) == "blocks" ? .blocks : .sublayers
        }
        options.patch = PatchInverseKind(rawValue: try a.choice(3, PatchInverseKind.allCases.map(\.rawValue)))!
        options.epochs = try a.int(4)
        options.batchSize = try a.int(5)
        options.learningRate = try a.number(6)
        options.endToEnd = try a.bool(7)
        let seed = try a.int(8)
        guard seed >= 0 else { throw LoupeError("train_inverse: seed must be non-negative, got \(seed)") }
        options.seed = UInt64(seed)
        options.normalization = try normalization(a, mean: 9, std: 10, channels: model.config.channels)
        options.cosineSchedule = try a.choice(11, ["cosine", "constant"]) == "cosine"
        let interpreter = a.interpreter, position = interpreter.builtinCallPos
        options.onStep = { try interpreter.checkInterrupt(position) }
        let result = try LoupeInversion.trainInverse(model, images: data, options: options)
        return .handle(InverseHandle(result.chain, history: result.history))
    }

    static func layers(_ a: Arguments, _ i: Int) throws -> [String]? {
        if a.isNil(i) { return nil }
        if case .string(let s) = a[i] { return [s] }
        return try a.list(i).items.map { item in
            guard case .string(let s) = item else {
                throw LoupeError("\(a.builtin.name): argument 'layers' must be a list of paths, got an item of type \(item.typeName)")
            }
            return s
        }
    }

    static func layerReport(_ a: Arguments) throws -> Value {
        let module = try model(a, 0)
        let handle = try inverse(a, 1)
        let report = try LoupeInversion.layerReport(module, handle.chain, images: try images(a, 2), layers: try layers(a, 3))
        if !a.isNil(4) {
            try a.interpreter.checkFileAccess("layer_report")
            try PNG.write(report.grid, to: try a.string(4))
        }
        let rows: [Value] = report.rows.map { row in
            .record(RecordBox([
                ("layer", .string(row.layer)), ("mse", .number(Double(row.mse))), ("psnr", .number(Double(row.psnr))),
                ("ssim", .number(Double(row.ssim))), ("reencoding", .number(Double(row.reencodingCosine))),
                ("top1", .number(Double(row.top1Agreement))),
            ]))
        }
        return .record(RecordBox([
            ("rows", .list(ListBox(rows))), ("table", .string(report.table)), ("grid", .tensor(report.grid)),
            ("images", .record(RecordBox(report.rows.map { ($0.layer, .tensor(report.reconstructions[$0.layer]!)) }))),
        ]))
    }

    static func colorReport(_ a: Arguments) throws -> Value {
        let module = try model(a, 0)
        let handle = try inverse(a, 1)
        var changes: [ColorChange] = [.setHue(0), .setHue(120), .setHue(240), .gray]
        if !a.isNil(3) {
            changes = try a.list(3).items.map { item in
                switch item {
                case .string("gray"): return .gray
                case .string(let name): return try .named(name)
                case .number(let degrees): return .rotateHue(Float(degrees))
                default: throw LoupeError("color_report: changes must be colour names, \"gray\" or hue rotations in degrees, got \(item.typeName)")
                }
            }
        }
        let report = try LoupeInversion.colorReport(module, handle.chain, images: try images(a, 2), changes: changes,
                                                    mask: try a.optionalTensor(4)?.detached(), layers: try layers(a, 5))
        let rows: [Value] = report.rows.map { row in
            .record(RecordBox([
                ("change", .string(row.change)), ("layer", .string(row.layer)), ("hue_error", .number(Double(row.hueError))),
                ("hue_error_original", .number(Double(row.hueErrorToOriginal))),
                ("colored", .number(Double(row.coloredFraction))), ("histogram", .number(Double(row.histogramDistance))),
            ]))
        }
        return .record(RecordBox([
            ("rows", .list(ListBox(rows))), ("table", .string(report.table)),
            ("images", .record(RecordBox(report.reconstructions.keys.sorted().map { ($0, .tensor(report.reconstructions[$0]!)) }))),
        ]))
    }
}
