import Foundation
import LoupeIO
import LoupeTensor

/// `draw_boxes`: detections (as `detect` returns them) or ground-truth targets (as the
/// "fashion-mnist-scenes" data set holds them) drawn on an image by LoupeIO's box drawing.
enum DrawBindings {
    /// One box read from the `detections` argument, before colours and captions are chosen.
    struct Entry {
        var box: [Float]
        var label: Int?
        var name: String?
        var score: Float?
    }

    /// `[x0, y0, x1, y1]` as the language shows numbers.
    static func text(_ values: [Float]) -> String {
        "[" + values.map { Display.number(Double($0)) }.joined(separator: ", ") + "]"
    }

    /// A number from a value (a number or a one-element tensor), nil for nil; `what` names it
    /// in the error.
    static func number(_ value: Value?, _ what: String, _ a: Arguments) throws -> Double? {
        switch value {
        case nil, .null?: return nil
        case .number(let n)?: return n
        case .tensor(let t)? where t.count == 1: return Double(try t.detached().item())
        case let other?: throw a.error("detections", "draw_boxes: \(what) must be a number, got \(other.typeName)")
        }
    }

    /// A class label: a non-negative integer or nil.
    static func label(_ value: Value?, _ what: String, _ a: Arguments) throws -> Int? {
        guard let n = try number(value, what, a) else { return nil }
        guard n.isFinite, n == n.rounded(), n >= 0, n < 1e9 else {
            throw a.error("detections", "draw_boxes: \(what) must be a non-negative integer, got \(Display.number(n))")
        }
        return Int(n)
    }

    /// The four corners of a box: a list of 4 numbers or a tensor of 4 values, all finite.
    static func corners(_ value: Value?, _ what: String, _ a: Arguments) throws -> [Float] {
        var values: [Float]
        switch value {
        case .tensor(let t)? where t.count == 4 && t.rank <= 2: values = t.detached().scalars
        case .list(let l)? where l.items.count == 4:
            values = try l.items.map { item in
                guard let n = try? number(item, what, a) else {
                    throw a.error("detections", "draw_boxes: \(what) must hold 4 numbers [x0, y0, x1, y1], got an item of type \(item.typeName)")
                }
                return Float(n)
            }
        case .tensor(let t)?:
            throw a.error("detections", "draw_boxes: \(what) must be [x0, y0, x1, y1], got a tensor of shape \(describe(shape: t.shape))")
        case .list(let l)?:
            throw a.error("detections", "draw_boxes: \(what) must be [x0, y0, x1, y1], got a list of \(l.items.count) items")
        case nil:
            throw a.error("detections", "draw_boxes: \(what) is missing")
        case let other?:
            throw a.error("detections", "draw_boxes: \(what) must be a list [x0, y0, x1, y1], got \(other.typeName)")
        }
        guard values.allSatisfy(\.isFinite) else {
            throw a.error("detections", "draw_boxes: \(what) \(text(values)) is not finite")
        }
        guard values[2] >= values[0], values[3] >= values[1] else {
            throw a.error("detections", "draw_boxes: \(what) \(text(values)) has x1 < x0 or y1 < y0")
        }
        return values
    }

    /// A detection record {box, and optional label, name, score}.
    static func detection(_ record: RecordBox, _ what: String, _ a: Arguments) throws -> Entry {
        guard record["box"] != nil else {
            throw a.error("detections", "draw_boxes: \(what) has no 'box' (expected a record {box: [x0, y0, x1, y1], name, score, label})")
        }
        var name: String?
        switch record["name"] {
        case nil, .null?: name = nil
        case .string(let s)?: name = s
        case let other?: throw a.error("detections", "draw_boxes: \(what)'s name must be a string, got \(other.typeName)")
        }
        let score = try number(record["score"], "\(what)'s score", a).map(Float.init)
        if let score, !score.isFinite {
            throw a.error("detections", "draw_boxes: \(what)'s score is not finite")
        }
        return Entry(box: try corners(record["box"], "\(what)'s box", a), label: try label(record["label"], "\(what)'s label", a),
                     name: name, score: score)
    }

    /// A target record {labels, boxes}: boxes a tensor [n, 4] (or a list of n boxes), labels a
    /// list of n integers or a tensor [n].
    static func target(_ record: RecordBox, _ a: Arguments) throws -> [Entry] {
        var boxes: [[Float]]
        switch record["boxes"] {
        case .tensor(let t)?:
            guard t.rank == 2, t.shape[1] == 4 else {
                throw a.error("detections", "draw_boxes: the target's boxes must be a tensor [n, 4], got shape \(describe(shape: t.shape))")
            }
            let values = t.detached().scalars
            boxes = try (0..<t.shape[0]).map { k in
                try corners(.list(ListBox(values[(4 * k)..<(4 * k + 4)].map { .number(Double($0)) })), "box \(k)", a)
            }
        case .list(let l)?:
            boxes = try l.items.enumerated().map { k, item in try corners(item, "box \(k)", a) }
        case let other:
            throw a.error("detections", "draw_boxes: the target's boxes must be a tensor [n, 4], got \(other?.typeName ?? "nothing")")
        }
        var labels: [Value]
        switch record["labels"] {
        case nil, .null?: labels = [Value](repeating: .null, count: boxes.count)
        case .list(let l)?: labels = l.items
        case .tensor(let t)? where t.rank == 1: labels = t.detached().scalars.map { .number(Double($0)) }
        case let other?:
            throw a.error("detections", "draw_boxes: the target's labels must be a list of integers, got \(other.typeName)")
        }
        guard labels.count == boxes.count else {
            throw a.error("detections", "draw_boxes: the target has \(boxes.count) boxes but \(labels.count) labels")
        }
        return try zip(boxes, labels).enumerated().map { k, pair in
            Entry(box: pair.0, label: try label(pair.1, "label \(k)", a), name: nil, score: nil)
        }
    }

    /// The boxes of the `detections` argument.
    static func entries(_ a: Arguments) throws -> [Entry] {
        switch a["detections"] {
        case .list(let l):
            return try l.items.enumerated().map { k, item in
                switch item {
                case .record(let r): return try detection(r, "detection \(k)", a)
                case .list:
                    throw a.error("detections", "draw_boxes: detection \(k) is a list, not a record (detect on several images gives one list per image: pass one of them)")
                default:
                    throw a.error("detections", "draw_boxes: detection \(k) is a \(item.typeName), not a record {box, name, score, label}")
                }
            }
        case .record(let r) where r["boxes"] != nil:
            return try target(r, a)
        case .record(let r) where r["box"] != nil:
            return [try detection(r, "the detection", a)]
        case .record:
            throw a.error("detections", "draw_boxes: the record has neither 'boxes' (a target {labels, boxes}) nor 'box' (a detection)")
        default:
            throw a.typeError("detections", "a list of detection records or a target record {labels, boxes}")
        }
    }

    /// The `classes` argument: nil or a list of names.
    static func classNames(_ a: Arguments) throws -> [String]? {
        if a.isNil("classes") { return nil }
        return try a.list("classes").items.enumerated().map { k, item in
            guard case .string(let s) = item else {
                throw a.error("classes", "draw_boxes: class \(k) is a \(item.typeName), expected a string")
            }
            return s
        }
    }

    /// The `color` argument: nil or [r, g, b] in [0, 1].
    static func color(_ a: Arguments) throws -> SIMD3<Float>? {
        if a.isNil("color") { return nil }
        let values: [Float]
        switch a["color"] {
        case .list(let l) where l.items.count == 3:
            values = try l.items.map { item in
                guard case .number(let n) = item else { throw a.typeError("color", "a list [r, g, b] of numbers in [0, 1]") }
                return Float(n)
            }
        case .tensor(let t) where t.count == 3 && t.rank == 1: values = t.detached().scalars
        default: throw a.typeError("color", "a list [r, g, b] of numbers in [0, 1]")
        }
        guard values.allSatisfy({ $0 >= 0 && $0 <= 1 }) else {
            throw a.error("color", "draw_boxes: argument 'color' must be [r, g, b] in [0, 1], got \(text(values))")
        }
        return SIMD3(values[0], values[1], values[2])
    }

    static let all: [Builtin] = [
        Builtin("draw_boxes(image, detections, color: nil, labels: true, classes: nil)",
                """
                Draws boxes on a copy of image ([C, H, W] or [H, W] in [0, 1]; gray images become RGB) and returns it \
                [3, H, W]. detections is a list of records {box: [x0, y0, x1, y1], name, score, label} as detect \
                returns (name, score and label optional), or a target {labels, boxes [n, 4]} as the \
                "fashion-mnist-scenes" data set holds; boxes are in pixels, x1 and y1 one past the last column and \
                row. Each box gets a 1-2 pixel rectangle in its class's palette colour (or color [r, g, b]) and, with \
                labels: true, a caption "name 0.93" on a strip above it (inside it at the top edge); names come from \
                the records or from classes[label]. Whatever falls outside the image is clipped.
                """) { a in
            let image = try a.tensor("image")
            let channels = image.rank == 3 ? image.shape[0] : 1
            guard image.rank == 2 || image.rank == 3, channels == 1 || channels == 3 else {
                throw a.error("image", "draw_boxes: expected an image [C, H, W] with 1 or 3 channels or [H, W], got shape \(describe(shape: image.shape))")
            }
            let entries = try entries(a)
            let classes = try classNames(a)
            let fixedColor = try color(a)
            let captions = try a.bool("labels")
            let annotations = try entries.enumerated().map { k, entry -> BoxAnnotation in
                var name = entry.name
                if name == nil, let label = entry.label, let classes {
                    guard label < classes.count else {
                        throw a.error("classes", "draw_boxes: label \(label) of box \(k) has no name: classes holds \(classes.count) names")
                    }
                    name = classes[label]
                }
                if name == nil, let label = entry.label { name = String(label) }
                return BoxAnnotation(x0: entry.box[0], y0: entry.box[1], x1: entry.box[2], y1: entry.box[3],
                                     caption: captions ? BoxAnnotation.caption(name: name, score: entry.score) : nil,
                                     color: fixedColor ?? Images.boxColor(entry.label ?? k))
            }
            return .tensor(try Images.drawBoxes(annotations, on: image.detached()))
        },
    ]
}
