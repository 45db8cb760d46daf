import Foundation

/// Scaling of a discrete Fourier transform pair, as torch.fft's `norm`: `backward` leaves the
/// forward transform unscaled and divides the inverse by n; `ortho` scales both by
/// `1 / sqrt(n)`; `forward` divides the forward transform by n.
public enum FFTNorm: String, Sendable {
    case backward, ortho, forward
}

extension NN {
    /// 2-D real FFT over the last two axes (torch `view_as_real(fft.rfft2(x, norm:))`):
    /// `[..., H, W]` -> `[..., H, W / 2 + 1, 2]` (real, imaginary). Differentiable.
    ///
    /// Computed as a direct DFT with precomputed cos/sin matrices on sgemm (exact for any size,
    /// BLAS-fast up to image sizes of a few hundred; cost O(H W (H + W))).
    public static func rfft2(_ x: Tensor, norm: FFTNorm = .backward) throws -> Tensor {
        guard x.rank >= 2, x.shape[x.rank - 2] > 0, x.shape[x.rank - 1] > 0 else {
            throw LoupeError("rfft2: expected input [..., H, W] with H, W > 0, got \(describe(shape: x.shape))")
        }
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1], wf = w / 2 + 1
        let batch = x.count / (h * w)
        let n = Float(h * w)
        let scale: Float = norm == .backward ? 1 : (norm == .ortho ? 1 / n.squareRoot() : 1 / n)
        let wTable = DFTTable(rows: w, cols: wf, period: w, weights: nil)
        let hTable = DFTTable(rows: h, cols: h, period: h, weights: nil)
        let cw = wTable.cos, sw = wTable.sin, ch = hTable.cos, sh = hTable.sin
        let outShape = Array(x.shape.dropLast(2)) + [h, wf, 2]
        let result = Tensor.uninitialized(outShape)
        let xc = x.contiguous()
        let rows = batch * h
        withExtendedLifetime((xc, wTable, hTable)) {
            let zr = UnsafeMutablePointer<Float>.allocate(capacity: rows * wf * 4)
            defer { zr.deallocate() }
            let zi = zr + rows * wf, yr = zi + rows * wf, yi = yr + rows * wf
            sgemm(m: rows, n: wf, k: w, a: base(xc), lda: w, b: cw, ldb: wf, c: zr, ldc: wf)
            sgemm(m: rows, n: wf, k: w, alpha: -1, a: base(xc), lda: w, b: sw, ldb: wf, c: zi, ldc: wf)
            complexAxis(zr, zi, batch: batch, n: h, cols: wf, cos: ch, sin: sh, sign: 1, outRe: yr, outIm: yi)
            interleave(yr, yi, count: rows * wf, scale: scale, into: base(result))
        }
        let inShape = x.shape
        return Tensor.record(result, op: "rfft2", inputs: [x]) { grad in
            let g = grad.contiguous()
            let gx = Tensor.uninitialized(inShape)
            withExtendedLifetime((g, wTable, hTable)) {
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: rows * wf * 4)
                defer { buffer.deallocate() }
                let gyr = buffer, gyi = buffer + rows * wf, gzr = gyi + rows * wf, gzi = gzr + rows * wf
                deinterleave(base(g), count: rows * wf, scale: scale, re: gyr, im: gyi)
                complexAxis(gyr, gyi, batch: batch, n: h, cols: wf, cos: ch, sin: sh, sign: -1, outRe: gzr, outIm: gzi)
                sgemm(transB: true, m: rows, n: w, k: wf, a: gzr, lda: wf, b: cw, ldb: wf, c: base(gx), ldc: w)
                sgemm(transB: true, m: rows, n: w, k: wf, alpha: -1, a: gzi, lda: wf, b: sw, ldb: wf, beta: 1,
                      c: base(gx), ldc: w)
            }
            return [gx]
        }
    }

    /// Inverse of `rfft2` (torch `fft.irfft2(view_as_complex(spectrum), s: size, norm:)`):
    /// `[..., H', W', 2]` -> `[..., h, w]`. The spectrum is trimmed or zero-padded at the end
    /// to `h` rows and `w / 2 + 1` columns; the imaginary parts of the zero and Nyquist
    /// columns are ignored, as pocketfft does. Differentiable (the exact adjoint).
    public static func irfft2(_ spectrum: Tensor, size: (Int, Int), norm: FFTNorm = .backward) throws -> Tensor {
        guard spectrum.rank >= 3, spectrum.shape[spectrum.rank - 1] == 2, size.0 > 0, size.1 > 0 else {
            throw LoupeError("irfft2: expected spectrum [..., H, W, 2] and a positive size, got \(describe(shape: spectrum.shape)) and (\(size.0), \(size.1))")
        }
        let hin = spectrum.shape[spectrum.rank - 3], wfin = spectrum.shape[spectrum.rank - 2]
        guard hin > 0, wfin > 0 else {
            throw LoupeError("irfft2: spectrum \(describe(shape: spectrum.shape)) has no frequencies")
        }
        _ = try Tensor.checkedCount(Array(spectrum.shape.dropLast(3)) + [size.0, size.1], op: "irfft2")
        let (h, w) = size, wf = w / 2 + 1
        let batch = spectrum.count / max(hin * wfin * 2, 1)
        let n = Float(h * w)
        let scale: Float = norm == .backward ? 1 / n : (norm == .ortho ? 1 / n.squareRoot() : 1)
        let weights = (0..<wf).map { k -> Float in (k == 0 || (w % 2 == 0 && k == w / 2)) ? 1 : 2 }
        let wTable = DFTTable(rows: wf, cols: w, period: w, weights: weights)
        let hTable = DFTTable(rows: h, cols: h, period: h, weights: nil)
        let cw = wTable.cos, sw = wTable.sin, ch = hTable.cos, sh = hTable.sin
        let outShape = Array(spectrum.shape.dropLast(3)) + [h, w]
        let result = Tensor.uninitialized(outShape)
        let sc = spectrum.contiguous()
        let rows = batch * h
        let copyH = min(hin, h), copyW = min(wfin, wf)
        withExtendedLifetime((sc, wTable, hTable)) {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * wf * 4, 1))
            defer { buffer.deallocate() }
            buffer.initialize(repeating: 0, count: rows * wf * 4)
            let yr = buffer, yi = buffer + rows * wf, zr = yi + rows * wf, zi = zr + rows * wf
            let src = base(sc)
            for b in 0..<batch {
                for m in 0..<copyH {
                    for k in 0..<copyW {
                        let s = ((b * hin + m) * wfin + k) * 2, d = (b * h + m) * wf + k
                        yr[d] = src[s] * scale; yi[d] = src[s + 1] * scale
                    }
                }
            }
            complexAxis(yr, yi, batch: batch, n: h, cols: wf, cos: ch, sin: sh, sign: -1, outRe: zr, outIm: zi)
            sgemm(m: rows, n: w, k: wf, a: zr, lda: wf, b: cw, ldb: w, c: base(result), ldc: w)
            sgemm(m: rows, n: w, k: wf, alpha: -1, a: zi, lda: wf, b: sw, ldb: w, beta: 1, c: base(result), ldc: w)
        }
        let inShape = spectrum.shape
        return Tensor.record(result, op: "irfft2", inputs: [spectrum]) { grad in
            let g = grad.contiguous()
            let gs = zeroTensor(inShape)
            withExtendedLifetime((g, wTable, hTable)) {
                let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(rows * wf * 4, 1))
                defer { buffer.deallocate() }
                let gzr = buffer, gzi = buffer + rows * wf, gyr = gzi + rows * wf, gyi = gyr + rows * wf
                sgemm(transB: true, m: rows, n: wf, k: w, a: base(g), lda: w, b: cw, ldb: w, c: gzr, ldc: wf)
                sgemm(transB: true, m: rows, n: wf, k: w, alpha: -1, a: base(g), lda: w, b: sw, ldb: w, c: gzi, ldc: wf)
                complexAxis(gzr, gzi, batch: batch, n: h, cols: wf, cos: ch, sin: sh, sign: 1, outRe: gyr, outIm: gyi)
                let dst = base(gs)
                for b in 0..<batch {
                    for m in 0..<copyH {
                        for k in 0..<copyW {
                            let d = ((b * hin + m) * wfin + k) * 2, s = (b * h + m) * wf + k
                            dst[d] = gyr[s] * scale; dst[d + 1] = gyi[s] * scale
                        }
                    }
                }
            }
            return [gs]
        }
    }

    /// Per batch item, the complex DFT along the row axis of `[n, cols]` blocks with kernel
    /// `exp(-i sign 2 pi m h / n)`: `outRe = C re + sign S im`, `outIm = C im - sign S re`.
    private static func complexAxis(_ re: UnsafePointer<Float>, _ im: UnsafePointer<Float>, batch: Int, n: Int,
                                    cols: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, sign: Float,
                                    outRe: UnsafeMutablePointer<Float>, outIm: UnsafeMutablePointer<Float>) {
        for b in 0..<batch {
            let off = b * n * cols
            sgemm(m: n, n: cols, k: n, a: cos, lda: n, b: re + off, ldb: cols, c: outRe + off, ldc: cols)
            sgemm(m: n, n: cols, k: n, alpha: sign, a: sin, lda: n, b: im + off, ldb: cols, beta: 1, c: outRe + off, ldc: cols)
            sgemm(m: n, n: cols, k: n, a: cos, lda: n, b: im + off, ldb: cols, c: outIm + off, ldc: cols)
            sgemm(m: n, n: cols, k: n, alpha: -sign, a: sin, lda: n, b: re + off, ldb: cols, beta: 1, c: outIm + off, ldc: cols)
        }
    }

    private static func interleave(_ re: UnsafePointer<Float>, _ im: UnsafePointer<Float>, count: Int, scale: Float,
                                   into dst: UnsafeMutablePointer<Float>) {
        for i in 0..<count { dst[2 * i] = re[i] * scale; dst[2 * i + 1] = im[i] * scale }
    }

    private static func deinterleave(_ src: UnsafePointer<Float>, count: Int, scale: Float,
                                     re: UnsafeMutablePointer<Float>, im: UnsafeMutablePointer<Float>) {
        for i in 0..<count { re[i] = src[2 * i] * scale; im[i] = src[2 * i + 1] * scale }
    }
}

/// `[rows, cols]` matrices `w_r cos(2 pi r c / period)` and `w_r sin(...)` (weights per row),
/// computed in double precision with the angle reduced modulo the period.
final class DFTTable {
    let cos: UnsafeMutablePointer<Float>
    let sin: UnsafeMutablePointer<Float>

    init(rows: Int, cols: Int, period: Int, weights: [Float]?) {
        cos = .allocate(capacity: max(rows * cols, 1))
        sin = .allocate(capacity: max(rows * cols, 1))
        for r in 0..<rows {
            let wr = weights?[r] ?? 1
            for k in 0..<cols {
                let angle = 2 * Double.pi * Double((r * k) % period) / Double(period)
                cos[r * cols + k] = wr * Float(Foundation.cos(angle))
                sin[r * cols + k] = wr * Float(Foundation.sin(angle))
            }
        }
    }

    deinit {
        cos.deallocate()
        sin.deallocate()
    }
}
