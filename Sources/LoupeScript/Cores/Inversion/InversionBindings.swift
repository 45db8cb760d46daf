import Foundation
import LoupeInputOptimization
import LoupeInversion
import LoupeModels
import LoupeTensor
import LoupeIO

/// Inversion from the language: optimisation-based `invert`, inverse chains (`train_inverse`,
/// `reconstruct`, `save_inverse`, `load_inverse`), image metrics, colour perturbation and the
/// layer and colour reports.
enum InversionBindings {
    static let all: [Builtin] = [
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
        Builtin("train_inverse(m, data, stages: \"blocks\", patch: \"linear\", epochs: 5, batch: 64, lr: 0.001, end_to_end: false, seed: 0, mean: nil, std: nil, schedule: \"cosine\", encoder_depth: nil, decoder_depth: nil)",
                """
                Trains an inverse chain for the ViT or DETR m on images (a tensor [N, C, H, W] in [0, 1] or a \
                record with `images`, as dataset() returns). `stages`: "blocks" (one inverse block per \
                block), "sublayers" (one per residual sub-layer), or a number of blocks per inverse \
                module. `patch`: "analytic" (pseudo-inverse, exact), "linear" (transposed conv) or \
                "enhanced" (k=2 s=2 transposed convs with BatchNorm+ReLU). Each module is trained alone \
                with Adam on MSE against the activation one stage earlier (image-level MSE for the patch \
                inverse); `end_to_end: true` trains the chain jointly on pixel MSE. `mean`/`std`: the \
                model's input normalisation. `schedule`: "cosine" (decay to 0 over each module's steps) \
                or "constant". For a DETR (images of one size; ImageNet normalisation unless mean/std): \
                the inverse predictor ("predictions", one-hot class and box per query -> last decoder \
                output, an MLP), inverse decoder (-> "transformer.encoder"; encoder_depth and \
                decoder_depth layers, default the model's), inverse encoder (-> "input_proj", the \
                backbone embedding) and backbone inverse (-> pixels, transposed convolutions); stages \
                and patch do not apply. Returns an inverse (attributes stages, starts, history).
                """) { a in try trainInverse(a) },
        Builtin("reconstruct(inv, acts, from)",
                """
                Reconstructs images [B, C, H, W] in [0, 1] with the inverse chain from the activation at \
                path `from` (e.g. "blocks.5", "blocks.5.resid_attn", "tokens"; a DETR's "predictions", \
                "transformer.decoder.layers.5.normed", "transformer.encoder", "input_proj"): `acts` is a \
                record from capture() or the activation tensor itself; from "predictions", a DETR's \
                output record {pred_logits, pred_boxes} will do.
                """) { a in
            let chain = try inverse(a, "inv").chain
            let path = try a.string("from")
            return .tensor(try GradMode.withoutGrad {
                switch a["acts"] {
                case .record(let record) where path == DETR.predictionsPath && record["predictions"] == nil:
                    let output = try ModelHandle.moduleValue(.record(record), role: "acts")
                    return try chain.reconstruct(try DETR.predictions(from: output), from: path)
                case .record(let record):
                    guard let value = record[path], case .tensor(let activation) = value else {
                        throw LoupeError("reconstruct: the record has no activation '\(path)' (keys: \(record.keys.joined(separator: ", ")))")
                    }
                    return try chain.reconstruct(activation, from: path)
                default:
                    return try chain.reconstruct(try a.tensor("acts"), from: path)
                }
            }.detached())
        },
        Builtin("save_inverse(inv, path)", "Saves an inverse chain as one safetensors file with its configuration (architecture vit-inverse, stages, source model config) as metadata.") { a in
            try a.interpreter.checkFileAccess("save_inverse")
            try inverse(a, "inv").chain.save(to: try a.string("path"))
            return .null
        },
        Builtin("load_inverse(path)", "Loads an inverse chain saved by save_inverse.") { a in
            try a.interpreter.checkFileAccess("load_inverse")
            let path = try a.string("path")
            _ = try? a.interpreter.readFile(path, op: "load_inverse")
            return .handle(InverseHandle(try InverseChain.load(path, architectures: a.interpreter.architectures)))
        },
        Builtin("ssim(a, b)", "Structural similarity of images in [0, 1] as scikit-image (Gaussian 11x11 window, sigma 1.5, K1 0.01, K2 0.03, mean over channels): one value per image of [B, C, H, W], a number for [C, H, W] or [H, W].") { a in
            metric(try ImageMetrics.ssim(try a.tensor("a").detached(), try a.tensor("b").detached()))
        },
        Builtin("psnr(a, b)", "Peak signal-to-noise ratio in dB of images in [0, 1]: per image of [B, C, H, W], a number for one image.") { a in
            metric(try ImageMetrics.psnr(try a.tensor("a").detached(), try a.tensor("b").detached()))
        },
        Builtin("image_mse(a, b)", "Mean squared error per image of [B, C, H, W] (a number for one image); mse() is the loss over all elements.") { a in
            metric(try ImageMetrics.mse(try a.tensor("a").detached(), try a.tensor("b").detached()))
        },
        Builtin("activation_cosine(a, b)", "Cosine similarity per batch item of two activations [B, ...] (flattened).") { a in
            .tensor(try ImageMetrics.cosineSimilarity(try a.tensor("a").detached(), try a.tensor("b").detached()))
        },
        Builtin("recolor(img, hue: nil, set: nil, gray: false, mask: nil)", methodOf: "tensor",
                """
                Changes the colour of RGB images ([3, H, W] or [B, 3, H, W] in [0, 1]) in HSV: `hue` \
                rotates the hue by degrees, `set` sets it to "red", "green", "blue" or a number of \
                degrees (saturation and value kept, so gray pixels stay gray), `gray: true` replaces the \
                colour by its luma. Only inside `mask` ([H, W] weights in [0, 1]) when given.
                """) { a in
            let chosen = [!a.isNil("hue"), !a.isNil("set"), try a.bool("gray")].filter { $0 }.count
            guard chosen == 1 else { throw LoupeError("recolor: give exactly one of hue:, set: or gray: true") }
            let change: ColorChange
            if !a.isNil("hue") {
                change = .rotateHue(try a.float("hue"))
            } else if !a.isNil("set") {
                if case .string(let name) = a["set"] { change = try .named(name) } else { change = .setHue(try a.float("set")) }
            } else {
                change = .gray
            }
            return .tensor(try Recolor.recolor(try a.tensor("img").detached(), change, mask: try a.optionalTensor("mask")))
        },
        Builtin("hue_error(a, b, mask: nil, threshold: 0.1)",
                """
                Mean circular hue difference in degrees (0-180) between RGB images a and b inside the \
                mask, over pixels coloured in both (saturation and value above `threshold`); nan when \
                there are none. Per image of [B, 3, H, W], a number for one image.
                """) { a in
            metric(try Recolor.hueError(try a.tensor("a").detached(), try a.tensor("b").detached(), mask: try a.optionalTensor("mask"),
                                        threshold: try a.float("threshold")))
        },
        Builtin("color_distance(a, b, mask: nil, hue_bins: 18, saturation_bins: 4)",
                """
                Bhattacharyya distance (0 same, 1 disjoint) between the hue-saturation histograms of RGB \
                images a and b inside the mask. Per image of [B, 3, H, W], a number for one image.
                """) { a in
            metric(try Recolor.histogramDistance(try a.tensor("a").detached(), try a.tensor("b").detached(), mask: try a.optionalTensor("mask"),
                                                 hueBins: try a.int("hue_bins"), saturationBins: try a.int("saturation_bins")))
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
        Builtin("box_mask(boxes, height, width)",
                """
                Masks [B, H, W] (1 inside, 0 outside) from boxes [x0, y0, x1, y1] in pixels, one entry per \
                image: a list of detections (records with `box`, as detect returns), a target record \
                {boxes} (as dataset("fashion-mnist-scenes") gives), or a tensor [n, 4]. For color_report's \
                mask: recolour the objects inside their boxes.
                """) { a in try boxMask(a) },
    ]

    // MARK: Argument helpers

    static func metric(_ t: Tensor) -> Value {
        t.rank == 0 ? .number(Double(t.scalars[0])) : .tensor(t)
    }

    static func model(_ a: Arguments, _ name: String) throws -> Module {
        try ModelBindings.model(a, name).module
    }

    static func vit(_ a: Arguments, _ name: String) throws -> VisionTransformer {
        let module = try model(a, name)
        guard let vit = module as? VisionTransformer else {
            throw a.error(name, "\(a.builtin.name): argument '\(name)' must be a ViT, got \(module.typeName)")
        }
        return vit
    }

    static func inverse(_ a: Arguments, _ name: String) throws -> InverseHandle {
        guard case .handle(let h) = a[name], let handle = h as? InverseHandle else { throw a.typeError(name, "an inverse (from train_inverse or load_inverse)") }
        return handle
    }

    /// A tensor, or the `images` of a record.
    static func images(_ a: Arguments, _ name: String) throws -> Tensor {
        if case .record(let record) = a[name] {
            guard let value = record["images"], case .tensor(let t) = value else {
                throw LoupeError("\(a.builtin.name): record argument '\(name)' has no tensor 'images'")
            }
            return t.detached()
        }
        return try a.tensor(name).detached()
    }

    static func floats(_ a: Arguments, _ name: String) throws -> [Float]? {
        if a.isNil(name) { return nil }
        if case .number(let n) = a[name] { return [Float(n)] }
        return try a.list(name).items.map { item in
            guard case .number(let n) = item else {
                throw a.error(name, "\(a.builtin.name): argument '\(name)' must be a list of numbers, got an item of type \(item.typeName)")
            }
            return Float(n)
        }
    }

    /// The normalisation from `mean` / `std` arguments (nil when both are nil).
    static func normalization(_ a: Arguments, mean: String, std: String, channels: Int?) throws -> Normalization? {
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
        let module = try model(a, "m")
        let target = try a.tensor("target").detached()
        let layer = try a.string("layer")
        var shape: [Int]
        if !a.isNil("shape") {
            shape = try a.ints("shape")
        } else if let vit = module as? VisionTransformer {
            shape = [vit.config.channels, vit.config.imageSize, vit.config.imageSize]
        } else if target.rank == 4 {
            shape = Array(target.shape.dropFirst())
        } else {
            throw LoupeError("invert: pass shape: [C, H, W] for a \(module.typeName)")
        }
        guard shape.count == 3 else { throw a.error("shape", "invert: shape must be [C, H, W], got \(shape)") }
        var options = InversionOptions()
        options.steps = try a.int("steps")
        options.learningRate = try a.number("lr")
        options.loss = InversionOptions.Loss(rawValue: try a.choice("loss", ["mse", "cosine"]))!
        options.tv = try a.float("tv")
        options.l2 = try a.float("l2")
        options.jitter = try a.int("jitter")
        options.parameterization = InversionOptions.Parameterization(rawValue: try a.choice("param", ["pixel", "fourier"]))!
        options.initialImage = try a.optionalTensor("init")?.detached()
        let seed = try a.int("seed")
        guard seed >= 0 else { throw a.error("seed", "invert: seed must be non-negative, got \(seed)") }
        options.seed = UInt64(seed)
        options.normalization = try normalization(a, mean: "mean", std: "std", channels: shape[0])
        if !a.isNil("decorrelate") { options.decorrelateColor = try a.bool("decorrelate") }
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
        let module = try model(a, "m")
        let data = try images(a, "data")
        var options = InverseTrainingOptions()
        options.epochs = try a.int("epochs")
        options.batchSize = try a.int("batch")
        options.learningRate = try a.number("lr")
        options.endToEnd = try a.bool("end_to_end")
        let seed = try a.int("seed")
        guard seed >= 0 else { throw a.error("seed", "train_inverse: seed must be non-negative, got \(seed)") }
        options.seed = UInt64(seed)
        options.cosineSchedule = try a.choice("schedule", ["cosine", "constant"]) == "cosine"
        let interpreter = a.interpreter, position = interpreter.builtinCallPos
        options.onStep = { try interpreter.checkInterrupt(position) }
        if let detr = module as? DETR {
            options.normalization = try normalization(a, mean: "mean", std: "std", channels: detr.config.channels)
            let encoderDepth = try a.optionalInt("encoder_depth"), decoderDepth = try a.optionalInt("decoder_depth")
            for (name, depth) in [("encoder_depth", encoderDepth), ("decoder_depth", decoderDepth)] {
                if let depth, depth < 1 { throw a.error(name, "train_inverse: \(name) must be at least 1, got \(depth)") }
            }
            let result = try LoupeInversion.trainInverse(detr, images: data, options: options, encoderDepth: encoderDepth,
                                                         decoderDepth: decoderDepth)
            return .handle(InverseHandle(result.chain, history: result.history))
        }
        guard let model = module as? VisionTransformer else {
            throw a.error("m", "train_inverse: argument 'm' must be a ViT or a DETR, got \(module.typeName)")
        }
        switch a["stages"] {
        case .number:
            let size = try a.int("stages")
            guard size >= 1 else { throw a.error("stages", "train_inverse: stages must be at least 1 block per module, got \(size)") }
            options.layout = .stages(size)
        default:
            options.layout = try a.choice("stages", ["blocks", "sublayers"]) == "blocks" ? .blocks : .sublayers
        }
        options.patch = PatchInverseKind(rawValue: try a.choice("patch", PatchInverseKind.allCases.map(\.rawValue)))!
        options.normalization = try normalization(a, mean: "mean", std: "std", channels: model.config.channels)
        let result = try LoupeInversion.trainInverse(model, images: data, options: options)
        return .handle(InverseHandle(result.chain, history: result.history))
    }

    static func boxMask(_ a: Arguments) throws -> Value {
        let height = try a.int("height"), width = try a.int("width")
        guard height >= 1, width >= 1 else { throw a.error("height", "box_mask: height (\(height)) and width (\(width)) must be positive") }
        let images = try a.list("boxes").items
        var mask = [Float](repeating: 0, count: images.count * height * width)
        for (n, item) in images.enumerated() {
            for box in try boxes(of: item, image: n) {
                guard box.count == 4, box.allSatisfy({ $0.isFinite }) else {
                    throw a.error("boxes", "box_mask: image \(n) has a box \(box) that is not four finite numbers [x0, y0, x1, y1]")
                }
                let x0 = max(0, Int(box[0].rounded(.down))), x1 = min(width, Int(box[2].rounded(.up)))
                let y0 = max(0, Int(box[1].rounded(.down))), y1 = min(height, Int(box[3].rounded(.up)))
                guard x0 < x1, y0 < y1 else { continue }
                for y in y0..<y1 {
                    for x in x0..<x1 { mask[(n * height + y) * width + x] = 1 }
                }
            }
        }
        return .tensor(try Tensor(shape: [images.count, height, width], scalars: mask))
    }

    /// The boxes of one image: detections, a target record {boxes} or a tensor [n, 4].
    static func boxes(of item: Value, image n: Int) throws -> [[Float]] {
        func rows(_ t: Tensor) throws -> [[Float]] {
            if t.count == 0 { return [] }
            guard t.rank == 2, t.shape[1] == 4 else {
                throw LoupeError("box_mask: the boxes of image \(n) must be [n, 4], got \(describe(shape: t.shape))")
            }
            let values = t.detached().contiguous().scalars
            return (0..<t.shape[0]).map { Array(values[($0 * 4)..<($0 * 4 + 4)]) }
        }
        switch item {
        case .tensor(let t): return try rows(t)
        case .record(let record):
            guard let given = record["boxes"] else { throw LoupeError("box_mask: the record of image \(n) has no 'boxes'") }
            if case .tensor(let t) = given { return try rows(t) }
            return try boxes(of: given, image: n)
        case .list(let list):
            return try list.items.map { entry in
                switch entry {
                case .record(let detection):
                    guard let box = detection["box"] else { throw LoupeError("box_mask: a detection of image \(n) has no 'box'") }
                    return try numbers(box, image: n)
                default:
                    return try numbers(entry, image: n)
                }
            }
        default:
            throw LoupeError("box_mask: image \(n) has a \(item.typeName), not detections, a record {boxes} or a tensor [n, 4]")
        }
    }

    static func numbers(_ value: Value, image n: Int) throws -> [Float] {
        switch value {
        case .tensor(let t): return t.detached().contiguous().scalars
        case .list(let list):
            return try list.items.map { item in
                guard case .number(let x) = item else { throw LoupeError("box_mask: a box of image \(n) holds a \(item.typeName), not a number") }
                return Float(x)
            }
        default: throw LoupeError("box_mask: a box of image \(n) is a \(value.typeName), not [x0, y0, x1, y1]")
        }
    }

    static func layers(_ a: Arguments, _ name: String) throws -> [String]? {
        if a.isNil(name) { return nil }
        if case .string(let s) = a[name] { return [s] }
        return try a.list(name).items.map { item in
            guard case .string(let s) = item else {
                throw LoupeError("\(a.builtin.name): argument 'layers' must be a list of paths, got an item of type \(item.typeName)")
            }
            return s
        }
    }

    static func layerReport(_ a: Arguments) throws -> Value {
        let module = try model(a, "m")
        let handle = try inverse(a, "inv")
        let report = try LoupeInversion.layerReport(module, handle.chain, images: try images(a, "images"), layers: try layers(a, "layers"))
        if !a.isNil("grid") {
            try a.interpreter.checkFileAccess("layer_report")
            try PNG.write(report.grid, to: try a.string("grid"))
        }
        let rows: [Value] = report.rows.map { row in
            .record(RecordBox([
                ("layer", .string(row.layer)), ("mse", .number(float: row.mse)), ("psnr", .number(float: row.psnr)),
                ("ssim", .number(float: row.ssim)), ("reencoding", .number(float: row.reencodingCosine)),
                (report.agreementName == "top-1" ? "top1" : "detections", .number(float: row.agreement)),
            ]))
        }
        return .record(RecordBox([
            ("rows", .list(ListBox(rows))), ("table", .string(report.table)), ("grid", .tensor(report.grid)),
            ("images", .record(RecordBox(report.rows.map { ($0.layer, .tensor(report.reconstructions[$0.layer]!)) }))),
        ]))
    }

    static func colorReport(_ a: Arguments) throws -> Value {
        let module = try model(a, "m")
        let handle = try inverse(a, "inv")
        var changes: [ColorChange] = [.setHue(0), .setHue(120), .setHue(240), .gray]
        if !a.isNil("changes") {
            changes = try a.list("changes").items.map { item in
                switch item {
                case .string("gray"): return .gray
                case .string(let name): return try .named(name)
                case .number(let degrees): return .rotateHue(Float(degrees))
                default: throw a.error("changes", "color_report: changes must be colour names, \"gray\" or hue rotations in degrees, got \(item.typeName)")
                }
            }
        }
        let report = try LoupeInversion.colorReport(module, handle.chain, images: try images(a, "images"), changes: changes,
                                                    mask: try a.optionalTensor("mask")?.detached(), layers: try layers(a, "layers"))
        let rows: [Value] = report.rows.map { row in
            .record(RecordBox([
                ("change", .string(row.change)), ("layer", .string(row.layer)), ("hue_error", .number(float: row.hueError)),
                ("hue_error_original", .number(float: row.hueErrorToOriginal)),
                ("colored", .number(float: row.coloredFraction)), ("histogram", .number(float: row.histogramDistance)),
            ]))
        }
        return .record(RecordBox([
            ("rows", .list(ListBox(rows))), ("table", .string(report.table)),
            ("images", .record(RecordBox(report.reconstructions.keys.sorted().map { ($0, .tensor(report.reconstructions[$0]!)) }))),
        ]))
    }
}
