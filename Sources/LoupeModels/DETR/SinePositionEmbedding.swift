import Foundation
import LoupeTensor

/// DETR's `PositionEmbeddingSine` (`normalize=True`, temperature 10000, scale 2 pi): from a
/// padding mask `[B, h, w]` (nonzero = padding), the position embedding `[B, 2 * features, h, w]`.
/// Positions count the unpadded cells (cumulative sums of the mask's complement along each
/// axis), scaled to (0, 2 pi] by the last one; channel `2k` is `sin(p / t_k)` and `2k + 1` is
/// `cos(p / t_k)` with `t_k = 10000^(2 floor(k / 2) / features)`; the y embedding comes first.
public final class SinePositionEmbedding: Module {
    /// Channels per axis (DETR: `hidden_dim / 2`).
    public let features: Int
    public let temperature: Float = 10000
    public let scale = Float(2 * Double.pi)
    public let eps: Float = 1e-6

    public init(features: Int) {
        self.features = features
        super.init()
    }

    public override var typeName: String { "PositionEmbeddingSine" }

    public override var inputSignature: [InputParameter] { [InputParameter("mask")] }

    public override func forward(_ mask: Tensor, context: ForwardContext) throws -> Tensor {
        guard mask.rank == 3 else {
            throw LoupeError("PositionEmbeddingSine: mask \(describe(shape: mask.shape)) is not [B, h, w]")
        }
        let b = mask.shape[0], h = mask.shape[1], w = mask.shape[2], f = features
        let padded = mask.detached().contiguous().scalars
        var divisors = [Float](repeating: 0, count: f)
        for k in 0..<f { divisors[k] = Float(pow(Double(temperature), Double(Float(2 * (k / 2)) / Float(f)))) }
        var out = [Float](repeating: 0, count: b * 2 * f * h * w)
        var yEmbed = [Float](repeating: 0, count: h * w), xEmbed = [Float](repeating: 0, count: h * w)
        for n in 0..<b {
            let m = n * h * w
            for i in 0..<h {
                for j in 0..<w {
                    let keep: Float = padded[m + i * w + j] == 0 ? 1 : 0
                    yEmbed[i * w + j] = keep + (i > 0 ? yEmbed[(i - 1) * w + j] : 0)
                    xEmbed[i * w + j] = keep + (j > 0 ? xEmbed[i * w + j - 1] : 0)
                }
            }
            var normalizedY = yEmbed, normalizedX = xEmbed
            for i in 0..<h {
                for j in 0..<w {
                    normalizedY[i * w + j] = yEmbed[i * w + j] / (yEmbed[(h - 1) * w + j] + eps) * scale
                    normalizedX[i * w + j] = xEmbed[i * w + j] / (xEmbed[i * w + w - 1] + eps) * scale
                }
            }
            for (axis, embed) in [normalizedY, normalizedX].enumerated() {
                for k in 0..<f {
                    let base = ((n * 2 * f) + axis * f + k) * h * w
                    for p in 0..<(h * w) {
                        let v = embed[p] / divisors[k]
                        out[base + p] = k % 2 == 0 ? sin(v) : cos(v)
                    }
                }
            }
        }
        return try Tensor(shape: [b, 2 * f, h, w], scalars: out)
    }
}
