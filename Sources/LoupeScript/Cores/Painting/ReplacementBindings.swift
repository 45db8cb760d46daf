import Foundation
import LoupeIO
import LoupeModels
import LoupePainting
import LoupeTensor

/// Activation vectors, Full and Grid Replace, and tileability from the language.
enum ReplacementBindings {
    static let all: [Builtin] = [
        Builtin("activation_vector(G, w, layer, y, x)",
                """
                The activation vector at position (y, x) of synthesis layer `layer` (e.g. \
                "synthesis.b16.conv1") of the generation(s) w: [C] for one generation, [B, C] for B.
                """) { a in
            let g = try PaintingArguments.generator(a)
            let ws = try PaintingArguments.ws(a, g)
            let v = try GANPainting.activationVector(g, ws: ws, layer: try PaintingArguments.layer(a, g), y: try a.int("y"), x: try a.int("x"))
            return .tensor(ws.shape[0] == 1 ? try v.reshaped([v.shape[1]]) : v)
        },
        Builtin("full_replace(G, w, layer, vector)",
                """
                Full Replace: the images of w with every position of `layer` set to `vector` ([C], or [B, C] \
                one per generation), in [0, 1]. A vector that encodes a texture fills the picture with it; an \
                object part (an eye) becomes an unrecognisable pattern.
                """) { a in
            let g = try PaintingArguments.generator(a)
            let images = try GANPainting.fullReplace(g, ws: try PaintingArguments.ws(a, g), layer: try PaintingArguments.layer(a, g),
                                                     vectors: try PaintingArguments.vector(a["vector"], a, "vector"))
            return .tensor(try PaintingArguments.pictures(images))
        },
        Builtin("grid_replace(G, w, layer, vector, block: 2)",
                """
                Grid Replace: `vector` placed in squares of side `block` at stride block + 1 from (0, 0) of \
                `layer` (as the paper's code places them), the rest keeping the generation's own features. \
                Returns {image (in [0, 1]), mask [h, w] (1 in the squares), coverage (the squares' share of \
                the positions: 39.1% for block 2 at 16x16)}. Non-tileable vectors (object parts) show up \
                recognisably in each square.
                """) { a in
            let g = try PaintingArguments.generator(a)
            let result = try GANPainting.gridReplace(g, ws: try PaintingArguments.ws(a, g), layer: try PaintingArguments.layer(a, g),
                                                     vectors: try PaintingArguments.vector(a["vector"], a, "vector"), block: try a.int("block"))
            return .record(RecordBox([
                ("image", .tensor(try PaintingArguments.pictures(result.images))),
                ("mask", .tensor(result.mask)),
                ("coverage", .number(Double(try GANPainting.coverage(result.mask)))),
            ]))
        },
        Builtin("tileability(G, layer, vectors, features, feature_layer, w: nil, erode: 1, block: 2, input_size: nil, mean: nil, std: nil, batch: 32)",
                """
                Herdt & Maass's tileability of activation vectors ([N, C] or [C]) at `layer`: the cosine \
                similarity between the feature network's (model `features`, activation `feature_layer`, e.g. \
                "layer2") spatial mean on the Full Replace image and its mean over the grid squares on the \
                Grid Replace image (block 2), the squares carried to the feature map by nearest neighbour and \
                eroded by `erode` (a (2 erode + 1)-square; 0 for none). Each vector is placed on generation \
                w[i] (or one w for all; default: the mean w, mapping.w_avg). Images go to the features model \
                as the generator's output mapped by x / 2 + 0.5, not clamped (as the paper's code), resized (nearest) to input_size (default: the model's own, else the generator's) \
                and normalised by mean/std (default: the checkpoint's loupe.preprocess). Returns {scores \
                (one per vector), full, grid (the images, clamped to [0, 1] for display), coverage}.
                """) { a in
            let g = try PaintingArguments.generator(a)
            let layer = try PaintingArguments.layer(a, g)
            let vectors = try PaintingArguments.vector(a["vectors"], a, "vectors")
            let ws: Tensor
            if a.isNil("w") {
                guard let average = g.mapping.wAvg?.value else { throw a.error("w", "tileability: this generator tracks no w_avg; give w") }
                ws = try average.reshaped([1, 1, g.config.wDim]).tiled([1, g.config.wCount, 1])
            } else {
                ws = try PaintingArguments.ws(a, g)
            }
            let options = try tileabilityOptions(a, g)
            let result = try GANPainting.tileability(g, ws: ws, layer: layer, vectors: vectors, options: options)
            return .record(RecordBox([
                ("scores", PaintingArguments.numbers(result.scores)),
                ("full", .tensor(try PaintingArguments.pictures(result.full))),
                ("grid", .tensor(try PaintingArguments.pictures(result.grid))),
                ("coverage", .number(Double(result.coverage))),
            ]))
        },
        Builtin("rank_tileable(G, layer, features, feature_layer, n: 512, show: 8, seed: nil, erode: 1, block: 2, input_size: nil, mean: nil, std: nil, batch: 32, label: \"rank_tileable\")",
                """
                The paper's evaluation: n generations from seed (truncation 1, constant noise), one activation \
                vector from a random position of each (in 0 ..< size - 1, as the paper's code draws them) at \
                `layer`, each scored by tileability on its own generation (see tileability). Returns {vectors \
                [n, C], scores, order (indices, most tileable first), most, least (the `show` most and least \
                tileable indices), positions ([y, x] per vector), w (the generations), picture (rows: the most \
                tileable vectors' Full Replace, their Grid Replace, then the same for the least tileable; in \
                [0, 1]), coverage, table (index, score, position of the shown vectors)}.
                """) { a in
            let g = try PaintingArguments.generator(a)
            let layer = try PaintingArguments.layer(a, g)
            let n = try ModelBindings.positive(a, "n"), show = try a.int("show")
            guard show >= 0 else { throw a.error("show", "rank_tileable: show must be >= 0, got \(show)") }
            let options = try tileabilityOptions(a, g)
            let bar = ProgressBar(try a.string("label"), total: n)
            defer { bar.finish() }
            let ranking = try GANPainting.rankTileable(g, layer: layer, n: n, seed: try TrainBindings.trainingSeed(a), options: options, progress: bar)
            let shown = min(show, n)
            let most = Array(ranking.order.prefix(shown)), least = Array(ranking.order.suffix(shown).reversed())
            var rows: [Tensor] = []
            for indices in [most, least] where !indices.isEmpty {
                rows.append(try ranking.full.indexSelect(axis: 0, indices: indices))
                rows.append(try ranking.grid.indexSelect(axis: 0, indices: indices))
            }
            var table = "rank  index   score   y   x\n"
            for (k, i) in (most + least).enumerated() {
                let rank = k < most.count ? k + 1 : n - (k - most.count)
                table += String(format: "%4d  %5d  %6.3f  %2d  %2d\n", rank, i, ranking.scores[i], ranking.positions[i].y, ranking.positions[i].x)
            }
            let picture: Value = rows.isEmpty ? .null
                : .tensor(try Images.grid([try PaintingArguments.pictures(try Tensor.concat(rows, axis: 0))], columns: shown))
            return .record(RecordBox([
                ("vectors", .tensor(ranking.vectors)),
                ("scores", PaintingArguments.numbers(ranking.scores)),
                ("order", .list(ListBox(ranking.order.map { .number(Double($0)) }))),
                ("most", .list(ListBox(most.map { .number(Double($0)) }))),
                ("least", .list(ListBox(least.map { .number(Double($0)) }))),
                ("positions", .list(ListBox(ranking.positions.map { .list(ListBox([.number(Double($0.y)), .number(Double($0.x))])) }))),
                ("w", .tensor(ranking.ws)),
                ("picture", picture),
                ("coverage", .number(Double(ranking.coverage))),
                ("table", .string(table)),
            ]))
        },
    ]

    /// The feature network and its settings for tileability and rank_tileable.
    static func tileabilityOptions(_ a: Arguments, _ g: StyleGAN2) throws -> TileabilityOptions {
        let handle = try ModelBindings.model(a, "features")
        var options = TileabilityOptions(features: handle.module, featureLayer: try a.string("feature_layer"))
        options.erode = try a.int("erode")
        guard options.erode >= 0 else { throw a.error("erode", "\(a.builtin.name): erode must be >= 0, got \(options.erode)") }
        options.block = try ModelBindings.positive(a, "block")
        options.batchSize = try ModelBindings.positive(a, "batch")
        let expected = (handle.root as? ImageModel)?.expectedImage
        if let side = try a.optionalInt("input_size") {
            guard side > 0 else { throw a.error("input_size", "\(a.builtin.name): input_size must be positive") }
            options.inputSize = [side, side]
        } else if let side = expected?.size ?? handle.preprocess?.inputSize {
            options.inputSize = [side, side]
        }
        options.normalization = try InversionBindings.normalization(a, mean: "mean", std: "std", channels: expected?.channels)
            ?? handle.preprocess?.normalization
        if let channels = expected?.channels, channels != g.config.channels, !(g.config.channels == 1 && channels == 3) {
            throw a.error("features", "\(a.builtin.name): the features model takes \(channels)-channel images, the generator makes \(g.config.channels)")
        }
        return options
    }
}
