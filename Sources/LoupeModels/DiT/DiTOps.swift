import Foundation
import LoupeTensor

/// DiT's functions (facebookresearch/DiT `models.py`): the sinusoidal timestep and 2-D position
/// embeddings, `modulate` and the gated residual (single-pass kernels with their own backward,
/// so training differentiates through them), and `unpatchify`.
public enum DiTOps {
    /// `TimestepEmbedder.timestep_embedding`: `[cos(t f), sin(t f)]` with
    /// `f_k = exp(-ln(maxPeriod) k / half)`, `half = dim / 2`, computed in float32 in DiT's order;
    /// an odd `dim` gets a zero last column. `t` is `[N]` (fractional values allowed); the
    /// result `[N, dim]` has no gradient to `t` (DiT's timesteps are data).
    public static func timestepEmbedding(_ t: Tensor, dim: Int, maxPeriod: Double = 10000) throws -> Tensor {
        guard t.rank == 1 else {
            throw LoupeError("timestep_embedding: t must be [N], got \(describe(shape: t.shape))")
        }
        guard dim >= 1 else { throw LoupeError("timestep_embedding: dim must be positive, got \(dim)") }
        let half = dim / 2
        let logPeriod = Float(-Foundation.log(maxPeriod))
        let frequencies = (0..<half).map { k in expf(logPeriod * Float(k) / Float(half)) }
        let times = t.scalars
        var values = [Float](repeating: 0, count: times.count * dim)
        for (row, time) in times.enumerated() {
            for k in 0..<half {
                let argument = time * frequencies[k]
                values[row * dim + k] = cosf(argument)
                values[row * dim + half + k] = sinf(argument)
            }
        }
        return try Tensor(shape: [times.count, dim], scalars: values)
    }

    /// `get_2d_sincos_pos_embed(dim, gridSize)` `[gridSize^2, dim]`: for the token at row r and
    /// column c, `[sin(c w), cos(c w), sin(r w), cos(r w)]` with `w_k = 10000^(-k / (dim / 4))`,
    /// computed in float64 as DiT does (numpy) and rounded to float32.
    public static func sinCosPositionEmbedding(dim: Int, gridSize: Int) throws -> Tensor {
        guard dim > 0, dim % 4 == 0, gridSize > 0 else {
            throw LoupeError("pos_embed: dim \(dim) must be a positive multiple of 4 and grid size \(gridSize) positive")
        }
        let quarter = dim / 4
        let omega = (0..<quarter).map { k in 1 / Foundation.pow(10000.0, Double(k) / (Double(dim / 2) / 2)) }
        var values = [Float](repeating: 0, count: gridSize * gridSize * dim)
        for row in 0..<gridSize {
            for column in 0..<gridSize {
                let base = (row * gridSize + column) * dim
                for (offset, position) in [(0, Double(column)), (dim / 2, Double(row))] {
                    for k in 0..<quarter {
                        let argument = position * omega[k]
                        values[base + offset + k] = Float(Foundation.sin(argument))
                        values[base + offset + quarter + k] = Float(Foundation.cos(argument))
                    }
                }
            }
        }
        return try Tensor(shape: [gridSize * gridSize, dim], scalars: values)
    }

    /// DiT's `modulate(x, shift, scale)`: `x * (1 + scale) + shift` with `x [N, T, D]` and
    /// `shift`, `scale` `[N, D]` broadcast over the tokens, in one pass.
    public static func modulate(_ x: Tensor, shift: Tensor, scale: Tensor) throws -> Tensor {
        let (n, t, d) = try tokenShape(x, [("shift", shift), ("scale", scale)], op: "modulate")
        let xc = x.contiguous(), shc = shift.contiguous(), scc = scale.contiguous()
        let result = Tensor.uninitialized(x.shape)
        withExtendedLifetime((xc, shc, scc)) {
            let src = pointer(xc), sh = pointer(shc), sc = pointer(scc), dst = pointer(result)
            forRows(n * t, width: d) { row in
                let b = row / t, s = src + row * d, o = dst + row * d, shiftRow = sh + b * d, scaleRow = sc + b * d
                for j in 0..<d { o[j] = s[j] * (1 + scaleRow[j]) + shiftRow[j] }
            }
        }
        let needX = x.requiresGrad, needShift = shift.requiresGrad, needScale = scale.requiresGrad
        let xd = xc.detached(), scd = scc.detached()
        return Tensor.record(result, op: "modulate", inputs: [x, shift, scale]) { grad in
            let g = grad.contiguous()
            var gx: Tensor?, gShift: Tensor?, gScale: Tensor?
            withExtendedLifetime((g, xd, scd)) {
                let pg = pointer(g), px = pointer(xd), sc = pointer(scd)
                if needX {
                    let out = Tensor.uninitialized(xd.shape)
                    let po = pointer(out)
                    forRows(n * t, width: d) { row in
                        let scaleRow = sc + (row / t) * d, gr = pg + row * d, o = po + row * d
                        for j in 0..<d { o[j] = gr[j] * (1 + scaleRow[j]) }
                    }
                    gx = out
                }
                if needShift { gShift = sumOverTokens(pg, nil, n: n, t: t, d: d) }
                if needScale { gScale = sumOverTokens(pg, px, n: n, t: t, d: d) }
            }
            return [gx, gShift, gScale]
        }
    }

    /// DiT's gated residual `x + gate * y` with `x`, `y` `[N, T, D]` and `gate [N, D]` broadcast
    /// over the tokens, in one pass (`gate * y` rounded first, as torch computes it).
    public static func gatedResidual(_ x: Tensor, gate: Tensor, _ y: Tensor) throws -> Tensor {
        let (n, t, d) = try tokenShape(x, [("gate", gate)], op: "gated residual")
        guard y.shape == x.shape else {
            throw LoupeError("gated residual: branch \(describe(shape: y.shape)) does not match the residual stream \(describe(shape: x.shape))")
        }
        let xc = x.contiguous(), gc = gate.contiguous(), yc = y.contiguous()
        let result = Tensor.uninitialized(x.shape)
        withExtendedLifetime((xc, gc, yc)) {
            let px = pointer(xc), pgate = pointer(gc), py = pointer(yc), dst = pointer(result)
            forRows(n * t, width: d) { row in
                let gateRow = pgate + (row / t) * d, xr = px + row * d, yr = py + row * d, o = dst + row * d
                for j in 0..<d { o[j] = xr[j] + gateRow[j] * yr[j] }
            }
        }
        let needX = x.requiresGrad, needGate = gate.requiresGrad, needY = y.requiresGrad
        let gd = gc.detached(), yd = yc.detached()
        return Tensor.record(result, op: "gated_residual", inputs: [x, gate, y]) { grad in
            let g = grad.contiguous()
            var gGate: Tensor?, gy: Tensor?
            withExtendedLifetime((g, gd, yd)) {
                let pg = pointer(g), pgate = pointer(gd), py = pointer(yd)
                if needGate { gGate = sumOverTokens(pg, py, n: n, t: t, d: d) }
                if needY {
                    let out = Tensor.uninitialized(yd.shape)
                    let po = pointer(out)
                    forRows(n * t, width: d) { row in
                        let gateRow = pgate + (row / t) * d, gr = pg + row * d, o = po + row * d
                        for j in 0..<d { o[j] = gr[j] * gateRow[j] }
                    }
                    gy = out
                }
            }
            return [needX ? g : nil, gGate, gy]
        }
    }

    /// DiT's `unpatchify`: `[N, T, p * p * C]` tokens (row-major patches, each `(p, q, c)`) to
    /// images `[N, C, H, W]`.
    public static func unpatchify(_ x: Tensor, patchSize p: Int, channels c: Int) throws -> Tensor {
        let side = Int(Double(x.shape.count == 3 ? x.shape[1] : 0).squareRoot().rounded())
        guard x.rank == 3, side * side == x.shape[1], x.shape[2] == p * p * c else {
            throw LoupeError("unpatchify: expected [N, h * w, \(p * p * c)] tokens of a square grid, got \(describe(shape: x.shape))")
        }
        let n = x.shape[0]
        return try x.reshaped([n, side, side, p, p, c]).permuted([0, 5, 1, 3, 2, 4]).reshaped([n, c, side * p, side * p])
    }

    // MARK: Helpers

    @inline(__always)
    static func pointer(_ t: Tensor) -> UnsafeMutablePointer<Float> { t.storage.pointer + t.offset }

    /// Runs `body(row)` for every row of `width` elements, split over both cores when large.
    @inline(__always)
    private static func forRows(_ rows: Int, width: Int, _ body: (Int) -> Void) {
        Parallel.forRanges(rows, minimum: max(1, Parallel.minimumParallelCount / max(width, 1))) { start, end in
            for row in start..<end { body(row) }
        }
    }

    /// `sum_t g[b, t, :] (* x[b, t, :])` as `[N, D]`.
    private static func sumOverTokens(_ g: UnsafeMutablePointer<Float>, _ x: UnsafeMutablePointer<Float>?,
                                      n: Int, t: Int, d: Int) -> Tensor {
        let out = Tensor.uninitialized([n, d])
        let po = pointer(out)
        po.initialize(repeating: 0, count: n * d)
        for b in 0..<n {
            let o = po + b * d
            for token in 0..<t {
                let gr = g + (b * t + token) * d
                if let x {
                    let xr = x + (b * t + token) * d
                    for j in 0..<d { o[j] += gr[j] * xr[j] }
                } else {
                    for j in 0..<d { o[j] += gr[j] }
                }
            }
        }
        return out
    }

    /// Checks `x [N, T, D]` and each `[N, D]` conditioning tensor; returns (N, T, D).
    private static func tokenShape(_ x: Tensor, _ conditions: [(String, Tensor)], op: String) throws -> (Int, Int, Int) {
        guard x.rank == 3 else { throw LoupeError("\(op): input \(describe(shape: x.shape)) is not [N, T, D]") }
        let n = x.shape[0], t = x.shape[1], d = x.shape[2]
        for (name, value) in conditions where value.shape != [n, d] {
            throw LoupeError("\(op): \(name) \(describe(shape: value.shape)) does not match input \(describe(shape: x.shape)) (expected [\(n), \(d)])")
        }
        return (n, t, d)
    }
}
