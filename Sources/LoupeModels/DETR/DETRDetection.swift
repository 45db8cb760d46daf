import Foundation
import LoupeIO
import LoupeTensor

/// One object found by a detector: its class index, score and box in pixels of the image it was
/// found in (`x0, y0, x1, y1`, the corners' coordinates; width is `x1 - x0`), and for a DETR the
/// query that found it (to look at where that query attends).
public struct Detection: Equatable, Sendable {
    public var label: Int
    public var score: Float
    public var box: [Float]
    public var query: Int?

    public init(label: Int, score: Float, box: [Float], query: Int? = nil) {
        self.label = label
        self.score = score
        self.box = box
        self.query = query
    }
}

extension DETR {
    /// ImageNet's channel means and deviations, DETR's input normalisation.
    public static let imageMean: [Float] = [0.485, 0.456, 0.406]
    public static let imageStd: [Float] = [0.229, 0.224, 0.225]

    /// The size DETR's evaluation transform (`T.RandomResize([size], max_size)`, its
    /// `get_size_with_aspect_ratio`) gives an image of `height` x `width`: the shorter side
    /// becomes `size` unless the longer would then exceed `maxSize`, in which case the shorter
    /// is `round(maxSize * shorter / longer)`; the longer side is truncated as DETR does.
    public static func evaluationSize(height: Int, width: Int, size: Int, maxSize: Int?) -> (height: Int, width: Int) {
        var size = size
        if let maxSize {
            let shorter = Double(min(height, width)), longer = Double(max(height, width))
            if longer / shorter * Double(size) > Double(maxSize) {
                size = Int((Double(maxSize) * shorter / longer).rounded(.toNearestOrEven))
            }
        }
        if (width <= height && width == size) || (height <= width && height == size) { return (height, width) }
        if width < height { return (Int(Double(size) * Double(height) / Double(width)), size) }
        return (size, Int(Double(size) * Double(width) / Double(height)))
    }

    /// DETR's evaluation input for `images` (each `[C, H, W]` in [0, 1]; a gray image is
    /// repeated to the model's 3 channels): resized (bilinear, antialiased as PIL) to
    /// `evaluationSize` (shorter side `size`, default `config.evalSize`, longer at most
    /// `config.evalMaxSize`), normalised with ImageNet's statistics, and padded at the bottom and
    /// right into one batch with its padding mask (nil when all sizes agree).
    public func evaluationBatch(_ images: [Tensor], size: Int? = nil, op: String = "detect") throws -> (images: Tensor, mask: Tensor?) {
        guard !images.isEmpty else { throw LoupeError("\(op): no images given") }
        let side = size ?? config.evalSize
        guard side > 0 else { throw LoupeError("\(op): size must be positive, got \(side)") }
        let channels = config.channels
        var prepared: [Tensor] = []
        for (index, image) in images.enumerated() {
            guard image.rank == 3, image.shape[1] > 0, image.shape[2] > 0, image.shape[0] == channels || image.shape[0] == 1 else {
                throw LoupeError("\(op): image \(index) has shape \(describe(shape: image.shape)); expected [\(channels), H, W]\(channels == 1 ? "" : " or [1, H, W]")")
            }
            var x = image.detached()
            if x.shape[0] != channels { x = try x.expanded(to: [channels, x.shape[1], x.shape[2]]).contiguous() }
            let target = Self.evaluationSize(height: x.shape[1], width: x.shape[2], size: side,
                                             maxSize: size == nil ? config.evalMaxSize : max(config.evalMaxSize, side))
            if target.height != x.shape[1] || target.width != x.shape[2] {
                x = try Images.resize(x, height: target.height, width: target.width, mode: .bilinear, antialias: true)
            }
            if channels == 3 {
                let mean = try Tensor(shape: [3, 1, 1], scalars: Self.imageMean), std = try Tensor(shape: [3, 1, 1], scalars: Self.imageStd)
                x = try (x - mean) / std
            }
            prepared.append(x)
        }
        let h = prepared.map { $0.shape[1] }.max() ?? 0, w = prepared.map { $0.shape[2] }.max() ?? 0
        if prepared.allSatisfy({ $0.shape[1] == h && $0.shape[2] == w }) {
            return (try Tensor.stack(prepared, axis: 0), nil)
        }
        var pixels = [Float](repeating: 0, count: prepared.count * channels * h * w)
        var mask = [Float](repeating: 1, count: prepared.count * h * w)
        for (n, image) in prepared.enumerated() {
            let ih = image.shape[1], iw = image.shape[2], source = image.contiguous().scalars
            for c in 0..<channels {
                for y in 0..<ih {
                    let from = (c * ih + y) * iw, to = ((n * channels + c) * h + y) * w
                    pixels.replaceSubrange(to..<(to + iw), with: source[from..<(from + iw)])
                }
            }
            for y in 0..<ih { for x in 0..<iw { mask[(n * h + y) * w + x] = 0 } }
        }
        return (try Tensor(shape: [prepared.count, channels, h, w], scalars: pixels),
                try Tensor(shape: [prepared.count, h, w], scalars: mask))
    }

    /// DETR's `PostProcess` with a score threshold: per image, the queries whose best real class
    /// (softmax over all classes, "no object" left out of the maximum) scores above `threshold`,
    /// with boxes turned from normalised (cx, cy, w, h) to corners in pixels of the image's
    /// original `sizes` (height, width); highest score first.
    public static func detections(logits: Tensor, boxes: Tensor, sizes: [(height: Int, width: Int)], threshold: Float) throws -> [[Detection]] {
        guard logits.rank == 3, boxes.rank == 3, boxes.shape[2] == 4, logits.shape[0] == boxes.shape[0], logits.shape[1] == boxes.shape[1],
              logits.shape[2] >= 2, sizes.count == logits.shape[0] else {
            throw LoupeError("detect: logits \(describe(shape: logits.shape)) and boxes \(describe(shape: boxes.shape)) are not [B, Q, classes + 1] and [B, Q, 4] for \(sizes.count) images")
        }
        let b = logits.shape[0], q = logits.shape[1], k = logits.shape[2]
        let probs = try NN.softmax(logits.detached(), axis: -1).contiguous().scalars
        let corners = boxes.detached().contiguous().scalars
        return (0..<b).map { n in
            var found: [Detection] = []
            let (h, w) = (Float(sizes[n].height), Float(sizes[n].width))
            for query in 0..<q {
                let row = (n * q + query) * k
                var best = 0
                for c in 1..<(k - 1) where probs[row + c] > probs[row + best] { best = c }
                let score = probs[row + best]
                guard score > threshold else { continue }
                let p = (n * q + query) * 4
                let (cx, cy, bw, bh) = (corners[p], corners[p + 1], corners[p + 2], corners[p + 3])
                found.append(Detection(label: best, score: score,
                                       box: [(cx - 0.5 * bw) * w, (cy - 0.5 * bh) * h, (cx + 0.5 * bw) * w, (cy + 0.5 * bh) * h],
                                       query: query))
            }
            return found.enumerated().sorted { $0.element.score > $1.element.score || ($0.element.score == $1.element.score && $0.offset < $1.offset) }.map(\.element)
        }
    }

    /// Objects in `images` (each `[C, H, W]` in [0, 1]), found as DETR's evaluation does: the
    /// evaluation batch, a forward pass without gradients, and `detections(...)` above `threshold`.
    /// `model` runs instead of this DETR when given (an edited copy of it, from `replace`).
    public func detect(_ images: [Tensor], threshold: Float = 0.7, size: Int? = nil, through model: Module? = nil) throws -> [[Detection]] {
        let batch = try evaluationBatch(images, size: size)
        var inputs: [(name: String, value: ModuleValue)] = [("x", .tensor(batch.images))]
        if let mask = batch.mask { inputs.append(("mask", .tensor(mask))) }
        let output = try GradMode.withoutGrad { try (model ?? self)(inputs: ModuleInputs(inputs)) }
        guard let logits = output["pred_logits"], let boxes = output["pred_boxes"] else {
            throw LoupeError("detect: the model returned \(output.kind), expected {pred_logits, pred_boxes, ...}")
        }
        return try Self.detections(logits: try logits.tensor("pred_logits"), boxes: try boxes.tensor("pred_boxes"),
                                   sizes: images.map { ($0.shape[1], $0.shape[2]) }, threshold: threshold)
    }
}
