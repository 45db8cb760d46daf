import Foundation

extension NN {
    /// One output coordinate's two source taps and weights along an axis.
    struct Taps { var i0: Int, i1: Int, w0: Float, w1: Float }

    /// Nearest-neighbour resize of the last two axes to `size` (torch `mode="nearest"`:
    /// source index `min(floor(i * in / out), in - 1)`).
    public static func upsampleNearest2d(_ x: Tensor, size: (Int, Int)) throws -> Tensor {
        let (h, w) = try resizeCheck(x, size: size, op: "upsampleNearest2d")
        return try interpolate(x, rows: nearestTaps(h, size.0, scale: nil), columns: nearestTaps(w, size.1, scale: nil),
                               op: "upsampleNearest2d")
    }

    /// Nearest-neighbour resize by `scale` (output `floor(in * scale)`; source index
    /// `floor(i / scale)`, as torch with `scale_factor`).
    public static func upsampleNearest2d(_ x: Tensor, scale: Float) throws -> Tensor {
        let size = try scaledSize(x, scale: scale, op: "upsampleNearest2d")
        let (h, w) = try resizeCheck(x, size: size, op: "upsampleNearest2d")
        return try interpolate(x, rows: nearestTaps(h, size.0, scale: scale), columns: nearestTaps(w, size.1, scale: scale),
                               op: "upsampleNearest2d")
    }

    /// Bilinear resize of the last two axes to `size` (torch `mode="bilinear"`, no antialias).
    public static func upsampleBilinear2d(_ x: Tensor, size: (Int, Int), alignCorners: Bool = false) throws -> Tensor {
        let (h, w) = try resizeCheck(x, size: size, op: "upsampleBilinear2d")
        return try interpolate(x, rows: linearTaps(h, size.0, alignCorners: alignCorners, scale: nil),
                               columns: linearTaps(w, size.1, alignCorners: alignCorners, scale: nil),
                               op: "upsampleBilinear2d")
    }

    /// Bilinear resize by `scale` (output `floor(in * scale)`, torch `scale_factor` semantics).
    public static func upsampleBilinear2d(_ x: Tensor, scale: Float, alignCorners: Bool = false) throws -> Tensor {
        let size = try scaledSize(x, scale: scale, op: "upsampleBilinear2d")
        let (h, w) = try resizeCheck(x, size: size, op: "upsampleBilinear2d")
        return try interpolate(x, rows: linearTaps(h, size.0, alignCorners: alignCorners, scale: scale),
                               columns: linearTaps(w, size.1, alignCorners: alignCorners, scale: scale),
                               op: "upsampleBilinear2d")
    }

    private static func scaledSize(_ x: Tensor, scale: Float, op: String) throws -> (Int, Int) {
        guard x.rank >= 3, scale > 0, scale.isFinite else {
            throw LoupeError("\(op): invalid scale \(scale) for input \(describe(shape: x.shape))")
        }
        let h = Float(x.shape[x.rank - 2]) * scale, w = Float(x.shape[x.rank - 1]) * scale
        guard h < 1e9, w < 1e9 else { throw LoupeError("\(op): scale \(scale) is too large for input \(describe(shape: x.shape))") }
        return (Int(h.rounded(.down)), Int(w.rounded(.down)))
    }

    private static func resizeCheck(_ x: Tensor, size: (Int, Int), op: String) throws -> (Int, Int) {
        guard x.rank >= 3, size.0 > 0, size.1 > 0, x.shape[x.rank - 2] > 0, x.shape[x.rank - 1] > 0 else {
            throw LoupeError("\(op): cannot resize input \(describe(shape: x.shape)) to (\(size.0), \(size.1)); expected [..., H, W] and positive sizes")
        }
        _ = try Tensor.checkedCount(Array(x.shape.dropLast(2)) + [size.0, size.1], op: op)
        return (x.shape[x.rank - 2], x.shape[x.rank - 1])
    }

    private static func nearestTaps(_ input: Int, _ output: Int, scale: Float?) -> [Taps] {
        let s: Float = scale.map { 1 / $0 } ?? Float(input) / Float(output)
        return (0..<output).map { i in
            let src = output == input ? i : min(Int((Float(i) * s).rounded(.down)), input - 1)
            return Taps(i0: src, i1: src, w0: 1, w1: 0)
        }
    }

    private static func linearTaps(_ input: Int, _ output: Int, alignCorners: Bool, scale: Float?) -> [Taps] {
        (0..<output).map { i in
            var src: Float
            if alignCorners {
                src = output > 1 ? Float(i) * (Float(input - 1) / Float(output - 1)) : 0
            } else {
                let s: Float = scale.map { 1 / $0 } ?? Float(input) / Float(output)
                src = max(s * (Float(i) + 0.5) - 0.5, 0)
            }
            let i0 = min(Int(src), input - 1)
            let i1 = i0 < input - 1 ? i0 + 1 : i0
            let l1 = src - Float(i0)
            return Taps(i0: i0, i1: i1, w0: 1 - l1, w1: l1)
        }
    }

    /// Separable two-tap interpolation of the last two axes. Differentiable.
    private static func interpolate(_ x: Tensor, rows: [Taps], columns: [Taps], op: String) throws -> Tensor {
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let ho = rows.count, wo = columns.count
        let planes = x.count / (h * w)
        let result = Tensor.uninitialized(Array(x.shape.dropLast(2)) + [ho, wo])
        let xc = x.contiguous()
        withExtendedLifetime(xc) {
            let src = base(xc), dst = base(result)
            Parallel.forEach(planes) { p in
                let plane = src + p * h * w
                for (oy, r) in rows.enumerated() {
                    let r0 = plane + r.i0 * w, r1 = plane + r.i1 * w
                    let out = dst + (p * ho + oy) * wo
                    for (ox, c) in columns.enumerated() {
                        out[ox] = r.w0 * (c.w0 * r0[c.i0] + c.w1 * r0[c.i1]) + r.w1 * (c.w0 * r1[c.i0] + c.w1 * r1[c.i1])
                    }
                }
            }
        }
        let inShape = x.shape
        return Tensor.record(result, op: op, inputs: [x]) { grad in
            let g = grad.contiguous()
            let gx = zeroTensor(inShape)
            withExtendedLifetime(g) {
                let pg = base(g), dx = base(gx)
                Parallel.forEach(planes) { p in
                    let plane = dx + p * h * w
                    for (oy, r) in rows.enumerated() {
                        let r0 = plane + r.i0 * w, r1 = plane + r.i1 * w
                        let gr = pg + (p * ho + oy) * wo
                        for (ox, c) in columns.enumerated() {
                            let v = gr[ox]
                            r0[c.i0] += r.w0 * c.w0 * v; r0[c.i1] += r.w0 * c.w1 * v
                            r1[c.i0] += r.w1 * c.w0 * v; r1[c.i1] += r.w1 * c.w1 * v
                        }
                    }
                }
            }
            return [gx]
        }
    }
}
