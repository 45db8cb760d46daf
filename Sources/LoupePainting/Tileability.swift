import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor

/// How `tileability` judges a vector: the feature network, where it looks, and the grid.
public struct TileabilityOptions {
    /// The feature network (the paper: an ImageNet ResNet-50).
    public var features: Module
    /// Where its features are taken (the paper: `layer2`).
    public var featureLayer: String
    /// Erosion radius of the grid mask on the feature map (a `2 erode + 1` square; the paper:
    /// 1 for 16x16 layers, 0 for 32x32).
    public var erode = 1
    /// Side of the Grid Replace squares (the paper scores with 2).
    public var block = 2
    /// Normalisation the feature network expects, applied to images mapped to [0, 1].
    public var normalization: Normalization?
    /// The feature network's input size `[H, W]`; images are resized to it (nearest, as the paper's
    /// code). nil: the generator's resolution.
    public var inputSize: [Int]?
    /// Generations per forward pass.
    public var batchSize = 32

    public init(features: Module, featureLayer: String) {
        self.features = features
        self.featureLayer = featureLayer
    }
}

/// Tileability scores and the pictures behind them.
public struct TileabilityResult {
    /// Cosine similarity per vector, in [-1, 1] (1: the grid looks like the full replacement).
    public var scores: [Float]
    /// Full Replace images `[N, C, H, W]`.
    public var full: Tensor
    /// Grid Replace images.
    public var grid: Tensor
    /// The grid's share of the layer's positions.
    public var coverage: Float
}

extension GANPainting {
    /// Tileability of `vectors [N, C]` at `layer`, each on the generation `ws[i]` (or one `ws` for
    /// all): the cosine similarity between the feature network's spatial mean on the Full Replace
    /// image and its mean over the (eroded) grid squares on the Grid Replace image, as Herdt &
    /// Maass score it.
    public static func tileability(_ g: StyleGAN2, ws: Tensor, layer: String, vectors: Tensor,
                                   options: TileabilityOptions) throws -> TileabilityResult {
        let channels = try layerChannels(g, layer: layer)
        let rows = vectors.rank == 1 ? try vectors.reshaped([1, vectors.count]) : vectors
        guard rows.rank == 2, rows.shape[1] == channels else {
            throw LoupeError("tileability: vectors must be [N, \(channels)] for \(layer), got \(describe(shape: vectors.shape))")
        }
        let n = rows.shape[0]
        guard ws.shape[0] == n || ws.shape[0] == 1 else {
            throw LoupeError("tileability: w has \(ws.shape[0]) generations for \(n) vectors (give one, or one per vector)")
        }
        let size = try layerSize(g, layer: layer)
        let gridMask = try self.gridMask(height: size, width: size, block: options.block)
        var scores: [Float] = []
        var fulls: [Tensor] = [], grids: [Tensor] = []
        var featureMask: Tensor?
        for start in stride(from: 0, to: n, by: max(1, options.batchSize)) {
            let end = min(n, start + max(1, options.batchSize))
            let batchVectors = try rows.sliced(axis: 0, start: start, end: end)
            let batchWs = ws.shape[0] == 1 ? try ws.tiled([end - start, 1, 1]) : try ws.sliced(axis: 0, start: start, end: end)
            let full = try fullReplace(g, ws: batchWs, layer: layer, vectors: batchVectors)
            let grid = try synthesize(g, ws: batchWs, patches: [layer: replacement(vectors: batchVectors, mask: gridMask, op: "tileability")]).images
            let fullFeatures = try featureMap(full, options: options)
            let gridFeatures = try featureMap(grid, options: options)
            if featureMask == nil {
                featureMask = try erodedMask(gridMask, imageSize: g.config.resolution, featureSize: (gridFeatures.shape[2], gridFeatures.shape[3]),
                                             erode: options.erode)
            }
            guard let mask = featureMask else { break }
            let fullMean = try fullFeatures.mean(axes: [2, 3])
            let m = try mask.reshaped([1, 1, mask.shape[0], mask.shape[1]])
            let gridMean = try (gridFeatures * m).sum(axes: [2, 3]) / mask.sum()
            scores += try NN.cosineSimilarity(fullMean, gridMean).contiguous().scalars
            fulls.append(full)
            grids.append(grid)
        }
        return TileabilityResult(scores: scores, full: try Tensor.concat(fulls, axis: 0), grid: try Tensor.concat(grids, axis: 0),
                                 coverage: try coverage(gridMask))
    }

    /// The feature network's activations at `options.featureLayer` for generator images in [-1, 1].
    static func featureMap(_ images: Tensor, options: TileabilityOptions) throws -> Tensor {
        var x = try images * 0.5 + 0.5
        if let size = options.inputSize, size.count == 2, x.shape[2] != size[0] || x.shape[3] != size[1] {
            x = try NN.interpolate(x, size: (size[0], size[1]), mode: .nearest)
        }
        if let normalization = options.normalization {
            if x.shape[1] == 1, normalization.mean.count == 3 { x = try x.tiled([1, 3, 1, 1]) }
            x = try normalization.apply(x)
        }
        let context = ForwardContext(capture: [options.featureLayer])
        _ = try GradMode.withoutGrad { try context.run(options.features, x) }
        try context.checkAllPathsUsed(op: "tileability (feature_layer)")
        guard let features = context.activations[options.featureLayer], features.rank == 4 else {
            throw LoupeError("tileability: feature_layer '\(options.featureLayer)' must give feature maps [B, C, H, W]")
        }
        return features
    }

    /// The grid mask carried to the feature map as the paper's code does (nearest to the image,
    /// nearest to the feature map) and eroded by a `2 erode + 1` square (outside counts as 0).
    static func erodedMask(_ mask: Tensor, imageSize: Int, featureSize: (Int, Int), erode: Int) throws -> Tensor {
        guard erode >= 0 else { throw LoupeError("tileability: erode must be >= 0, got \(erode)") }
        var m = try mask.reshaped([1, 1, mask.shape[0], mask.shape[1]])
        m = try NN.interpolate(m, size: (imageSize, imageSize), mode: .nearest)
        m = try NN.interpolate(m, size: featureSize, mode: .nearest)
        let h = featureSize.0, w = featureSize.1
        let source = m.contiguous().scalars
        var eroded = [Float](repeating: 0, count: h * w)
        for y in 0..<h {
            for x in 0..<w {
                var value: Float = 1
                for dy in -erode...erode {
                    for dx in -erode...erode {
                        let yy = y + dy, xx = x + dx
                        let v: Float = (0..<h).contains(yy) && (0..<w).contains(xx) ? source[yy * w + xx] : 0
                        value = min(value, v)
                    }
                }
                eroded[y * w + x] = value
            }
        }
        guard eroded.contains(where: { $0 > 0 }) else {
            throw LoupeError("tileability: eroding the grid by \(erode) on the \(h)x\(w) feature map leaves nothing; lower erode: or pick a feature_layer with a finer map")
        }
        return try Tensor(shape: [h, w], scalars: eroded)
    }
}

/// Sampled activation vectors ordered by tileability.
public struct TileabilityRanking {
    /// The vectors `[n, C]`, in sampling order.
    public var vectors: Tensor
    /// Their scores.
    public var scores: [Float]
    /// Where each was taken: generation `ws[i]`, position `(y, x)`.
    public var ws: Tensor
    public var positions: [(y: Int, x: Int)]
    /// Indices from most to least tileable.
    public var order: [Int]
    /// Full and Grid Replace images of every vector.
    public var full: Tensor
    public var grid: Tensor
    public var coverage: Float
}

extension GANPainting {
    /// Samples `n` activation vectors at `layer` (one random position of each of `n` generations
    /// from `seed`, truncation 1, constant noise), scores each on its own generation, and orders
    /// them from most to least tileable: the paper's evaluation.
    public static func rankTileable(_ g: StyleGAN2, layer: String, n: Int, seed: UInt64,
                                    options: TileabilityOptions, progress: ProgressBar? = nil) throws -> TileabilityRanking {
        guard n > 0 else { throw LoupeError("rank_tileable: n must be positive, got \(n)") }
        let size = try layerSize(g, layer: layer)
        var positionGenerator = RandomGenerator(seed: seed, stream: 0x706f736974696f6e)
        let z = try latents(g, seed: seed, count: n)
        var vectors: [Tensor] = [], allWs: [Tensor] = [], positions: [(y: Int, x: Int)] = []
        var scores: [Float] = [], fulls: [Tensor] = [], grids: [Tensor] = []
        var coverage: Float = 0
        let batch = max(1, options.batchSize)
        for start in stride(from: 0, to: n, by: batch) {
            let end = min(n, start + batch)
            let generation = try generate(g, z: z.sliced(axis: 0, start: start, end: end))
            let f = try features(g, ws: generation.ws, layer: layer).contiguous()
            let c = f.shape[1], plane = size * size
            let values = f.scalars
            var rows = [Float](repeating: 0, count: (end - start) * c)
            for i in 0..<(end - start) {
                // As the paper's code: positions in 0 ..< size - 1.
                let y = Int(positionGenerator.nextUInt64() % UInt64(max(1, size - 1)))
                let x = Int(positionGenerator.nextUInt64() % UInt64(max(1, size - 1)))
                positions.append((y, x))
                for ch in 0..<c { rows[i * c + ch] = values[(i * c + ch) * plane + y * size + x] }
            }
            let batchVectors = try Tensor(shape: [end - start, c], scalars: rows)
            let result = try tileability(g, ws: generation.ws, layer: layer, vectors: batchVectors, options: options)
            vectors.append(batchVectors)
            allWs.append(generation.ws)
            scores += result.scores
            fulls.append(result.full)
            grids.append(result.grid)
            coverage = result.coverage
            progress?.update(end)
        }
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        return TileabilityRanking(vectors: try Tensor.concat(vectors, axis: 0), scores: scores, ws: try Tensor.concat(allWs, axis: 0),
                                  positions: positions, order: order, full: try Tensor.concat(fulls, axis: 0),
                                  grid: try Tensor.concat(grids, axis: 0), coverage: coverage)
    }
}
