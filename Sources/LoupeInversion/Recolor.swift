import Foundation
import LoupeTensor
import LoupeIO

/// A colour perturbation for the colour experiment (Rathjens et al.): applied in HSV.
public enum ColorChange: Equatable, Sendable {
    /// Rotate the hue by this many degrees (e.g. +120, +240).
    case rotateHue(Float)
    /// Set the hue to this many degrees (red 0, green 120, blue 240), keeping saturation and value.
    case setHue(Float)
    /// Replace the colour by its ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B) in all channels.
    case gray

    /// The hue of a named colour: `red`, `green` or `blue`.
    public static func named(_ name: String) throws -> ColorChange {
        switch name {
        case "red": return .setHue(0)
        case "green": return .setHue(120)
        case "blue": return .setHue(240)
        default: throw LoupeError("recolor: unknown colour '\(name)' (red, green or blue)")
        }
    }
}

/// Colour perturbation and the measures of whether a reconstruction keeps it.
///
/// Images are RGB in [0, 1], `[3, H, W]` or `[B, 3, H, W]`. Masks are `[H, W]`, `[1, H, W]`,
/// `[B, H, W]` or `[B, 1, H, W]` with values in [0, 1] (soft masks blend); no mask means the
/// whole image (the paper changes the whole image for ViT).
public enum Recolor {
    /// `image` with `change` applied inside `mask` (blended as `m * changed + (1 - m) * image`).
    /// Setting or rotating a hue keeps saturation and value, so gray pixels (saturation 0) stay gray.
    public static func recolor(_ image: Tensor, _ change: ColorChange, mask: Tensor? = nil) throws -> Tensor {
        let (batch, h, w) = try rgbLayout(image, op: "recolor")
        let changed: Tensor
        switch change {
        case .gray:
            let luma = try Images.grayscale(image)
            changed = try Tensor.concat([luma, luma, luma], axis: image.rank - 3)
        case .rotateHue(let degrees), .setHue(let degrees):
            guard degrees.isFinite else { throw LoupeError("recolor: hue \(degrees) is not finite") }
            var hsv = try Images.rgbToHSV(image.contiguous())
            let plane = h * w
            let isSet: Bool
            if case .setHue = change { isSet = true } else { isSet = false }
            hsv.withMutablePointer { p in
                for b in 0..<batch {
                    let hue = p + b * 3 * plane
                    for i in 0..<plane {
                        let value = isSet ? degrees : hue[i] + degrees
                        var wrapped = value.truncatingRemainder(dividingBy: 360)
                        if wrapped < 0 { wrapped += 360 }
                        hue[i] = wrapped
                    }
                }
            }
            changed = try Images.hsvToRGB(hsv)
        }
        guard let mask else { return changed }
        let weights = try maskWeights(mask, batch: batch, h: h, w: w, op: "recolor")
        let m = try weights.reshaped(image.rank == 4 ? [batch, 1, h, w] : [1, h, w])
        return try changed * m + image * (1 - m)
    }

    /// Mean circular hue difference in degrees (0...180) between `reference` and `reconstruction`
    /// per image, over the pixels inside `mask` (weight > 0.5) where both images are coloured:
    /// saturation and value above `threshold` in both (hue is undefined for gray and dark
    /// pixels). NaN for an image without such pixels; see `coloredFraction` for how many there are.
    public static func hueError(_ reference: Tensor, _ reconstruction: Tensor, mask: Tensor? = nil,
                                threshold: Float = 0.1) throws -> Tensor {
        try hueStatistics(reference, reconstruction, mask: mask, threshold: threshold).error
    }

    /// The fraction of masked, coloured pixels of `reference` (saturation and value above
    /// `threshold`) that are also coloured in `reconstruction`, per image. A reconstruction that
    /// turned the object gray scores near 0 here while its hue error is computed on few pixels.
    public static func coloredFraction(_ reference: Tensor, _ reconstruction: Tensor, mask: Tensor? = nil,
                                       threshold: Float = 0.1) throws -> Tensor {
        try hueStatistics(reference, reconstruction, mask: mask, threshold: threshold).fraction
    }

    static func hueStatistics(_ reference: Tensor, _ reconstruction: Tensor, mask: Tensor?,
                              threshold: Float) throws -> (error: Tensor, fraction: Tensor) {
        guard reference.shape == reconstruction.shape else {
            throw LoupeError("hue_error: images have different shapes \(describe(shape: reference.shape)) and \(describe(shape: reconstruction.shape))")
        }
        let (batch, h, w) = try rgbLayout(reference, op: "hue_error")
        let plane = h * w
        let weights = try mask.map { try maskWeights($0, batch: batch, h: h, w: w, op: "hue_error").scalars }
        let a = try Images.rgbToHSV(reference.contiguous()).scalars
        let b = try Images.rgbToHSV(reconstruction.contiguous()).scalars
        var errors = [Float](repeating: .nan, count: batch), fractions = [Float](repeating: .nan, count: batch)
        for image in 0..<batch {
            let base = image * 3 * plane
            var sum = 0.0, colored = 0, kept = 0
            for i in 0..<plane {
                if let weights, weights[image * plane + i] <= 0.5 { continue }
                guard a[base + plane + i] > threshold, a[base + 2 * plane + i] > threshold else { continue }
                colored += 1
                guard b[base + plane + i] > threshold, b[base + 2 * plane + i] > threshold else { continue }
                kept += 1
                let d = abs(a[base + i] - b[base + i]).truncatingRemainder(dividingBy: 360)
                sum += Double(min(d, 360 - d))
            }
            if kept > 0 { errors[image] = Float(sum / Double(kept)) }
            if colored > 0 { fractions[image] = Float(kept) / Float(colored) }
        }
        let shape = reference.rank == 4 ? [batch] : []
        return (try Tensor(shape: shape, scalars: errors), try Tensor(shape: shape, scalars: fractions))
    }

    /// Bhattacharyya distance `sqrt(1 - sum_i sqrt(p_i q_i))` (OpenCV's `HISTCMP_BHATTACHARYYA`)
    /// between the normalised hue-saturation histograms of two images inside `mask`, per image:
    /// 0 for equal colour distributions, 1 for disjoint ones. Bins: `hueBins` over [0, 360) by
    /// `saturationBins` over [0, 1], each pixel counted with its mask weight. Colours are
    /// rounded to 8 bits first, as OpenCV's images are: otherwise float noise of 1e-7 on a black
    /// pixel gives it an arbitrary hue at full saturation, and an exact reconstruction of a dark
    /// image would score far from 0.
    public static func histogramDistance(_ a: Tensor, _ b: Tensor, mask: Tensor? = nil,
                                         hueBins: Int = 18, saturationBins: Int = 4) throws -> Tensor {
        guard a.shape == b.shape else {
            throw LoupeError("color_distance: images have different shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape))")
        }
        guard hueBins > 0, saturationBins > 0, hueBins * saturationBins <= 1 << 20 else {
            throw LoupeError("color_distance: bin counts must be positive, got \(hueBins) x \(saturationBins)")
        }
        let (batch, h, w) = try rgbLayout(a, op: "color_distance")
        let plane = h * w
        let weights = try mask.map { try maskWeights($0, batch: batch, h: h, w: w, op: "color_distance").scalars }
        let first = try Images.rgbToHSV(try eightBit(a)).scalars
        let second = try Images.rgbToHSV(try eightBit(b)).scalars
        var distances = [Float](repeating: 0, count: batch)
        var p = [Double](repeating: 0, count: hueBins * saturationBins), q = p
        for image in 0..<batch {
            for i in p.indices { p[i] = 0; q[i] = 0 }
            let base = image * 3 * plane
            /// The bin of pixel `i`, clamping values outside [0, 1] images' HSV ranges.
            func bin(_ hsv: [Float], _ i: Int) -> Int {
                let hue = min(max(hsv[base + i] / 360 * Float(hueBins), 0), Float(hueBins - 1))
                let saturation = min(max(hsv[base + plane + i] * Float(saturationBins), 0), Float(saturationBins - 1))
                return Int(hue) * saturationBins + Int(saturation)
            }
            func finite(_ hsv: [Float], _ i: Int) -> Bool { hsv[base + i].isFinite && hsv[base + plane + i].isFinite }
            for i in 0..<plane {
                let weight = Double(weights?[image * plane + i] ?? 1)
                // Skip unmasked pixels and non-finite values (NaN images).
                guard weight > 0, finite(first, i), finite(second, i) else { continue }
                p[bin(first, i)] += weight
                q[bin(second, i)] += weight
            }
            let total = p.reduce(0, +)
            guard total > 0 else { distances[image] = .nan; continue }
            var overlap = 0.0
            for i in p.indices { overlap += (p[i] * q[i]).squareRoot() }
            distances[image] = Float(max(0, 1 - overlap / total).squareRoot())
        }
        return try Tensor(shape: a.rank == 4 ? [batch] : [], scalars: distances)
    }

    // MARK: Helpers

    /// `image` clamped to [0, 1] and rounded to multiples of 1/255; NaN stays NaN.
    static func eightBit(_ image: Tensor) throws -> Tensor {
        let scalars = image.contiguous().scalars.map { x -> Float in
            x.isNaN ? x : (min(max(x, 0), 1) * 255).rounded() / 255
        }
        return try Tensor(shape: image.shape, scalars: scalars)
    }

    static func rgbLayout(_ image: Tensor, op: String) throws -> (batch: Int, h: Int, w: Int) {
        guard (image.rank == 3 || image.rank == 4), image.shape[image.rank - 3] == 3, image.count > 0 else {
            throw LoupeError("\(op): expected an RGB image [3, H, W] or [B, 3, H, W], got shape \(describe(shape: image.shape))")
        }
        return (image.rank == 4 ? image.shape[0] : 1, image.shape[image.rank - 2], image.shape[image.rank - 1])
    }

    /// The mask as `[batch, h, w]` weights.
    static func maskWeights(_ mask: Tensor, batch: Int, h: Int, w: Int, op: String) throws -> Tensor {
        let ok: Bool
        switch mask.rank {
        case 2: ok = mask.shape == [h, w]
        case 3: ok = mask.shape == [1, h, w] || mask.shape == [batch, h, w]
        case 4: ok = mask.shape == [batch, 1, h, w] || mask.shape == [1, 1, h, w]
        default: ok = false
        }
        guard ok else {
            throw LoupeError("\(op): mask of shape \(describe(shape: mask.shape)) does not fit \(batch) image(s) of \(h) x \(w) (use [H, W], [1, H, W], [B, H, W] or [B, 1, H, W])")
        }
        let flat = try mask.detached().reshaped([-1, h, w])
        return flat.shape[0] == batch ? flat.contiguous() : try flat.expanded(to: [batch, h, w]).contiguous()
    }
}
