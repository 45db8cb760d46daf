import Foundation
import LoupeModels
import LoupeTensor

/// How one label of a paint map is painted.
public enum PaintMode: String, Sendable, CaseIterable {
    /// Every position of the region set to the vector (for tileable vectors: textures).
    case full
    /// The vector in Grid Replace squares inside the region, the generation's own features between
    /// them (for vectors that are object parts, which do not tile).
    case grid
}

/// One label of a paint map: the vector painted there and how.
public struct PaintStroke {
    public var vector: Tensor
    public var mode: PaintMode

    public init(vector: Tensor, mode: PaintMode) {
        self.vector = vector
        self.mode = mode
    }
}

extension GANPainting {
    /// Paints activation vectors into `layer` of the generations `ws`: `labels [H, W]` (any size;
    /// brought to the layer's grid by nearest neighbour) says where each label's stroke goes;
    /// label 0 and labels without a stroke keep the generation's features. Returns the images and
    /// the labels at the layer's resolution.
    public static func paint(_ g: StyleGAN2, ws: Tensor, layer: String, labels: Tensor, strokes: [Int: PaintStroke],
                             block: Int = 2) throws -> (images: Tensor, layerLabels: Tensor) {
        guard labels.rank == 2, labels.shape[0] > 0, labels.shape[1] > 0 else {
            throw LoupeError("paint: the paint map must be labels [H, W], got \(describe(shape: labels.shape))")
        }
        let size = try layerSize(g, layer: layer), channels = try layerChannels(g, layer: layer)
        let small = try NN.interpolate(labels.reshaped([1, 1, labels.shape[0], labels.shape[1]]), size: (size, size), mode: .nearest)
            .reshaped([size, size]).contiguous()
        let grid = try gridMask(height: size, width: size, block: block).scalars
        let labelValues = small.scalars.map { Int($0.rounded()) }
        var regions: [(vector: Tensor, mask: Tensor)] = []
        for label in strokes.keys.sorted() {
            guard let stroke = strokes[label] else { continue }
            guard stroke.vector.count == channels, stroke.vector.rank <= 2 else {
                throw LoupeError("paint: the vector for label \(label) must be [\(channels)] for \(layer), got \(describe(shape: stroke.vector.shape))")
            }
            let mask = labelValues.indices.map { i -> Float in
                guard labelValues[i] == label else { return 0 }
                return stroke.mode == .full ? 1 : grid[i]
            }
            guard mask.contains(where: { $0 > 0 }) else { continue }
            regions.append((try stroke.vector.reshaped([1, channels, 1, 1]), try Tensor(shape: [1, 1, size, size], scalars: mask)))
        }
        let patch = Patch.transform { features in
            var f = features
            for region in regions { f = try f + (region.vector - f) * region.mask }
            return f
        }
        return (try synthesize(g, ws: ws, patches: [layer: patch]).images, small)
    }

    /// A paint map from an RGB picture `[3, H, W]` in [0, 1]: each pixel gets the label (1-based)
    /// of the nearest of `colours` (RGB triples in [0, 1]) within `tolerance` (largest channel
    /// difference), 0 when none is that close.
    public static func labels(fromPicture picture: Tensor, colours: [[Float]], tolerance: Float = 0.1) throws -> Tensor {
        guard picture.rank == 3, picture.shape[0] >= 3 else {
            throw LoupeError("paint: a paint map picture must be [3, H, W] (RGB), got \(describe(shape: picture.shape))")
        }
        let h = picture.shape[1], w = picture.shape[2], plane = h * w
        let pixels = picture.contiguous().scalars
        var result = [Float](repeating: 0, count: plane)
        for i in 0..<plane {
            var best = Float.infinity, bestLabel = 0
            for (k, colour) in colours.enumerated() where colour.count == 3 {
                let d = max(abs(pixels[i] - colour[0]), abs(pixels[plane + i] - colour[1]), abs(pixels[2 * plane + i] - colour[2]))
                if d <= tolerance, d < best { best = d; bestLabel = k + 1 }
            }
            result[i] = Float(bestLabel)
        }
        return try Tensor(shape: [h, w], scalars: result)
    }
}

/// Drawing label maps for `paint`: shapes filled with a label on a `[H, W]` canvas. Coordinates
/// are in pixels of the canvas, y down and x right; a pixel is inside when its centre is.
public enum PaintCanvas {
    /// A canvas of label 0.
    public static func blank(height: Int, width: Int) throws -> Tensor {
        guard height > 0, width > 0 else { throw LoupeError("canvas: size must be positive, got \(height)x\(width)") }
        return try Tensor.zeros([height, width])
    }

    /// The canvas with the rectangle `top..<bottom`, `left..<right` set to `label`.
    public static func rect(_ canvas: Tensor, top: Double, left: Double, bottom: Double, right: Double, label: Float) throws -> Tensor {
        try fill(canvas, op: "rect") { y, x in y >= top && y < bottom && x >= left && x < right }
            .map(label)
    }

    /// The canvas with the disc of `radius` around (`y`, `x`) set to `label`.
    public static func circle(_ canvas: Tensor, y cy: Double, x cx: Double, radius: Double, label: Float) throws -> Tensor {
        try fill(canvas, op: "circle") { y, x in (y - cy) * (y - cy) + (x - cx) * (x - cx) <= radius * radius }
            .map(label)
    }

    /// The canvas with the polygon through `points` (`[y, x]` pairs; even-odd rule) set to `label`.
    public static func polygon(_ canvas: Tensor, points: [(y: Double, x: Double)], label: Float) throws -> Tensor {
        guard points.count >= 3 else { throw LoupeError("polygon: needs at least 3 points, got \(points.count)") }
        return try fill(canvas, op: "polygon") { y, x in
            var inside = false
            var j = points.count - 1
            for i in 0..<points.count {
                let a = points[i], b = points[j]
                if (a.y > y) != (b.y > y), x < (b.x - a.x) * (y - a.y) / (b.y - a.y) + a.x { inside.toggle() }
                j = i
            }
            return inside
        }.map(label)
    }

    /// The pixels of `canvas` whose centres satisfy `inside`, ready to be set to a label.
    struct Region {
        var canvas: Tensor
        var inside: [Bool]
        func map(_ label: Float) throws -> Tensor {
            var values = canvas.contiguous().scalars
            for i in values.indices where inside[i] { values[i] = label }
            return try Tensor(shape: canvas.shape, scalars: values)
        }
    }

    static func fill(_ canvas: Tensor, op: String, _ inside: (Double, Double) -> Bool) throws -> Region {
        guard canvas.rank == 2 else { throw LoupeError("\(op): the canvas must be labels [H, W], got \(describe(shape: canvas.shape))") }
        let h = canvas.shape[0], w = canvas.shape[1]
        var result = [Bool](repeating: false, count: h * w)
        for y in 0..<h { for x in 0..<w { result[y * w + x] = inside(Double(y) + 0.5, Double(x) + 0.5) } }
        return Region(canvas: canvas, inside: result)
    }
}
