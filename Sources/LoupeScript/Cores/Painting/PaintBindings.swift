import Foundation
import LoupeIO
import LoupeModels
import LoupePainting
import LoupeTensor

/// Painting with activation vectors, and the label maps to paint on.
enum PaintBindings {
    static let all: [Builtin] = [
        Builtin("paint(G, w, layer, paint_map, strokes, mode: nil, block: 2, features: nil, feature_layer: nil, threshold: 0.9, erode: 1, input_size: nil, mean: nil, std: nil, batch: 32, tolerance: 0.1)",
                """
                Paints activation vectors into `layer` of the generation w. paint_map says where: a label map \
                [H, W] (0 keeps the generation; canvas, rect, circle, polygon draw one), a picture [3, H, W] in \
                [0, 1] or a PNG path (pixels within `tolerance` of a stroke's colour get it); it is brought to \
                the layer's grid by nearest neighbour. strokes: a record from labels ("1", "2", ...) or colours \
                ("#ff0000") to vectors ([C], or records {vector, mode}). Each region gets Full Replace (mode \
                "full", for tileable vectors: textures) or grid painting ("grid": the vector in Grid Replace \
                squares of side `block` inside the region, for object parts). The mode: a stroke's own, else \
                `mode`, else by tileability when `features`/`feature_layer` are given (full when the score on \
                the first generation, w[0], is >= threshold; one mode holds for every generation; erode, input_size, mean, std as tileability), else "full". Returns {image (in [0, 1]), labels (at the layer's \
                resolution), modes (per stroke), scores (per stroke, when computed)}.
                """) { a in
            let g = try PaintingArguments.generator(a)
            let ws = try PaintingArguments.ws(a, g)
            let layer = try PaintingArguments.layer(a, g)
            guard case .record(let strokesRecord) = a["strokes"] else { throw a.typeError("strokes", "a record from labels or colours to vectors") }
            let globalMode = try a.isNil("mode") ? nil : PaintMode(rawValue: try a.choice("mode", PaintMode.allCases.map(\.rawValue)))

            // The map: labels, or a picture whose colours name the strokes.
            var map: Tensor
            switch a["paint_map"] {
            case .string(let path):
                map = try PNG.decode(try a.interpreter.readFile(path, op: "paint"), dropAlpha: true, source: path)
            case .tensor(let t): map = t.detached()
            default: throw a.typeError("paint_map", "a label map [H, W], a picture [3, H, W] or a PNG path")
            }
            let isPicture = map.rank == 3
            var keysToLabels: [String: Int] = [:]
            if isPicture {
                var colours: [[Float]] = []
                for key in strokesRecord.keys {
                    guard let colour = hexColour(key) else {
                        throw a.error("strokes", "paint: with a picture as paint_map, stroke keys must be colours like \"#ff0000\", got \"\(key)\"")
                    }
                    colours.append(colour)
                    keysToLabels[key] = colours.count
                }
                let tolerance = try a.float("tolerance")
                map = try GANPainting.labels(fromPicture: map.shape[0] == 1 ? map.tiled([3, 1, 1]) : map, colours: colours, tolerance: tolerance)
            } else {
                guard map.rank == 2 else {
                    throw a.error("paint_map", "paint: paint_map must be labels [H, W] or a picture [3, H, W], got \(describe(shape: map.shape))")
                }
                for key in strokesRecord.keys {
                    guard let label = Int(key), label > 0 else {
                        throw a.error("strokes", "paint: with a label map, stroke keys must be positive labels like \"1\", got \"\(key)\"")
                    }
                    keysToLabels[key] = label
                }
            }

            // Each stroke's vector and mode.
            var strokes: [Int: PaintStroke] = [:]
            var modes: [(String, Value)] = [], scores: [(String, Value)] = []
            var undecided: [(key: String, vector: Tensor)] = []
            for key in strokesRecord.keys {
                guard let value = strokesRecord[key], let label = keysToLabels[key] else { continue }
                let vector = try PaintingArguments.vector(value, a, "strokes")
                var mode = globalMode
                if case .record(let r) = value, case .string(let m)? = r["mode"] {
                    guard let parsed = PaintMode(rawValue: m) else { throw a.error("strokes", "paint: a stroke's mode must be \"full\" or \"grid\", got \"\(m)\"") }
                    mode = parsed
                }
                if let mode { strokes[label] = PaintStroke(vector: vector, mode: mode) } else { undecided.append((key, vector)) }
            }
            if !undecided.isEmpty {
                if a.isNil("features") {
                    for (key, vector) in undecided { strokes[keysToLabels[key] ?? 0] = PaintStroke(vector: vector, mode: .full) }
                } else {
                    guard !a.isNil("feature_layer") else { throw a.error("feature_layer", "paint: give feature_layer with features") }
                    let options = try ReplacementBindings.tileabilityOptions(a, g)
                    let vectors = try Tensor.stack(undecided.map { try $0.vector.reshaped([$0.vector.count]) }, axis: 0)
                    let first = try ws.sliced(axis: 0, start: 0, end: 1)
                    let result = try GANPainting.tileability(g, ws: first, layer: layer, vectors: vectors, options: options)
                    let threshold = try a.float("threshold")
                    for (k, stroke) in undecided.enumerated() {
                        strokes[keysToLabels[stroke.key] ?? 0] = PaintStroke(vector: stroke.vector, mode: result.scores[k] >= threshold ? .full : .grid)
                        scores.append((stroke.key, .number(Double(result.scores[k]))))
                    }
                }
            }
            for key in strokesRecord.keys {
                if let label = keysToLabels[key], let stroke = strokes[label] { modes.append((key, .string(stroke.mode.rawValue))) }
            }
            let result = try GANPainting.paint(g, ws: ws, layer: layer, labels: map, strokes: strokes, block: try ModelBindings.positive(a, "block"))
            return .record(RecordBox([
                ("image", .tensor(try PaintingArguments.pictures(result.images))),
                ("labels", .tensor(result.layerLabels)),
                ("modes", .record(RecordBox(modes))),
                ("scores", .record(RecordBox(scores))),
            ]))
        },
        Builtin("canvas(height, width)", "A label map [height, width] of zeros to draw paint regions on with rect, circle and polygon.") { a in
            .tensor(try PaintCanvas.blank(height: try a.int("height"), width: try a.int("width")))
        },
        Builtin("rect(canvas, top, left, bottom, right, label)",
                "The label map `canvas` with the pixels whose centres lie in rows top..bottom and columns left..right (exclusive ends) set to `label`.") { a in
            .tensor(try PaintCanvas.rect(try a.tensor("canvas").detached(), top: try a.number("top"), left: try a.number("left"),
                                         bottom: try a.number("bottom"), right: try a.number("right"), label: try a.float("label")))
        },
        Builtin("circle(canvas, y, x, radius, label)",
                "The label map `canvas` with the pixels whose centres lie within `radius` of (y, x) set to `label`.") { a in
            .tensor(try PaintCanvas.circle(try a.tensor("canvas").detached(), y: try a.number("y"), x: try a.number("x"),
                                           radius: try a.number("radius"), label: try a.float("label")))
        },
        Builtin("polygon(canvas, points, label)",
                "The label map `canvas` with the pixels whose centres lie inside the polygon through `points` ([[y, x], ...], at least 3; even-odd rule) set to `label`.") { a in
            let points = try a.list("points").items.map { item -> (y: Double, x: Double) in
                guard case .list(let pair) = item, pair.items.count == 2, case .number(let y) = pair.items[0], case .number(let x) = pair.items[1] else {
                    throw a.typeError("points", "a list of [y, x] pairs")
                }
                return (y, x)
            }
            return .tensor(try PaintCanvas.polygon(try a.tensor("canvas").detached(), points: points, label: try a.float("label")))
        },
    ]

    /// "#rrggbb" as an RGB triple in [0, 1].
    static func hexColour(_ text: String) -> [Float]? {
        guard text.hasPrefix("#"), text.count == 7, let value = UInt32(text.dropFirst(), radix: 16) else { return nil }
        return [Float((value >> 16) & 0xff) / 255, Float((value >> 8) & 0xff) / 255, Float(value & 0xff) / 255]
    }
}
