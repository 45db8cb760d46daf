import Foundation
import LoupeModels
import LoupeTensor

extension GANPainting {
    /// The Grid Replace mask of a `height` x `width` layer: squares of side `block` at stride
    /// `block + 1` from (0, 0), as the paper's code places them (starts below `size - block`).
    /// `[height, width]`, 1 inside the squares.
    public static func gridMask(height: Int, width: Int, block: Int) throws -> Tensor {
        guard block >= 1, block < height, block < width else {
            throw LoupeError("grid_replace: block must be at least 1 and smaller than the layer (\(height)x\(width)), got \(block)")
        }
        var mask = [Float](repeating: 0, count: height * width)
        for top in stride(from: 0, to: height - block, by: block + 1) {
            for left in stride(from: 0, to: width - block, by: block + 1) {
                for y in top..<(top + block) { for x in left..<(left + block) { mask[y * width + x] = 1 } }
            }
        }
        return try Tensor(shape: [height, width], scalars: mask)
    }

    /// The fraction of positions a mask covers.
    public static func coverage(_ mask: Tensor) throws -> Float {
        try mask.mean().item()
    }

    /// A patch that sets `layer`'s features to `vectors [B, C]` where `mask [h, w]` is 1 and
    /// keeps them elsewhere (everywhere when `mask` is nil).
    static func replacement(vectors: Tensor, mask: Tensor?, op: String) -> Patch {
        .transform { features in
            let b = features.shape[0], c = features.shape[1], h = features.shape[2], w = features.shape[3]
            let rows = try vectorRows(vectors, channels: c, batch: b, op: op).reshaped([b, c, 1, 1])
            guard let mask else { return try rows.expanded(to: features.shape).contiguous() }
            guard mask.shape == [h, w] else {
                throw LoupeError("\(op): the mask \(describe(shape: mask.shape)) does not match the layer's \(h)x\(w) grid")
            }
            let m = try mask.reshaped([1, 1, h, w])
            return try features + (rows - features) * m
        }
    }

    /// Full Replace: every position of `layer` set to the vector (`[C]`, or `[B, C]` one per image).
    public static func fullReplace(_ g: StyleGAN2, ws: Tensor, layer: String, vectors: Tensor) throws -> Tensor {
        try synthesize(g, ws: ws, patches: [layer: replacement(vectors: vectors, mask: nil, op: "full_replace")]).images
    }

    /// Grid Replace: the vector in squares of side `block` at stride `block + 1`, the rest of
    /// `layer` keeping the image's own features. Returns the images and the mask `[h, w]`.
    public static func gridReplace(_ g: StyleGAN2, ws: Tensor, layer: String, vectors: Tensor,
                                   block: Int = 2) throws -> (images: Tensor, mask: Tensor) {
        let size = try layerSize(g, layer: layer)
        let mask = try gridMask(height: size, width: size, block: block)
        let images = try synthesize(g, ws: ws, patches: [layer: replacement(vectors: vectors, mask: mask, op: "grid_replace")]).images
        return (images, mask)
    }

    /// The grid size of a synthesis layer (`synthesis.b16.conv1`: 16).
    public static func layerSize(_ g: StyleGAN2, layer: String) throws -> Int {
        for block in g.synthesis.blocks {
            for name in ["conv0", "conv1", "torgb", ""] {
                let path = "synthesis.b\(block.resolution)" + (name.isEmpty ? "" : "." + name)
                if layer == path || layer.hasPrefix(path + ".") { return block.resolution }
            }
        }
        throw LoupeError("'\(layer)' is not a synthesis layer; the generator's layers are \(g.layerPaths.joined(separator: ", "))")
    }

    /// The channels of a synthesis layer's features.
    public static func layerChannels(_ g: StyleGAN2, layer: String) throws -> Int {
        guard let module = g.module(at: layer) as? StyleGAN2SynthesisLayer else {
            throw LoupeError("'\(layer)' is not a synthesis layer; the generator's layers are \(g.layerPaths.joined(separator: ", "))")
        }
        return module.weight.shape[0]
    }
}
