import LoupeTensor

extension Images {
    /// Units of hue for `rgbToHSV` / `hsvToRGB`.
    public enum HueUnit: Sendable {
        /// Hue in degrees, [0, 360).
        case degrees
        /// Hue as a fraction of a turn, [0, 1) (torchvision's convention).
        case unit
    }

    static func colorPlanes(_ image: Tensor, op: String) throws -> (Int, Int) {
        guard image.rank >= 3, image.shape[image.rank - 3] == 3 || image.shape[image.rank - 3] == 4 else {
            throw LoupeError("\(op): expected an RGB image [3, H, W] (or RGBA), got shape \(describe(shape: image.shape))")
        }
        let plane = image.shape[image.rank - 2] * image.shape[image.rank - 1]
        let channels = image.shape[image.rank - 3]
        return (plane == 0 ? 0 : image.count / (channels * plane), plane)
    }

    /// Converts RGB [3, H, W] (values in [0, 1]) to HSV with the same layout: hue in `hueUnit`
    /// (degrees [0, 360) by default, or [0, 1)), saturation and value in [0, 1]. Gray pixels get
    /// hue 0. Follows torchvision's `_rgb2hsv`. An alpha channel is passed through.
    public static func rgbToHSV(_ image: Tensor, hueUnit: HueUnit = .degrees) throws -> Tensor {
        let (batches, plane) = try colorPlanes(image, op: "rgbToHSV")
        let channels = image.shape[image.rank - 3]
        let hueScale: Float = hueUnit == .degrees ? 360 : 1
        var result = image.contiguousCopy()
        result.withMutablePointer { p in
            for b in 0..<batches {
                let r = p + b * channels * plane, g = r + plane, bl = g + plane
                for i in 0..<plane {
                    let red = r[i], green = g[i], blue = bl[i]
                    let maxc = max(red, green, blue), minc = min(red, green, blue)
                    let equal = maxc == minc
                    let cr = maxc - minc
                    let s = cr / (equal ? 1 : maxc)
                    let divisor = equal ? 1 : cr
                    let rc = (maxc - red) / divisor, gc = (maxc - green) / divisor, bc = (maxc - blue) / divisor
                    var h: Float
                    if maxc == red { h = bc - gc } else if maxc == green { h = 2 + rc - bc } else { h = 4 + gc - rc }
                    h = (h / 6 + 1).truncatingRemainder(dividingBy: 1)
                    r[i] = h * hueScale
                    g[i] = s
                    bl[i] = maxc
                }
            }
        }
        return result
    }

    /// Converts HSV [3, H, W] (hue in `hueUnit`) back to RGB. Follows torchvision's `_hsv2rgb`.
    public static func hsvToRGB(_ image: Tensor, hueUnit: HueUnit = .degrees) throws -> Tensor {
        let (batches, plane) = try colorPlanes(image, op: "hsvToRGB")
        let channels = image.shape[image.rank - 3]
        let hueScale: Float = hueUnit == .degrees ? 1 / 360 : 1
        var result = image.contiguousCopy()
        result.withMutablePointer { p in
            for b in 0..<batches {
                let c0 = p + b * channels * plane, c1 = c0 + plane, c2 = c1 + plane
                for i in 0..<plane {
                    let h = c0[i] * hueScale, s = c1[i], v = c2[i]
                    let sector = (h * 6).rounded(.down)
                    let f = h * 6 - sector
                    var k = Int(sector.isFinite ? sector : 0) % 6
                    if k < 0 { k += 6 }
                    let pp = min(max(v * (1 - s), 0), 1)
                    let q = min(max(v * (1 - s * f), 0), 1)
                    let t = min(max(v * (1 - s * (1 - f)), 0), 1)
                    let rgb: (Float, Float, Float)
                    switch k {
                    case 0: rgb = (v, t, pp)
                    case 1: rgb = (q, v, pp)
                    case 2: rgb = (pp, v, t)
                    case 3: rgb = (pp, q, v)
                    case 4: rgb = (t, pp, v)
                    default: rgb = (v, pp, q)
                    }
                    c0[i] = rgb.0
                    c1[i] = rgb.1
                    c2[i] = rgb.2
                }
            }
        }
        return result
    }

    /// ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B, [3, H, W] (or RGBA, alpha ignored) -> [1, H, W].
    public static func grayscale(_ image: Tensor) throws -> Tensor {
        let (batches, plane) = try colorPlanes(image, op: "grayscale")
        let channels = image.shape[image.rank - 3]
        var shape = image.shape
        shape[shape.count - 3] = 1
        let result = Tensor.uninitialized(shape)
        image.withContiguousPointer { p in
            let d = result.storage.pointer
            for b in 0..<batches {
                let r = p + b * channels * plane, g = r + plane, bl = g + plane
                let out = d + b * plane
                for i in 0..<plane { out[i] = 0.299 * r[i] + 0.587 * g[i] + 0.114 * bl[i] }
            }
        }
        return result
    }

    /// (x - mean[c]) / std[c] per channel of [C, H, W] (or [N, C, H, W]).
    public static func normalize(_ image: Tensor, mean: [Float], std: [Float]) throws -> Tensor {
        try affinePerChannel(image, mean: mean, std: std, op: "normalize", inverse: false)
    }

    /// x * std[c] + mean[c] per channel: the inverse of `normalize`.
    public static func denormalize(_ image: Tensor, mean: [Float], std: [Float]) throws -> Tensor {
        try affinePerChannel(image, mean: mean, std: std, op: "denormalize", inverse: true)
    }

    static func affinePerChannel(_ image: Tensor, mean: [Float], std: [Float], op: String, inverse: Bool) throws -> Tensor {
        guard image.rank >= 3 else {
            throw LoupeError("\(op): expected an image [C, H, W], got shape \(describe(shape: image.shape))")
        }
        let channels = image.shape[image.rank - 3]
        guard mean.count == channels, std.count == channels else {
            throw LoupeError("\(op): \(mean.count) means and \(std.count) stds for \(channels) channels of image of shape \(describe(shape: image.shape))")
        }
        guard !inverse ? std.allSatisfy({ $0 != 0 }) : true else {
            throw LoupeError("\(op): std \(std) contains zero")
        }
        let plane = image.shape[image.rank - 2] * image.shape[image.rank - 1]
        var result = image.contiguousCopy()
        if plane == 0 { return result }
        let batches = image.count / (channels * plane)
        result.withMutablePointer { p in
            for b in 0..<batches {
                for c in 0..<channels {
                    let x = p + (b * channels + c) * plane
                    let m = mean[c], s = std[c]
                    if inverse {
                        for i in 0..<plane { x[i] = x[i] * s + m }
                    } else {
                        for i in 0..<plane { x[i] = (x[i] - m) / s }
                    }
                }
            }
        }
        return result
    }
}
