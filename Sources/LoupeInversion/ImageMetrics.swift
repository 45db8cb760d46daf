import Foundation
import LoupeTensor

/// Faithfulness metrics for images in [0, `dataRange`] and for activations.
///
/// Images are `[B, C, H, W]` (one value per image, shape `[B]`), `[C, H, W]` or `[H, W]`
/// (a rank-0 result). SSIM follows scikit-image's `structural_similarity(a, b,
/// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=0)`:
/// per channel, Gaussian-weighted local means, variances and covariance (separable 11-tap
/// kernel from `truncate = 3.5`, scipy's `reflect` border, i.e. `d c b a | a b c d`), the SSIM
/// map with `C1 = (0.01 R)^2`, `C2 = (0.03 R)^2`, cropped by the kernel radius (5) on every
/// side, averaged, then averaged over channels. Computed in double precision.
public enum ImageMetrics {
    /// Mean squared error per image.
    public static func mse(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let (batch, shape) = try imageBatch(a, b, op: "mse")
        let perImage = try (a - b).pow(2).reshaped([batch, -1]).mean(axes: [1])
        return try perImage.reshaped(shape)
    }

    /// Peak signal-to-noise ratio in dB per image: `10 log10(R^2 / mse)` (infinite when equal).
    public static func psnr(_ a: Tensor, _ b: Tensor, dataRange: Float = 1) throws -> Tensor {
        guard dataRange > 0 else { throw LoupeError("psnr: data range must be positive, got \(dataRange)") }
        let errors = try GradMode.withoutGrad { try mse(a, b) }
        let values = errors.scalars.map { e -> Float in
            e == 0 ? .infinity : Float(10 * log10(Double(dataRange) * Double(dataRange) / Double(e)))
        }
        return try Tensor(shape: errors.shape, scalars: values)
    }

    /// Structural similarity per image (see the type's documentation). Images must be at least
    /// 11 x 11. Not differentiable.
    public static func ssim(_ a: Tensor, _ b: Tensor, dataRange: Float = 1, sigma: Double = 1.5) throws -> Tensor {
        let (batch, shape) = try imageBatch(a, b, op: "ssim")
        guard dataRange > 0, sigma > 0 else {
            throw LoupeError("ssim: data range (\(dataRange)) and sigma (\(sigma)) must be positive")
        }
        let h = a.shape[a.rank - 2], w = a.shape[a.rank - 1]
        let channels = a.rank >= 3 ? a.shape[a.rank - 3] : 1
        let radius = Int(3.5 * sigma + 0.5)
        let window = 2 * radius + 1
        guard h >= window, w >= window else {
            throw LoupeError("ssim: images of shape \(describe(shape: a.shape)) are smaller than the \(window) x \(window) Gaussian window")
        }
        let kernel = gaussianKernel(sigma: sigma, radius: radius)
        let c1 = pow(0.01 * Double(dataRange), 2), c2 = pow(0.03 * Double(dataRange), 2)
        let plane = h * w
        var results = [Float](repeating: 0, count: batch)
        let workspace = UnsafeMutablePointer<Double>.allocate(capacity: plane * 8)
        defer { workspace.deallocate() }
        let x = workspace, y = x + plane, product = y + plane, scratch = product + plane
        let mx = scratch + plane, my = mx + plane, mxx = my + plane, myy = mxx + plane
        var mxy = [Double](repeating: 0, count: plane)
        a.withContiguousPointer { pa in
            b.withContiguousPointer { pb in
                for image in 0..<batch {
                    var total = 0.0
                    for c in 0..<channels {
                        let offset = (image * channels + c) * plane
                        for i in 0..<plane { x[i] = Double(pa[offset + i]); y[i] = Double(pb[offset + i]) }
                        filter(x, into: mx, scratch: scratch, h: h, w: w, kernel: kernel)
                        filter(y, into: my, scratch: scratch, h: h, w: w, kernel: kernel)
                        for i in 0..<plane { product[i] = x[i] * x[i] }
                        filter(product, into: mxx, scratch: scratch, h: h, w: w, kernel: kernel)
                        for i in 0..<plane { product[i] = y[i] * y[i] }
                        filter(product, into: myy, scratch: scratch, h: h, w: w, kernel: kernel)
                        for i in 0..<plane { product[i] = x[i] * y[i] }
                        mxy.withUnsafeMutableBufferPointer { buffer in
                            filter(product, into: buffer.baseAddress!, scratch: scratch, h: h, w: w, kernel: kernel)
                        }
                        var sum = 0.0
                        for row in radius..<(h - radius) {
                            for col in radius..<(w - radius) {
                                let i = row * w + col
                                let ux = mx[i], uy = my[i]
                                let vx = mxx[i] - ux * ux, vy = myy[i] - uy * uy, vxy = mxy[i] - ux * uy
                                let numerator = (2 * ux * uy + c1) * (2 * vxy + c2)
                                let denominator = (ux * ux + uy * uy + c1) * (vx + vy + c2)
                                sum += numerator / denominator
                            }
                        }
                        total += sum / Double((h - 2 * radius) * (w - 2 * radius))
                    }
                    results[image] = Float(total / Double(channels))
                }
            }
        }
        return try Tensor(shape: shape, scalars: results)
    }

    /// Cosine similarity per batch item of two activations `[B, ...]` (flattened), as torch's
    /// `cosine_similarity(a.flatten(1), b.flatten(1))` (`NN.cosineSimilarity`).
    public static func cosineSimilarity(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        try NN.cosineSimilarity(a, b)
    }

    // MARK: Helpers

    /// The batch size of two images of the same shape and the result shape (`[B]` or `[]`).
    static func imageBatch(_ a: Tensor, _ b: Tensor, op: String) throws -> (Int, [Int]) {
        guard a.shape == b.shape else {
            throw LoupeError("\(op): images have different shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape))")
        }
        guard (2...4).contains(a.rank), a.count > 0 else {
            throw LoupeError("\(op): expected images [B, C, H, W], [C, H, W] or [H, W], got shape \(describe(shape: a.shape))")
        }
        return a.rank == 4 ? (a.shape[0], [a.shape[0]]) : (1, [])
    }

    /// scipy's `_gaussian_kernel1d`: `exp(-x^2 / (2 sigma^2))` for x in -radius...radius, normalised.
    static func gaussianKernel(sigma: Double, radius: Int) -> [Double] {
        let weights = (-radius...radius).map { exp(-0.5 / (sigma * sigma) * Double($0 * $0)) }
        let total = weights.reduce(0, +)
        return weights.map { $0 / total }
    }

    /// Separable correlation of an `h x w` plane with `kernel` along both axes, scipy `reflect`
    /// borders (the kernel radius is below both sides, checked by the caller).
    static func filter(_ source: UnsafePointer<Double>, into output: UnsafeMutablePointer<Double>,
                       scratch: UnsafeMutablePointer<Double>, h: Int, w: Int, kernel: [Double]) {
        let radius = kernel.count / 2
        @inline(__always) func reflect(_ i: Int, _ n: Int) -> Int {
            i < 0 ? -i - 1 : (i >= n ? 2 * n - i - 1 : i)
        }
        // Rows (axis 0) first, as scipy filters axis by axis in order.
        for row in 0..<h {
            for col in 0..<w {
                var sum = 0.0
                for k in 0..<kernel.count { sum += kernel[k] * source[reflect(row + k - radius, h) * w + col] }
                scratch[row * w + col] = sum
            }
        }
        for row in 0..<h {
            let line = scratch + row * w
            for col in 0..<w {
                var sum = 0.0
                for k in 0..<kernel.count { sum += kernel[k] * line[reflect(col + k - radius, w)] }
                output[row * w + col] = sum
            }
        }
    }
}
