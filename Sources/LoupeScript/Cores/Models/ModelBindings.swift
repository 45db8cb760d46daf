import Foundation
import LoupeIO
import LoupeModels
import LoupeTensor

/// Models from the language: building (`vit`, `resnet`), loading and saving, listing modules,
/// running (`forward`, `predict`) and persistent edits (`replace` with `identity`,
/// `linear_layer`, `mlp_layer`, `sequential` or another model's `submodule`).
enum ModelBindings {
    static let all: [Builtin] = building + files + listing + running + editing

    /// The model argument `i`.
    static func model(_ a: Arguments, _ name: String) throws -> ModelHandle {
        guard case .handle(let h) = a[name], let handle = h as? ModelHandle else { throw a.typeError(name, "a model") }
        return handle
    }

    /// A generator for building argument `seed` (index `i`): seeded when given, else the session's.
    static func initialize(_ a: inout Arguments, seed name: String, _ body: (inout RandomGenerator) throws -> Void) throws {
        if a.isNil(name) {
            try body(&a.interpreter.rng)
        } else {
            let seed = try a.int(name)
            guard seed >= 0 else { throw LoupeError("\(a.builtin.name): argument 'seed' must be non-negative, got \(seed)") }
            var generator = RandomGenerator(seed: UInt64(seed))
            try body(&generator)
        }
    }

    /// Throws when a module of about `count` parameters is too large to allocate (the same limit
    /// as tensor creation).
    static func checkSize(_ count: Double, _ a: Arguments) throws {
        guard count <= Double(TensorBindings.maxElements) else {
            throw LoupeError("\(a.builtin.name): about \(ModelHandle.formatCount(Int(min(count, 1e15)))) parameters is too many (limit \(TensorBindings.maxElements))")
        }
    }

    static func positive(_ a: Arguments, _ name: String) throws -> Int {
        let n = try a.int(name)
        guard n > 0 else { throw a.error(name, "\(a.builtin.name): argument '\(name)' must be positive, got \(n)") }
        return n
    }

    static let building: [Builtin] = [
        Builtin("vit(image_size, patch, dim, depth, heads, classes, channels: 3, mlp_ratio: 4, class_token: true, layer_scale: nil, seed: nil)",
                """
                A Vision Transformer with timm's names and numerics (pre-norm blocks, LayerNorm eps 1e-6, fused qkv, \
                exact GELU; LayerScale ls1/ls2 when layer_scale is a number; class-token pooling, or average pooling \
                with fc_norm when class_token is false), randomly initialised as timm (truncated normal std 0.02) \
                from the session generator, or from seed. Input images [channels, image_size, image_size].
                """) { a in
            let ratio = try a.number("mlp_ratio")
            guard ratio > 0, ratio.isFinite else { throw a.error("mlp_ratio", "vit: argument 'mlp_ratio' must be positive, got \(Display.number(ratio))") }
            let config = ViTConfig(imageSize: try positive(a, "image_size"), patchSize: try positive(a, "patch"), dim: try positive(a, "dim"),
                                   depth: try a.int("depth"), heads: try positive(a, "heads"), classes: try a.int("classes"),
                                   channels: try positive(a, "channels"), mlpRatio: Float(ratio), classToken: try a.bool("class_token"),
                                   layerScale: a.isNil("layer_scale") ? nil : try a.float("layer_scale"))
            let dim = Double(config.dim), hidden = dim * ratio, patches = pow(Double(config.imageSize) / Double(config.patchSize), 2)
            let perBlock = 4 * dim * dim + 2 * dim * hidden
            try checkSize(Double(max(config.depth, 0)) * perBlock + Double(config.channels) * pow(Double(config.patchSize), 2) * dim
                          + (patches + 1) * dim + dim * Double(max(config.classes, 0)), a)
            let model = try VisionTransformer(config)
            try initialize(&a, seed: "seed") { try model.initialize(generator: &$0) }
            return .handle(ModelHandle(model))
        },
        Builtin("resnet(depth, classes, channels: 3, width: 64, small: false, seed: nil)",
                """
                A ResNet (depth 10, 18, 34, 50, 101 or 152) with torchvision's names and numerics (batch norm in \
                evaluation mode), randomly initialised as torchvision (convolutions Kaiming normal fan_out, batch norm \
                1 and 0, fc torch's default) from the session generator, or from seed. width is layer1's channels; \
                small: true uses a 3x3 stride-1 stem without max pool for small images such as 28x28.
                """) { a in
            let config = ResNetConfig(depth: try a.int("depth"), classes: try a.int("classes"), channels: try positive(a, "channels"),
                                      width: try positive(a, "width"), stem: try a.bool("small") ? .small : .imagenet)
            // torchvision's parameter counts at width 64, scaled by the square of the width.
            let base: [Int: Double] = [10: 4.9e6, 18: 11.7e6, 34: 21.8e6, 50: 25.6e6, 101: 44.5e6, 152: 60.2e6]
            try checkSize((base[config.depth] ?? 0) * pow(Double(config.width) / 64, 2) * 1.1 + Double(config.classes) * Double(config.width) * 32, a)
            let model = try ResNet(config)
            try initialize(&a, seed: "seed") { try model.initialize(generator: &$0) }
            return .handle(ModelHandle(model))
        },
    ]

    static let files: [Builtin] = [
        Builtin("model(path)",
                """
                Loads a model saved by save_model (or exported from timm/torchvision by the Scripts/export_* tools): \
                the architecture and configuration come from the checkpoint's metadata, weights are loaded strictly, \
                class names (metadata loupe.classes) become m.classes, and edits made by replace are rebuilt.
                """) { a in
            let path = try a.string("path")
            _ = try a.interpreter.readFile(path, op: "model")
            let loaded = try loadModelWithClasses(path, architectures: a.interpreter.architectures)
            return .handle(ModelHandle(loaded.model, classNames: loaded.classNames, preprocess: try ModelPreprocess.read(path)))
        },
        Builtin("load_weights(m, path, strict: true)", methodOf: "model",
                """
                Loads a safetensors checkpoint (or a sharded *.index.json) into m by parameter path. strict: true \
                loads nothing and raises an error listing missing, unexpected and shape-mismatched keys unless all \
                match, else returns nil; strict: false loads the matching keys and returns a record {missing, \
                unexpected, mismatched, loaded} (lists of keys; loaded is a count). Parameters shared with models \
                made by replace change too.
                """) { a in
            let handle = try model(a, "m")
            let path = try a.string("path")
            try a.interpreter.checkFileAccess("load_weights")
            _ = try a.interpreter.readFile(path, op: "load_weights")
            let strict = try a.bool("strict")
            let report = try loadWeights(handle.module, from: path, strict: strict)
            if strict { return .null }
            func strings(_ items: [String]) -> Value { .list(ListBox(items.map { .string($0) })) }
            return .record(RecordBox([
                ("missing", strings(report.missing)),
                ("unexpected", strings(report.unexpected)),
                ("mismatched", strings(report.mismatched.map {
                    "\($0.key) (model \(describe(shape: $0.model)), checkpoint \(describe(shape: $0.checkpoint)))"
                })),
                ("loaded", .number(Double(report.loaded.count))),
            ]))
        },
        Builtin("save_model(m, path)", methodOf: "model",
                """
                Saves m as safetensors with its architecture, configuration and class names in the metadata, so \
                model(path) rebuilds it. A model edited by replace is saved with its edits when every replacement is \
                a module Loupe can rebuild (identity, linear_layer, mlp_layer, sequential, a ViT block, ...).
                """) { a in
            let handle = try model(a, "m")
            try a.interpreter.checkFileAccess("save_model")
            try saveModel(handle.module, to: try a.string("path"), classNames: handle.classNames)
            return .null
        },
    ]

    /// Output shapes by activation path for one forward pass on zeros of `shape` (evaluation
    /// mode, no gradients).
    /// The shapes every module sees in one forward pass on zeros (evaluation mode, no gradients):
    /// `input_shape` is a shape ([C, H, W] or [B, C, H, W] for an image model) or, for a model with
    /// several inputs, a record of shapes by input name.
    static func moduleShapes(_ handle: ModelHandle, _ a: Arguments, _ name: String, op: String) throws -> ModuleShapes {
        func zeros(_ shape: [Int], _ label: String) throws -> Value {
            guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }),
                  shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) <= 1 << 28 else {
                throw a.error(name, "\(op): \(label) \(describe(shape: shape)) must have positive sizes and at most 2^28 elements")
            }
            return .tensor(try Tensor.zeros(shape))
        }
        let input: Value
        if case .record(let record) = a[name] {
            input = .record(RecordBox(try record.keys.map { key in
                guard case .list(let list) = record[key], let shape = try? list.items.map({ (item: Value) -> Int in
                    guard case .number(let n) = item, n == n.rounded(), abs(n) < 1e9 else { throw LoupeError("") }
                    return Int(n)
                }) else {
                    throw a.error(name, "\(op): input_shape's '\(key)' must be a list of integers, got \(record[key]?.typeName ?? "nil")")
                }
                return (key, try zeros(shape, "input_shape's '\(key)'"))
            }))
        } else {
            input = try zeros(try a.ints(name), "input_shape")
        }
        let inputs = try handle.inputs(input, op: op)
        return try handle.inEvaluationMode { try LoupeModels.moduleShapes(handle.module, inputs: inputs) }
    }

    static let listing: [Builtin] = [
        Builtin("modules(m, input_shape: nil)", methodOf: "model",
                """
                The module tree as a list of records {path, type, params} (params: parameters of the module and its \
                children; the root's path is ""), depth first. With input_shape ([C, H, W] or [B, C, H, W]; for a \
                model with several inputs a record of shapes by input name, {x: [2, 16, 64], c: [2, 64]}) each record \
                also has inputs (each input's shape by name) and shape (the output's shape, nil for a record output) \
                in one forward pass on zeros (batch axis included, 1 for [C, H, W]). m.modules is the list without shapes.
                """) { a in
            let handle = try model(a, "m")
            let shapes = a.isNil("input_shape") ? nil : try moduleShapes(handle, a, "input_shape", op: "modules")
            return .list(ListBox(handle.moduleRecords(shapes: shapes)))
        },
        Builtin("summary(m, input_shape: nil)", methodOf: "model",
                """
                Prints the module tree as a table: path, type, input and output shapes (with input_shape, as for \
                modules; a module with several inputs lists each, x [2, 16, 64], c [2, 64]) and the parameters each \
                module owns directly, then the totals. Returns nil.
                """) { a in
            let handle = try model(a, "m")
            let shapes = a.isNil("input_shape") ? nil : try moduleShapes(handle, a, "input_shape", op: "summary")
            a.interpreter.output(summaryTable(handle, shapes: shapes))
            return .null
        },
        Builtin("submodule(m, path)", methodOf: "model",
                """
                The module at path (e.g. "blocks.3", "layer2.0") as a model value sharing its parameters: call it \
                on its own input (submodule(m, "blocks.3")(tokens)), capture inside it with paths relative to it, \
                or put it elsewhere with replace. "" is m itself.
                """) { a in
            let handle = try model(a, "m")
            let path = try a.string("path")
            if path.isEmpty { return .handle(handle) }
            guard let sub = handle.module.module(at: path) else { throw unknownModule(path, in: handle.module, op: "submodule") }
            return .handle(ModelHandle(sub))
        },
    ]

    static func unknownModule(_ path: String, in module: Module, op: String) -> LoupeError {
        let paths = module.namedModules().map(\.path).filter { !$0.isEmpty }
        let close = similarPaths(to: path, among: paths)
        return LoupeError("\(op): no module at path '\(path)' (\(paths.count) module paths; closest: \(close.joined(separator: ", ")))")
    }

    static func summaryTable(_ handle: ModelHandle, shapes: ModuleShapes?) -> String {
        var rows: [[String]] = [["path", "type"] + (shapes == nil ? [] : ["input", "output"]) + ["params"]]
        for (path, m) in handle.module.namedModules() {
            let own = m.ownParameters.reduce(0) { $0 + $1.parameter.value.count }
            var row = [path.isEmpty ? "(root)" : path, m.typeName]
            if let shapes {
                let entry = shapes[path]
                let inputs = entry?.inputs ?? []
                row.append(inputs.isEmpty ? "-" : m.inputSignature.count == 1 ? describe(shape: inputs[0].shape)
                           : inputs.map { "\($0.name) \(describe(shape: $0.shape))" }.joined(separator: ", "))
                row.append(entry?.output.map { describe(shape: $0) } ?? (entry == nil ? "-" : "record"))
            }
            row.append(own > 0 ? Module.grouped(own) : "")
            rows.append(row)
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { column, text in
                column == row.count - 1 ? String(repeating: " ", count: widths[column] - text.count) + text
                                        : text + String(repeating: " ", count: widths[column] - text.count)
            }.joined(separator: "  ")
        }
        let buffers = handle.module.namedBuffers().reduce(0) { $0 + $1.parameter.value.count }
        lines.append("\(Module.grouped(handle.module.parameterCount)) parameters" + (buffers > 0 ? ", \(Module.grouped(buffers)) buffer values" : ""))
        return lines.map { line in String(line.reversed().drop { $0 == " " }.reversed()) }.joined(separator: "\n")
    }

    static let running: [Builtin] = [
        Builtin("forward(m, x)", methodOf: "model",
                """
                The model's output on x: an image [C, H, W] (a batch axis of 1 is added and kept in the output) or a \
                batch [B, C, H, W]; a submodule takes its own input, a model with several inputs a record of them \
                ({x: x, c: c}). Differentiable (works inside grad). Same as m(x) (m(x, c: c) with several inputs).
                """) { a in
            let handle = try model(a, "m")
            return ModelHandle.value(of: try handle.module.callAsFunction(inputs: try handle.inputs(a["x"], op: "forward")))
        },
        Builtin("predict(m, x, top: 5)", methodOf: "model",
                """
                Class probabilities (softmax of the logits, evaluation mode, no gradients): for an image [C, H, W] a \
                list of the top records {class, name, prob} (class index, class name from m.classes or nil), most \
                probable first; for a batch [B, C, H, W] a list of such lists.
                """) { a in
            let handle = try model(a, "m")
            let x = try a.tensor("x")
            let top = try positive(a, "top")
            let batch = try handle.batched(x, op: "predict")
            let logits = try handle.inEvaluationMode { try GradMode.withoutGrad { try handle.module.callAsFunction(batch) } }
            guard logits.rank == 2, logits.shape[1] > 0 else {
                throw LoupeError("predict: the model's output \(describe(shape: logits.shape)) is not logits [B, classes]")
            }
            let probs = try NN.softmax(logits, axis: -1).contiguousCopy().scalars
            let k = logits.shape[1]
            let lists: [Value] = (0..<logits.shape[0]).map { row in
                let p = probs[(row * k)..<(row * k + k)]
                let order = p.indices.sorted { p[$0] > p[$1] || (p[$0] == p[$1] && $0 < $1) }.prefix(top)
                return .list(ListBox(order.map { index in
                    let c = index - row * k
                    let name: Value = handle.classNames.flatMap { c < $0.count ? .string($0[c]) : nil } ?? .null
                    return .record(RecordBox([("class", .number(Double(c))), ("name", name), ("prob", .number(Double(p[index])))]))
                }))
            }
            return x.rank == 3 && handle.imageInput != nil ? lists[0] : .list(ListBox(lists))
        },
    ]

    static let editing: [Builtin] = [
        Builtin("replace(m, path, module)", methodOf: "model",
                """
                A new model in which the module at path is module (a model value: identity(), linear_layer(...), \
                mlp_layer(...), sequential([...]), or submodule(other, path)). Every other parameter is shared with m, \
                which is not changed; the replacement's parameters are shared with module. Capture and patch paths \
                inside the replacement nest under path. Edits compose: replace(replace(m, a, x), b, y).
                """) { a in
            let handle = try model(a, "m")
            let replacement = try model(a, "module")
            let edited = try replace(handle.module, at: try a.string("path"), with: replacement.module)
            return .handle(ModelHandle(edited, classNames: handle.classNames, preprocess: handle.preprocess))
        },
        Builtin("identity()", "A module that returns its input: replace(m, \"blocks.3\", identity()) skips block 3.") { _ in
            .handle(ModelHandle(Identity()))
        },
        Builtin("linear_layer(inputs, outputs, bias: true, seed: nil)",
                "A linear module y = x W^T + b (weight [outputs, inputs]) initialised as torch's nn.Linear (uniform in ±1/sqrt(inputs)) from the session generator or seed; a replacement for replace.") { a in
            try checkSize(Double(try positive(a, "inputs")) * Double(try positive(a, "outputs")), a)
            let layer = try Linear(try positive(a, "inputs"), try positive(a, "outputs"), bias: try a.bool("bias"))
            try initialize(&a, seed: "seed") { try layer.resetParameters(generator: &$0) }
            return .handle(ModelHandle(layer))
        },
        Builtin("mlp_layer(dim, hidden, seed: nil)",
                "A ViT MLP (fc1 dim -> hidden, exact GELU, fc2 hidden -> dim) initialised as torch's nn.Linear; a replacement for a block's mlp.") { a in
            try checkSize(2 * Double(try positive(a, "dim")) * Double(try positive(a, "hidden")), a)
            let mlp = try MLP(dim: try positive(a, "dim"), hidden: try positive(a, "hidden"))
            try initialize(&a, seed: "seed") { try mlp.resetParameters(generator: &$0) }
            return .handle(ModelHandle(mlp))
        },
        Builtin("conv_layer(inputs, outputs, kernel, stride: 1, padding: 0, groups: 1, bias: true, seed: nil)",
                "A 2-D convolution module (weight [outputs, inputs / groups, kernel, kernel]) initialised as torch's nn.Conv2d (uniform in ±1/sqrt(fan_in)) from the session generator or seed.") { a in
            try checkSize(Double(try positive(a, "inputs")) * Double(try positive(a, "outputs")) * pow(Double(try positive(a, "kernel")), 2), a)
            let conv = try Conv2d(try positive(a, "inputs"), try positive(a, "outputs"), kernel: try positive(a, "kernel"), stride: try positive(a, "stride"),
                                  padding: try a.int("padding"), groups: try positive(a, "groups"), bias: try a.bool("bias"))
            guard conv.padding.0 >= 0 else { throw a.error("padding", "conv_layer: argument 'padding' must be non-negative, got \(conv.padding.0)") }
            try initialize(&a, seed: "seed") { try conv.resetParameters(generator: &$0) }
            return .handle(ModelHandle(conv))
        },
        Builtin("norm_layer(dim, eps: 1e-6)", "A LayerNorm module over the last axis (weight ones, bias zeros; eps 1e-6 as timm's ViTs).") { a in
            try checkSize(2 * Double(try positive(a, "dim")), a)
            return .handle(ModelHandle(try LayerNorm(try positive(a, "dim"), eps: try a.float("eps"))))
        },
        Builtin("gelu_layer()", "An exact-erf GELU module (for sequential).") { _ in .handle(ModelHandle(GELU())) },
        Builtin("relu_layer()", "A ReLU module (for sequential).") { _ in .handle(ModelHandle(ReLU())) },
        Builtin("sequential(modules)",
                "A module running a list of modules (model values) one after another; their paths inside it are 0, 1, ...") { a in
            let items = try a.list("modules").items
            let modules: [Module] = try items.enumerated().map { index, item in
                guard case .handle(let h) = item, let handle = h as? ModelHandle else {
                    throw LoupeError("sequential: item \(index) must be a model or module, got \(item.typeName)")
                }
                return handle.module
            }
            return .handle(ModelHandle(Sequential(modules)))
        },
    ]
}
