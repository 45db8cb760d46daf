import Foundation
import LoupeModels
import LoupeTensor

/// Training and scoring detectors from the language: `train_detector` (DETR's criterion and
/// optimiser on a detection data set) and `average_precision` (COCO's box AP).
enum DetectorTrainingBindings {
    static let all: [Builtin] = [
        Builtin("train_detector(m, data, epochs: 10, batch: 16, lr: 1e-4, backbone_lr: 1e-5, weight_decay: 1e-4, clip: 0.1, flip: false, drop_at: nil, seed: nil, label: \"train_detector\")",
                methodOf: "model",
                """
                Trains the DETR m in place as facebookresearch/detr does. data is a record {images [N, 3, H, W] in \
                [0, 1], targets: one record {labels, boxes} per image} (labels: a list or 1-D tensor of class \
                indices; boxes: [n, 4] corners x0, y0, x1, y1 in pixels), as `dataset("fashion-mnist-scenes")` \
                returns. Images get ImageNet normalisation, boxes become normalised (cx, cy, w, h); `flip` mirrors \
                images and boxes at random. The loss is DETR's SetCriterion (Hungarian matching; cross-entropy with \
                no-object weight 0.1, L1 and GIoU box losses weighted 1, 5, 2; every decoder layer). AdamW with \
                `lr` for everything outside the backbone and `backbone_lr` for the parameters whose path starts \
                with "backbone." (0: the backbone is not trained), `weight_decay` on all, gradient norm clipped to `clip` (nil: no \
                clipping), both rates x0.1 every `drop_at` epochs. Shuffling and flips draw from the session's \
                generator (or `seed`). Shows a progress bar (loss, ETA) on a terminal; Ctrl-C stops it. Returns \
                {loss, loss_ce, loss_bbox, loss_giou, seconds, lr}: one number per epoch each (loss is the weighted \
                total, the parts are the last decoder layer's).
                """) { a in try trainDetector(&a) },
        Builtin("average_precision(detections, targets)",
                """
                COCO's box average precision, as pycocotools' COCOeval: detections is a list (per image) of lists \
                of records {label, score, box: [x0, y0, x1, y1]} as `detect` returns, targets the matching list \
                of {labels, boxes} (or a data record {targets}); one image's list and one target record also do. \
                Detections are matched per class, highest score first, to unmatched boxes at IoU thresholds \
                0.50:0.05:0.95 (at most 100 per image and class); precision is read at 101 recall points and \
                averaged over classes with ground truth. Returns {ap, ap50, ap75} (-1 when no image has a target).
                """) { a in
            let targets = try annotations(a, "targets")
            var items: [Value]
            if case .list(let list) = a["detections"] { items = list.items } else { throw a.typeError("detections", "a list") }
            // One image: its list of detection records (maybe empty) beside one target record.
            if case .record(let single) = a["targets"], single["targets"] == nil, !items.contains(where: { $0.typeName == "list" }) {
                items = [.list(ListBox(items))]
            }
            let detections = try items.enumerated().map { try imageDetections($1, image: $0, a) }
            let result: AveragePrecision
            do {
                result = try AveragePrecision(detections: detections, groundTruth: targets)
            } catch let error as LoupeError {
                throw a.error("detections", "average_precision: \(error.message.replacingOccurrences(of: "average precision: ", with: ""))")
            }
            return .record(RecordBox([("ap", .number(result.ap)), ("ap50", .number(result.ap50)), ("ap75", .number(result.ap75))]))
        },
    ]

    static func trainDetector(_ a: inout Arguments) throws -> Value {
        let name = a.builtin.name
        let handle = try ModelBindings.model(a, "m")
        guard let detr = handle.root as? DETR else {
            throw a.error("m", "\(name): the model is a \(handle.root.typeName), not a DETR")
        }
        let (images, classNames) = try dataImages(a, "data")
        guard images.rank == 4, images.shape[1] == detr.config.channels, images.shape[2] > 0, images.shape[3] > 0 else {
            throw a.error("data", "\(name): data.images must be [N, \(detr.config.channels), H, W], got \(describe(shape: images.shape))")
        }
        let data: DetectionDataset
        do {
            data = try DetectionDataset(images: images, annotations: try annotations(a, "data"), op: name)
        } catch let error as LoupeError {
            throw a.error("data", error.message)
        }
        for (image, objects) in data.annotations.enumerated() {
            if let label = objects.labels.first(where: { $0 >= detr.config.classes }) {
                throw a.error("data", "\(name): target \(image) has label \(label), but the model has \(detr.config.classes) classes (0..<\(detr.config.classes))")
            }
        }
        let seed = try TrainBindings.trainingSeed(a)
        // Each number checked where it is written, so the caret points at it.
        func require(_ ok: Bool, _ argument: String, _ requirement: String) throws {
            guard ok else { throw a.error(argument, "\(name): \(argument) must be \(requirement), got \(a[argument].display)") }
        }
        let epochs = try a.int("epochs"), batch = try a.int("batch"), drop = try a.optionalInt("drop_at")
        let lr = try a.number("lr"), backboneLR = try a.number("backbone_lr"), decay = try a.number("weight_decay")
        let clip = try a.optionalNumber("clip")
        try require(epochs >= 1, "epochs", "at least 1")
        try require(batch >= 1, "batch", "at least 1")
        try require(lr > 0 && lr.isFinite, "lr", "positive")
        try require(backboneLR >= 0 && backboneLR.isFinite, "backbone_lr", ">= 0")
        try require(decay >= 0 && decay.isFinite, "weight_decay", ">= 0")
        try require(clip.map { $0 > 0 && $0.isFinite } ?? true, "clip", "positive (or nil for no clipping)")
        try require(drop.map { $0 >= 1 } ?? true, "drop_at", "at least 1 epoch (or nil)")
        let options = DetectorTrainingOptions(epochs: epochs, batchSize: batch, learningRate: lr, backboneLearningRate: backboneLR,
                                              weightDecay: decay, clipNorm: clip, horizontalFlip: try a.bool("flip"),
                                              learningRateDropEpochs: drop, seed: seed)
        let trainer = try DetectorTrainer(model: handle.module, classes: detr.config.classes, options: options)
        trainer.checkStop = TrainBindings.stopCheck(a) { [unowned trainer] in trainer.progress }
        trainer.label = try a.string("label")
        if handle.classNames == nil, let classNames, classNames.count == detr.config.classes { handle.classNames = classNames }
        let records = try trainer.fit(data)
        func series(_ values: [Double]) -> Value { .list(ListBox(values.map { .number($0) })) }
        return .record(RecordBox([
            ("loss", series(records.map(\.loss))),
            ("loss_ce", series(records.map(\.classification))),
            ("loss_bbox", series(records.map(\.box))),
            ("loss_giou", series(records.map(\.giou))),
            ("seconds", series(records.map(\.seconds))),
            ("lr", series(records.map(\.learningRate))),
        ]))
    }

    /// `data.images` and `data.classes` (class names, when given) of the data record `name`.
    private static func dataImages(_ a: Arguments, _ name: String) throws -> (Tensor, [String]?) {
        let op = a.builtin.name
        guard case .record(let record) = a[name] else {
            throw a.error(name, "\(op): \(name) must be a record {images, targets}, got \(a[name].typeName)")
        }
        guard case .tensor(let images)? = record["images"] else {
            throw a.error(name, "\(op): \(name) must have a tensor 'images' [N, C, H, W] (keys: \(record.keys.joined(separator: ", ")))")
        }
        var classes: [String]?
        if case .list(let names)? = record["classes"] { classes = names.items.map(\.text) }
        return (images, classes)
    }

    /// Per image, the labels and corner boxes of argument `name`: a list of records {labels,
    /// boxes}, a data record holding such a list as `targets`, or (for average_precision) one
    /// record {labels, boxes}.
    static func annotations(_ a: Arguments, _ name: String) throws -> [LabeledBoxes] {
        let op = a.builtin.name
        let items: [Value]
        switch a[name] {
        case .list(let list):
            items = list.items
        case .record(let record):
            if case .list(let list)? = record["targets"] {
                items = list.items
            } else if record["targets"] == nil, record["labels"] != nil, op == "average_precision" {
                items = [.record(record)]
            } else {
                throw a.error(name, "\(op): \(name) must have a list 'targets' of records {labels, boxes} (keys: \(record.keys.joined(separator: ", ")))")
            }
        default:
            throw a.error(name, "\(op): \(name) must be a list of records {labels, boxes}, got \(a[name].typeName)")
        }
        return try items.enumerated().map { index, item in
            guard case .record(let record) = item else {
                throw a.error(name, "\(op): target \(index) is a \(item.typeName), not a record {labels, boxes}")
            }
            let labels = try classIndices(record["labels"], a, name, what: "target \(index)")
            let boxes = try cornerBoxes(record["boxes"], count: labels.count, a, name, what: "target \(index)")
            do {
                return try LabeledBoxes(labels: labels, boxes: boxes, op: "\(op): target \(index)")
            } catch let error as LoupeError {
                throw a.error(name, error.message)
            }
        }
    }

    /// Class indices from a list of integers or a 1-D tensor.
    private static func classIndices(_ value: Value?, _ a: Arguments, _ name: String, what: String) throws -> [Int] {
        let op = a.builtin.name
        let numbers: [Double]
        switch value {
        case .list(let list)?:
            numbers = try list.items.map { item in
                guard case .number(let n) = item else {
                    throw a.error(name, "\(op): \(what) has label \(item.display), not a class index")
                }
                return n
            }
        case .tensor(let t)? where t.rank <= 1:
            numbers = t.scalars.map(Double.init)
        case let other?:
            throw a.error(name, "\(op): \(what) labels must be a list of class indices or a 1-D tensor, got \(other.typeName)")
        case nil:
            throw a.error(name, "\(op): \(what) has no 'labels'")
        }
        return try numbers.map { n in
            guard n.isFinite, n >= 0, n == n.rounded(), n < 1e9 else {
                throw a.error(name, "\(op): \(what) has label \(Display.number(n)), not a class index")
            }
            return Int(n)
        }
    }

    /// `count` corner boxes from a tensor [count, 4] (or an empty tensor / list for none) or a
    /// list of four-number lists.
    private static func cornerBoxes(_ value: Value?, count: Int, _ a: Arguments, _ name: String, what: String) throws -> [BoundingBox] {
        let op = a.builtin.name
        var tensor: Tensor
        switch value {
        case .tensor(let t)?: tensor = t
        case .list(let list)?:
            if list.items.isEmpty { tensor = try Tensor.zeros([0, 4]); break }
            do { tensor = try tensorFromList(list) } catch let error as LoupeError {
                throw a.error(name, "\(op): \(what) boxes: \(error.message)")
            }
        case let other?:
            throw a.error(name, "\(op): \(what) boxes must be a tensor [n, 4] of corners x0, y0, x1, y1, got \(other.typeName)")
        case nil:
            throw a.error(name, "\(op): \(what) has no 'boxes'")
        }
        if tensor.count == 0 && count == 0 { return [] }
        guard tensor.shape == [count, 4] else {
            throw a.error(name, "\(op): \(what) has \(count) labels but boxes \(describe(shape: tensor.shape)); expected [\(count), 4] (x0, y0, x1, y1 in pixels)")
        }
        let v = tensor.contiguous().scalars
        return (0..<count).map { BoundingBox(x0: v[$0 * 4], y0: v[$0 * 4 + 1], x1: v[$0 * 4 + 2], y1: v[$0 * 4 + 3]) }
    }

    /// One image's detections: a list of records {label, score, box} (other keys, like `name`,
    /// are ignored).
    private static func imageDetections(_ value: Value, image: Int, _ a: Arguments) throws -> [Detection] {
        let op = a.builtin.name
        guard case .list(let list) = value else {
            throw a.error("detections", "\(op): detections must be a list (per image) of lists of records {label, score, box}; item \(image) is a \(value.typeName)")
        }
        return try list.items.enumerated().map { index, item in
            let what = "detection \(index) of image \(image)"
            guard case .record(let record) = item else {
                throw a.error("detections", "\(op): \(what) is a \(item.typeName), not a record {label, score, box}")
            }
            guard case .number(let label)? = record["label"], label >= 0, label == label.rounded(), label < 1e9 else {
                throw a.error("detections", "\(op): \(what) needs a class index 'label', got \(record["label"]?.display ?? "nothing")")
            }
            guard case .number(let score)? = record["score"], score.isFinite else {
                throw a.error("detections", "\(op): \(what) needs a finite number 'score', got \(record["score"]?.display ?? "nothing")")
            }
            var box: [Float] = []
            switch record["box"] {
            case .list(let corners)?:
                let numbers = corners.items.compactMap { corner -> Float? in
                    guard case .number(let n) = corner else { return nil }
                    return Float(n)
                }
                if numbers.count == corners.items.count { box = numbers }
            case .tensor(let t)? where t.rank == 1:
                box = t.scalars
            default: break
            }
            guard box.count == 4 else {
                throw a.error("detections", "\(op): \(what) needs 'box': [x0, y0, x1, y1], got \(record["box"]?.display ?? "nothing")")
            }
            return Detection(label: Int(label), score: Float(score), box: box)
        }
    }
}
