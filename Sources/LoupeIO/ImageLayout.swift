import LoupeTensor

extension Images {
    /// Crops the central `height` x `width` region (torchvision `center_crop` offsets:
    /// `round((H - height) / 2)`, ties to even). The crop must fit inside the image.
    public static func centerCrop(_ image: Tensor, height: Int, width: Int) throws -> Tensor {
        let (_, h, w) = try planes(image, op: "centerCrop")
        guard height >= 0, width >= 0, height <= h, width <= w else {
            throw LoupeError("centerCrop: crop \(height) x \(width) does not fit image of shape \(describe(shape: image.shape))")
        }
        let top = Int((Double(h - height) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(w - width) / 2).rounded(.toNearestOrEven))
        return try crop(image, top: top, left: left, height: height, width: width)
    }

    /// Crops the region of `height` x `width` starting at row `top`, column `left`.
    public static func crop(_ image: Tensor, top: Int, left: Int, height: Int, width: Int) throws -> Tensor {
        let (planes, h, w) = try planes(image, op: "crop")
        guard top >= 0, left >= 0, height >= 0, width >= 0, top + height <= h, left + width <= w else {
            throw LoupeError("crop: region at (\(top), \(left)) of \(height) x \(width) lies outside image of shape \(describe(shape: image.shape))")
        }
        var shape = image.shape
        shape[shape.count - 2] = height
        shape[shape.count - 1] = width
        let result = Tensor.uninitialized(shape)
        image.withContiguousPointer { src in
            let dst = result.storage.pointer
            for p in 0..<planes {
                for y in 0..<height {
                    (dst + (p * height + y) * width).update(from: src + (p * h + top + y) * w + left, count: width)
                }
            }
        }
        return result
    }

    /// Pads the last two dimensions with `value` (constant padding).
    public static func pad(_ image: Tensor, top: Int, bottom: Int, left: Int, right: Int, value: Float = 0) throws -> Tensor {
        let (planes, h, w) = try planes(image, op: "pad")
        guard top >= 0, bottom >= 0, left >= 0, right >= 0 else {
            throw LoupeError("pad: padding (\(top), \(bottom), \(left), \(right)) must be non-negative for image of shape \(describe(shape: image.shape))")
        }
        var shape = image.shape
        shape[shape.count - 2] = h + top + bottom
        shape[shape.count - 1] = w + left + right
        let result = try Tensor.full(shape, value)
        let oh = shape[shape.count - 2], ow = shape[shape.count - 1]
        image.withContiguousPointer { src in
            let dst = result.storage.pointer
            for p in 0..<planes {
                for y in 0..<h {
                    (dst + (p * oh + top + y) * ow + left).update(from: src + (p * h + y) * w, count: w)
                }
            }
        }
        return result
    }

    /// Tiles images of equal height and width into a grid of `columns` columns (rows as needed),
    /// with `padding` pixels of `padValue` around and between tiles, like torchvision `make_grid`.
    /// Images may be [C, H, W] or [H, W]; 1-channel images are repeated to 3 channels when others
    /// have 3 (or 4). A single [N, C, H, W] tensor may be passed as `images: [batch]`.
    public static func grid(_ images: [Tensor], columns: Int = 8, padding: Int = 2, padValue: Float = 0) throws -> Tensor {
        var tiles: [Tensor] = []
        for image in images {
            if image.rank == 4 {
                let all = image.scalars
                let plane = image.shape[1] * image.shape[2] * image.shape[3]
                for n in 0..<image.shape[0] {
                    let values = Array(all[(n * plane)..<((n + 1) * plane)])
                    tiles.append(try Tensor(shape: Array(image.shape.dropFirst()), scalars: values))
                }
            } else if image.rank == 3 {
                tiles.append(image)
            } else if image.rank == 2 {
                tiles.append(try Tensor(shape: [1] + image.shape, scalars: image.scalars))
            } else {
                throw LoupeError("grid: expected images [C, H, W], [H, W] or [N, C, H, W], got shape \(describe(shape: image.shape))")
            }
        }
        guard let first = tiles.first else { throw LoupeError("grid: no images given") }
        guard columns >= 1, padding >= 0 else {
            throw LoupeError("grid: columns (\(columns)) must be positive and padding (\(padding)) non-negative")
        }
        let h = first.shape[1], w = first.shape[2]
        let channels = tiles.map { $0.shape[0] }.max()!
        for tile in tiles {
            guard tile.shape[1] == h, tile.shape[2] == w, tile.shape[0] == channels || tile.shape[0] == 1 else {
                throw LoupeError("grid: image of shape \(describe(shape: tile.shape)) does not match \(describe(shape: [channels, h, w]))")
            }
        }
        let cols = min(columns, tiles.count)
        let rows = (tiles.count + cols - 1) / cols
        let gh = rows * (h + padding) + padding, gw = cols * (w + padding) + padding
        let result = try Tensor.full([channels, gh, gw], padValue)
        let dst = result.storage.pointer
        for (index, tile) in tiles.enumerated() {
            let top = padding + (index / cols) * (h + padding)
            let left = padding + (index % cols) * (w + padding)
            tile.withContiguousPointer { src in
                for c in 0..<channels {
                    let sc = tile.shape[0] == 1 ? 0 : c
                    for y in 0..<h {
                        (dst + (c * gh + top + y) * gw + left).update(from: src + (sc * h + y) * w, count: w)
                    }
                }
            }
        }
        return result
    }
}
