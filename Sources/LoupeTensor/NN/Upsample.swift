import Foundation

extension NN {
    /// The source taps of every output coordinate along an axis: `k` (1, 2 or 4) indices and
    /// weights per output, flat (`index[o * k + t]`).
    struct Taps {
        var k: Int
        var index: [Int]
        var weight: [Float]
        var count: Int { index.count / k }
    }

    /// How `interpolate` computes new values (torch `interpolate`'s modes on images).
    public enum InterpolationMode: String, Sendable, CaseIterable {
        /// The source pixel `floor(i * in / out)`.
        case nearest
        /// The source pixel `floor((i + 0.5) * in / out)` (torch's "nearest-exact").
        case nearestExact = "nearest-exact"
        /// Linear along each axis (two taps).
        case bilinear
        /// Keys' cubic convolution with a = -0.75 along each axis (four taps, edge-clamped).
        case bicubic
        /// Averages over adaptive windows (as `adaptiveAvgPool2d`).
        case area
    }

    /// Resizes the last two axes of `x` (`[N, C, H, W]`) as torch
    /// `interpolate(x, size:, scale_factor:, mode:, align_corners:)` without antialiasing: give
    /// `size` or `scale` (per axis; the output is `floor(in * scale)` and, as in torch with
    /// `scale_factor`, source coordinates use `1 / scale`). `alignCorners` (bilinear and
    /// bicubic only) maps the corner pixels' centres onto each other. Differentiable.
    public static func interpolate(_ x: Tensor, size: (Int, Int)? = nil, scale: (Float, Float)? = nil,
                                   mode: InterpolationMode = .nearest, alignCorners: Bool = false) throws -> Tensor {
        let op = "interpolate"
        guard (size == nil) != (scale == nil) else {
            throw LoupeError("\(op): give exactly one of size and scale for input \(describe(shape: x.shape))")
        }
        guard !alignCorners || mode == .bilinear || mode == .bicubic else {
            throw LoupeError("\(op): align_corners applies only to the bilinear and bicubic modes, not \(mode.rawValue)")
        }
        let out: (Int, Int)
        if let scale {
            guard x.rank >= 3, scale.0 > 0, scale.1 > 0, scale.0.isFinite, scale.1.isFinite else {
                throw LoupeError("\(op): invalid scale (\(scale.0), \(scale.1)) for input \(describe(shape: x.shape))")
            }
            let h = Double(x.shape[x.rank - 2]) * Double(scale.0), w = Double(x.shape[x.rank - 1]) * Double(scale.1)
            guard h < 1e9, w < 1e9 else { throw LoupeError("\(op): scale (\(scale.0), \(scale.1)) is too large for input \(describe(shape: x.shape))") }
            out = (Int(h.rounded(.down)), Int(w.rounded(.down)))
        } else {
            out = size ?? (0, 0)
        }
        let (h, w) = try resizeCheck(x, size: out, op: op)
        if mode == .area { return try adaptiveAvgPool2d(x, outputSize: out) }
        func taps(_ input: Int, _ output: Int, _ s: Float?) -> Taps {
            switch mode {
            case .nearest: return nearestTaps(input, output, scale: s)
            case .nearestExact: return nearestExactTaps(input, output, scale: s)
            case .bilinear: return linearTaps(input, output, alignCorners: alignCorners, scale: s)
            default: return cubicTaps(input, output, alignCorners: alignCorners, scale: s)
            }
        }
        return try resample(x, rows: taps(h, out.0, scale?.0), columns: taps(w, out.1, scale?.1), op: op)
    }

    /// Nearest-neighbour resize of the last two axes to `size` (torch `mode="nearest"`:
    /// source index `min(floor(i * in / out), in - 1)`).
    public static func upsampleNearest2d(_ x: Tensor, size: (Int, Int)) throws -> Tensor {
        let (h, w) = try resizeCheck(x, size: size, op: "upsampleNearest2d")
        return try resample(x, rows: nearestTaps(h, size.0, scale: nil), columns: nearestTaps(w, size.1, scale: nil),
                               op: "upsampleNearest2d")
    }

    /// Nearest-neighbour resize by `scale` (output `floor(in * scale)`; source index
    /// `floor(i / scale)`, as torch with `scale_factor`).
    public static func upsampleNearest2d(_ x: Tensor, scale: Float) throws -> Tensor {
        let size = try scaledSize(x, scale: scale, op: "upsampleNearest2d")
        let (h, w) = try resizeCheck(x, size: size, op: "upsampleNearest2d")
        return try resample(x, rows: nearestTaps(h, size.0, scale: scale), columns: nearestTaps(w, size.1, scale: scale),
                               op: "upsampleNearest2d")
    }

    /// Bilinear resize of the last two axes to `size` (torch `mode="bilinear"`, no antialias).
    public static func upsampleBilinear2d(_ x: Tensor, size: (Int, Int), alignCorners: Bool = false) throws -> Tensor {
        let (h, w) = try resizeCheck(x, size: size, op: "upsampleBilinear2d")
        return try resample(x, rows: linearTaps(h, size.0, alignCorners: alignCorners, scale: nil),
                               columns: linearTaps(w, size.1, alignCorners: alignCorners, scale: nil),
                               op: "upsampleBilinear2d")
    }

    /// Bilinear resize by `scale` (output `floor(in * scale)`, torch `scale_factor` semantics).
    public static func upsampleBilinear2d(_ x: Tensor, scale: Float, alignCorners: Bool = false) throws -> Tensor {
        let size = try scaledSize(x, scale: scale, op: "upsampleBilinear2d")
        let (h, w) = try resizeCheck(x, size: size, op: "upsampleBilinear2d")
        return try resample(x, rows: linearTaps(h, size.0, alignCorners: alignCorners, scale: scale),
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

    /// Torch's source coordinate scale: `1 / scale` when a scale is given, else `in / out`.
    private static func sourceScale(_ input: Int, _ output: Int, _ scale: Float?) -> Float {
        scale.map { 1 / $0 } ?? Float(input) / Float(output)
    }

    private static func nearestTaps(_ input: Int, _ output: Int, scale: Float?) -> Taps {
        let s = sourceScale(input, output, scale)
        let index = (0..<output).map { i in output == input ? i : min(Int((Float(i) * s).rounded(.down)), input - 1) }
        return Taps(k: 1, index: index, weight: [Float](repeating: 1, count: output))
    }

    private static func nearestExactTaps(_ input: Int, _ output: Int, scale: Float?) -> Taps {
        let s = sourceScale(input, output, scale)
        let index = (0..<output).map { i in min(Int(((Float(i) + 0.5) * s).rounded(.down)), input - 1) }
        return Taps(k: 1, index: index, weight: [Float](repeating: 1, count: output))
    }

    /// The source coordinate of output `i` for the linear modes (unclamped).
    private static func linearSource(_ i: Int, _ input: Int, _ output: Int, alignCorners: Bool, scale: Float?) -> Float {
        if alignCorners { return output > 1 ? Float(i) * (Float(input - 1) / Float(output - 1)) : 0 }
        return sourceScale(input, output, scale) * (Float(i) + 0.5) - 0.5
    }

    private static func linearTaps(_ input: Int, _ output: Int, alignCorners: Bool, scale: Float?) -> Taps {
        var taps = Taps(k: 2, index: [], weight: [])
        taps.index.reserveCapacity(2 * output); taps.weight.reserveCapacity(2 * output)
        for i in 0..<output {
            let src = max(linearSource(i, input, output, alignCorners: alignCorners, scale: scale), 0)
            let i0 = min(Int(src), input - 1)
            let i1 = i0 < input - 1 ? i0 + 1 : i0
            let l1 = src - Float(i0)
            taps.index.append(i0); taps.index.append(i1)
            taps.weight.append(1 - l1); taps.weight.append(l1)
        }
        return taps
    }

    /// Torch's bicubic taps: Keys' kernel with a = -0.75 at `floor(src) - 1 ... + 2`, the
    /// source coordinate unclamped and the indices clamped to the axis.
    private static func cubicTaps(_ input: Int, _ output: Int, alignCorners: Bool, scale: Float?) -> Taps {
        let a: Float = -0.75
        func near(_ x: Float) -> Float { ((a + 2) * x - (a + 3)) * x * x + 1 }
        func far(_ x: Float) -> Float { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        var taps = Taps(k: 4, index: [], weight: [])
        taps.index.reserveCapacity(4 * output); taps.weight.reserveCapacity(4 * output)
        for i in 0..<output {
            let src = linearSource(i, input, output, alignCorners: alignCorners, scale: scale)
            let i0 = min(Int(src.rounded(.down)), input - 1), t = min(max(src - Float(i0), 0), 1)
            for d in -1...2 { taps.index.append(min(max(i0 + d, 0), input - 1)) }
            taps.weight.append(far(t + 1)); taps.weight.append(near(t))
            taps.weight.append(near(1 - t)); taps.weight.append(far(2 - t))
        }
        return taps
    }

    /// Separable interpolation of the last two axes by tap tables. Differentiable.
    private static func resample(_ x: Tensor, rows: Taps, columns: Taps, op: String) throws -> Tensor {
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let ho = rows.count, wo = columns.count, kr = rows.k, kc = columns.k
        let planes = x.count / (h * w)
        let result = Tensor.uninitialized(Array(x.shape.dropLast(2)) + [ho, wo])
        let xc = x.contiguous()
        withExtendedLifetime(xc) {
            let src = base(xc), dst = base(result)
            rows.index.withUnsafeBufferPointer { ri in rows.weight.withUnsafeBufferPointer { rw in
            columns.index.withUnsafeBufferPointer { ci in columns.weight.withUnsafeBufferPointer { cw in
                Parallel.forEach(planes) { p in
                    let plane = src + p * h * w
                    for oy in 0..<ho {
                        let out = dst + (p * ho + oy) * wo
                        for ox in 0..<wo {
                            var acc: Float = 0
                            for a in 0..<kr {
                                let row = plane + ri[oy * kr + a] * w
                                var line: Float = 0
                                for b in 0..<kc { line += cw[ox * kc + b] * row[ci[ox * kc + b]] }
                                acc += rw[oy * kr + a] * line
                            }
                            out[ox] = acc
                        }
                    }
                }
            } } } }
        }
        let inShape = x.shape
        return Tensor.record(result, op: op, inputs: [x]) { grad in
            let g = grad.contiguous()
            let gx = zeroTensor(inShape)
            withExtendedLifetime(g) {
                let pg = base(g), dx = base(gx)
                rows.index.withUnsafeBufferPointer { ri in rows.weight.withUnsafeBufferPointer { rw in
                columns.index.withUnsafeBufferPointer { ci in columns.weight.withUnsafeBufferPointer { cw in
                    Parallel.forEach(planes) { p in
                        let plane = dx + p * h * w
                        for oy in 0..<ho {
                            let gr = pg + (p * ho + oy) * wo
                            for a in 0..<kr {
                                let row = plane + ri[oy * kr + a] * w, wr = rw[oy * kr + a]
                                for ox in 0..<wo {
                                    let v = wr * gr[ox]
                                    for b in 0..<kc { row[ci[ox * kc + b]] += cw[ox * kc + b] * v }
                                }
                            }
                        }
                    }
                } } } }
            }
            return [gx]
        }
    }
}
