import Foundation
import LoupeIO
import LoupeTensor

/// File-format bindings: images, safetensors, data sets, grids and image display. Files read
/// here are recorded (with their SHA-256) for session headers.
enum IOBindings {
    /// Argument `name`: one tensor or a list of tensors.
    static func tensors(_ a: Arguments, _ name: String) throws -> [Tensor] {
        switch a[name] {
        case .tensor(let t): return [t]
        case .list(let l):
            return try l.items.map {
                guard case .tensor(let t) = $0 else {
                    throw a.error(name, "\(a.builtin.name): expected a list of tensors, got an item of type \($0.typeName)")
                }
                return t
            }
        default: throw a.typeError(name, "a tensor or a list of tensors")
        }
    }

    /// `dataset("fashion-mnist-scenes", ...)`: the record {images, targets, classes}.
    static func scenes(_ a: Arguments, split: FashionMNIST.Split, classes: Value) throws -> RecordBox {
        let count = try a.optionalInt("count") ?? 1000
        let size = try a.optionalInt("size") ?? FashionMNISTScenes.defaultSize
        guard count > 0 else { throw a.error("count", "dataset: argument 'count' must be positive, got \(count)") }
        let sizes = FashionMNISTScenes.sizes
        guard sizes.contains(size) else {
            throw a.error("size", "dataset: argument 'size' must be in \(sizes.lowerBound)...\(sizes.upperBound), got \(size)")
        }
        guard Double(count) * 3 * Double(size * size) <= Double(TensorBindings.maxElements) else {
            throw a.error("count", "dataset: \(count) scenes of \(size) x \(size) is too many values (limit \(TensorBindings.maxElements))")
        }
        let batch = try FashionMNISTScenes(split: split, size: size).scenes(0..<count)
        let targets: [Value] = try batch.objects.map { objects in
            let boxes = try Tensor(shape: [objects.count, 4], scalars: objects.flatMap(\.box.coordinates))
            return .record(RecordBox([("labels", .list(ListBox(objects.map { .number(Double($0.label)) }))), ("boxes", .tensor(boxes))]))
        }
        return RecordBox([("images", .tensor(batch.images)), ("targets", .list(ListBox(targets))), ("classes", classes)])
    }

    static let all: [Builtin] = [
        Builtin("image(path, alpha: false)", "Reads a PNG file as a [C, H, W] tensor in [0, 1] (gray: C = 1, color: C = 3; alpha kept only with alpha: true).") { a in
            let path = try a.string("path")
            let data = try a.interpreter.readFile(path, op: "image")
            return .tensor(try PNG.decode(data, dropAlpha: !(try a.bool("alpha")), source: path))
        },
        Builtin("image_folder(path, size: 224, limit: nil)",
                """
                Reads every PNG file in a folder (sorted by name; at most `limit`) as one batch [N, C, \
                size, size] in [0, 1]: each image resized (bilinear, antialiased) so its shorter side is \
                `size`, then cropped to the centre square, as torchvision's Resize + CenterCrop. Gray \
                images become 3 channels when others are colour; alpha is dropped.
                """) { a in
            let folder = try a.string("path")
            let side = try a.int("size")
            guard side >= 1, side <= 4096 else { throw a.error("size", "image_folder: size must be 1...4096, got \(side)") }
            try a.interpreter.checkFileAccess("image_folder")
            var names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.lowercased().hasSuffix(".png") }.sorted()
            } catch {
                throw a.error("path", "image_folder: cannot list folder '\(folder)': \(error.localizedDescription)")
            }
            if let limit = try a.optionalInt("limit") {
                guard limit >= 1 else { throw a.error("limit", "image_folder: limit must be at least 1, got \(limit)") }
                names = Array(names.prefix(limit))
            }
            guard !names.isEmpty else { throw a.error("path", "image_folder: no PNG files in '\(folder)'") }
            var images: [Tensor] = []
            for name in names {
                let path = (folder as NSString).appendingPathComponent(name)
                let image = try PNG.decode(try a.interpreter.readFile(path, op: "image_folder"), dropAlpha: true, source: path)
                let h = image.shape[1], w = image.shape[2]
                let scale = Double(side) / Double(min(h, w))
                let (rh, rw) = (max(side, Int((Double(h) * scale).rounded())), max(side, Int((Double(w) * scale).rounded())))
                let resized = try Images.resize(image, height: rh, width: rw, antialias: true)
                let top = (rh - side) / 2, left = (rw - side) / 2
                images.append(try resized.sliced(axis: 1, start: top, end: top + side).sliced(axis: 2, start: left, end: left + side).contiguous())
            }
            let channels = images.map { $0.shape[0] }.max() ?? 1
            let batch = try images.map { image in
                image.shape[0] == channels ? image : try image.expanded(to: [channels, side, side]).contiguous()
            }
            return .tensor(try Tensor.stack(batch, axis: 0))
        },
        Builtin("save_image(img, path)", methodOf: "tensor", "Writes a [C, H, W] or [H, W] tensor (values clamped to [0, 1]) as a PNG file, atomically.") { a in
            try a.interpreter.checkFileAccess("save_image")
            try PNG.write(try a.tensor("img").detached(), to: try a.string("path"))
            return .null
        },
        Builtin("show(img, path: nil)", methodOf: "tensor", "Shows an image ([C, H, W] in [0, 1]): inline in the REPL, embedded in --html notebooks, and written as PNG when path is given.") { a in
            let t = try a.tensor("img").detached()
            let png = try PNG.encode(t)
            if !a.isNil("path") { try a.interpreter.checkFileAccess("show"); try FileIO.writeAtomically([UInt8](png), to: try a.string("path"), op: "show") }
            a.interpreter.shownImages.append([UInt8](png))
            a.interpreter.imageSink?(t, [UInt8](png))
            a.interpreter.output("<image \(describe(shape: t.shape))>")
            return .null
        },
        Builtin("load_tensors(path)", "Reads a safetensors file as a record of tensors by name (sorted by name).") { a in
            let path = try a.string("path")
            let data = try a.interpreter.readFile(path, op: "load_tensors")
            let file = try SafeTensorsFile(data: data, name: path)
            let all = try file.allTensors()
            return .record(RecordBox(all.keys.sorted().map { ($0, .tensor(all[$0]!)) }))
        },
        Builtin("save_tensors(path, tensors)", "Writes a record of tensors to a safetensors file (float32), atomically.") { a in
            try a.interpreter.checkFileAccess("save_tensors")
            let r = try a.record("tensors")
            var dict: [String: Tensor] = [:]
            for k in r.keys {
                guard case .tensor(let t) = r[k]! else { throw LoupeError("save_tensors: value '\(k)' is a \(r[k]!.typeName), not a tensor") }
                dict[k] = t.detached()
            }
            try SafeTensors.write(dict, to: try a.string("path"))
            return .null
        },
        Builtin("dataset(name, split: \"test\", count: nil, size: nil)",
                """
                Loads a data set as a record; split is "train" or "test". "fashion-mnist": {images [N, 1, 28, 28] in \
                [0, 1], labels [N], classes}. "fashion-mnist-scenes": detection scenes of the split's garments, count \
                of them (default 1000) of size x size pixels (default 96): 1 to 4 Fashion-MNIST garments per black \
                canvas, each resized (20 to 48 pixels at size 96), tinted and placed with limited overlap; returns \
                {images [N, 3, size, size] in [0, 1], targets: one {labels, boxes} per scene (boxes [n, 4] tight \
                around the visible pixels, x0, y0, x1, y1 in pixels with x1, y1 one past the last column and row), \
                classes}. Scene i is the same for any count.
                """) { a in
            let name = try a.string("name")
            let names = ["fashion-mnist", "fashion-mnist-scenes"]
            guard names.contains(name) else {
                throw a.error("name", "dataset: unknown data set '\(name)' (available: \(names.joined(separator: ", ")))")
            }
            let splitName = try a.string("split")
            guard let split = FashionMNIST.Split(rawValue: splitName) else {
                throw a.error("split", "dataset: unknown split '\(splitName)' (use \"train\" or \"test\")")
            }
            if name == "fashion-mnist" {
                for option in ["count", "size"] where !a.isNil(option) {
                    throw a.error(option, "dataset: argument '\(option)' applies only to \"fashion-mnist-scenes\"")
                }
            }
            try a.interpreter.checkFileAccess("dataset")
            let set = try FashionMNIST()
            let examples = try set.load(split)
            for kind in ["images-idx3", "labels-idx1"] {
                _ = try? a.interpreter.readFile(set.directory + "/\(split.rawValue == "train" ? "train" : "t10k")-\(kind)-ubyte.gz", op: "dataset")
            }
            let classes = Value.list(ListBox(FashionMNIST.classNames.map { .string($0) }))
            guard name == "fashion-mnist-scenes" else {
                return .record(RecordBox([("images", .tensor(examples.images)), ("labels", .tensor(examples.labels)), ("classes", classes)]))
            }
            return .record(try scenes(a, split: split, classes: classes))
        },
        Builtin("grid(images, cols: 8, padding: 2)", "Tiles images (a list of [C, H, W] tensors or one [N, C, H, W] tensor) into one image with cols columns.") { a in
            let cols = try a.int("cols"), padding = try a.int("padding")
            guard cols > 0 else { throw a.error("cols", "grid: argument 'cols' must be positive, got \(cols)") }
            guard padding >= 0 else { throw a.error("padding", "grid: argument 'padding' must be non-negative, got \(padding)") }
            return .tensor(try Images.grid(try tensors(a, "images").map { $0.detached() }, columns: cols, padding: padding))
        },
    ]
}
