import Foundation
import LoupeModels
import LoupeTensor

/// Object detection from the language: building a DETR (`detr`) and finding objects with it
/// (`detect`).
enum DetectionBindings {
    static let all: [Builtin] = [
        Builtin("detr(classes: 91, queries: 100, dim: 256, heads: 8, encoder_layers: 6, decoder_layers: 6, ffn: 2048, backbone: \"resnet50\", width: 64, channels: 3, frozen_batch_norm: true, eval_size: 800, eval_max_size: 1333, seed: nil)",
                """
                A DETR with facebookresearch/detr's names and numerics: a ResNet backbone (backbone "resnet18", \
                "resnet34", "resnet50" or "resnet101"; width is layer1's channels) with FrozenBatchNorm2d \
                (frozen_batch_norm: false trains batch norm instead, for a backbone learnt from scratch), the sine \
                position embedding, post-norm encoder and decoder layers, and the class (classes + 1 with "no \
                object") and box heads. m(x) or m(x, mask: padding) returns {pred_logits, pred_boxes, aux_outputs} \
                (boxes normalised cx, cy, w, h). Randomly initialised as DETR (xavier_uniform transformer, Kaiming \
                backbone, normal query embeddings) from the session generator, or from seed. eval_size and \
                eval_max_size set detect's resizing (shortest side, longest-side limit).
                """) { a in
            let config = DETRConfig(classes: try ModelBindings.positive(a, "classes"), queries: try ModelBindings.positive(a, "queries"),
                                    dim: try ModelBindings.positive(a, "dim"), heads: try ModelBindings.positive(a, "heads"),
                                    encoderLayers: try a.int("encoder_layers"), decoderLayers: try a.int("decoder_layers"),
                                    ffn: try ModelBindings.positive(a, "ffn"), backbone: try a.string("backbone"),
                                    width: try ModelBindings.positive(a, "width"), channels: try ModelBindings.positive(a, "channels"),
                                    frozenBatchNorm: try a.bool("frozen_batch_norm"), evalSize: try ModelBindings.positive(a, "eval_size"),
                                    evalMaxSize: try ModelBindings.positive(a, "eval_max_size"))
            try config.validate()
            let base: [Int: Double] = [18: 11.2e6, 34: 21.3e6, 50: 23.5e6, 101: 42.5e6]
            let dim = Double(config.dim), ffn = Double(config.ffn)
            let layers = Double(config.encoderLayers) * (4 * dim * dim + 2 * dim * ffn)
                + Double(config.decoderLayers) * (8 * dim * dim + 2 * dim * ffn)
            try ModelBindings.checkSize((base[config.backboneConfig.depth] ?? 0) * pow(Double(config.width) / 64, 2) * 1.1 + layers
                                        + Double(config.queries) * dim + Double(config.backboneConfig.featureChannels) * dim, a)
            let model = try DETR(config)
            try ModelBindings.initialize(&a, seed: "seed") { try model.initialize(generator: &$0) }
            return .handle(ModelHandle(model))
        },
        Builtin("detect(m, image, threshold: 0.7, size: nil)", methodOf: "model",
                """
                Objects a DETR finds in an image [C, H, W] in [0, 1] (a gray image is repeated to 3 channels): \
                DETR's evaluation transform (shortest side m.config.eval_size, 800 for DETR-R50, or size; longest at \
                most eval_max_size; ImageNet normalisation), then the classes' softmax without the no-object class. \
                Returns the records {label, name, score, box: [x0, y0, x1, y1], query} scoring above threshold, best \
                first (query: the index of the DETR query that found it, for its attention maps), \
                boxes in pixels of the image given; a list of images (any sizes: batched with DETR's padding mask) or \
                a batch [B, C, H, W] gives a list of such lists.
                """) { a in
            let handle = try ModelBindings.model(a, "m")
            guard let detr = handle.root as? DETR else {
                throw a.error("m", "detect: the model is a \(handle.root.typeName), not a DETR")
            }
            let threshold = try a.number("threshold")
            guard threshold.isFinite, threshold >= 0, threshold < 1 else {
                throw a.error("threshold", "detect: argument 'threshold' must be in [0, 1), got \(Display.number(threshold))")
            }
            let size = try a.optionalInt("size")
            if let size, size <= 0 { throw a.error("size", "detect: argument 'size' must be positive, got \(size)") }
            var images: [Tensor]
            var single = false
            switch a["image"] {
            case .tensor(let t) where t.rank == 3:
                images = [t]
                single = true
            case .tensor(let t) where t.rank == 4:
                images = try (0..<t.shape[0]).map { try t.sliced(axis: 0, start: $0, end: $0 + 1).squeezed(axes: [0]) }
            case .tensor(let t):
                throw a.error("image", "detect: expected an image [C, H, W] or a batch [B, C, H, W], got \(describe(shape: t.shape))")
            case .list(let list):
                images = try list.items.enumerated().map { index, item in
                    guard case .tensor(let t) = item else {
                        throw a.error("image", "detect: item \(index) of the image list is a \(item.typeName), not an image tensor")
                    }
                    return t
                }
            default:
                throw a.typeError("image", "an image tensor or a list of images")
            }
            let found = try handle.inEvaluationMode {
                try detr.detect(images, threshold: Float(threshold), size: size, through: handle.module)
            }
            let lists: [Value] = found.map { detections in
                .list(ListBox(detections.map { d in
                    let name: Value = handle.classNames.flatMap { d.label < $0.count ? .string($0[d.label]) : nil } ?? .null
                    return .record(RecordBox([("label", .number(Double(d.label))), ("name", name), ("score", .number(float: d.score)),
                                              ("box", .list(ListBox(d.box.map { .number(float: $0) }))),
                                              ("query", d.query.map { .number(Double($0)) } ?? .null)]))
                }))
            }
            return single ? lists[0] : .list(ListBox(lists))
        },
    ]
}
