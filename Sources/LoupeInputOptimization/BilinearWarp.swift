import Foundation
import LoupeTensor

/// Resampling every `[H, W]` plane of `[B, C, H, W]` images at fixed source coordinates with
/// bilinear interpolation, neighbours outside the image reading 0 (torch `grid_sample` with
/// zeros padding and `align_corners=True` in pixel coordinates). The taps are computed once per
/// warp and shared by every plane; the backward pass scatters through the same taps.
struct BilinearWarp {
    let height: Int
    let width: Int
    /// Four source offsets per output pixel (row-major in the plane; -1 where outside).
    let offsets: [Int32]
    /// The matching bilinear weights.
    let weights: [Float]

    /// The warp whose output pixel `(x, y)` reads the source at `source(x, y)` (pixel units).
    init(height: Int, width: Int, source: (Double, Double) -> (x: Double, y: Double)) {
        self.height = height
        self.width = width
        var offsets = [Int32](repeating: -1, count: height * width * 4)
        var weights = [Float](repeating: 0, count: height * width * 4)
        for y in 0..<height {
            for x in 0..<width {
                let (sx, sy) = source(Double(x), Double(y))
                guard sx.isFinite, sy.isFinite, sx > -1, sy > -1, sx < Double(width), sy < Double(height) else { continue }
                let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                let fx = sx - Double(x0), fy = sy - Double(y0)
                let base = (y * width + x) * 4
                let taps = [(x0, y0, (1 - fx) * (1 - fy)), (x0 + 1, y0, fx * (1 - fy)),
                            (x0, y0 + 1, (1 - fx) * fy), (x0 + 1, y0 + 1, fx * fy)]
                for (k, tap) in taps.enumerated() where tap.0 >= 0 && tap.0 < width && tap.1 >= 0 && tap.1 < height {
                    offsets[base + k] = Int32(tap.1 * width + tap.0)
                    weights[base + k] = Float(tap.2)
                }
            }
        }
        self.offsets = offsets
        self.weights = weights
    }

    /// The warped images. Differentiable.
    func apply(_ images: Tensor, op: String) throws -> Tensor {
        guard images.rank == 4, images.shape[2] == height, images.shape[3] == width else {
            throw LoupeError("\(op): expected images [B, C, \(height), \(width)], got \(describe(shape: images.shape))")
        }
        let planes = images.shape[0] * images.shape[1]
        let result = Tensor.uninitialized(images.shape)
        let input = images.contiguous()
        let pixels = height * width
        input.withContiguousPointer { src in
            let dst = result.storage.pointer
            for plane in 0..<planes {
                gather(src + plane * pixels, into: dst + plane * pixels)
            }
        }
        let warp = self
        return Tensor.record(result, op: op, inputs: [images]) { grad in
            let gradient = try Tensor.zeros(grad.shape)
            grad.withContiguousPointer { g in
                let dst = gradient.storage.pointer
                for plane in 0..<planes {
                    warp.scatter(g + plane * pixels, into: dst + plane * pixels)
                }
            }
            return [gradient]
        }
    }

    /// `dst[p] = sum_k w[p, k] src[o[p, k]]` over one plane.
    private func gather(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
        offsets.withUnsafeBufferPointer { o in
            weights.withUnsafeBufferPointer { w in
                for p in 0..<(height * width) {
                    var sum: Float = 0
                    for k in (p * 4)..<(p * 4 + 4) where o[k] >= 0 { sum += w[k] * src[Int(o[k])] }
                    dst[p] = sum
                }
            }
        }
    }

    /// The adjoint of `gather`: `dst[o[p, k]] += w[p, k] src[p]`.
    private func scatter(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>) {
        offsets.withUnsafeBufferPointer { o in
            weights.withUnsafeBufferPointer { w in
                for p in 0..<(height * width) {
                    let g = src[p]
                    for k in (p * 4)..<(p * 4 + 4) where o[k] >= 0 { dst[Int(o[k])] += w[k] * g }
                }
            }
        }
    }
}
