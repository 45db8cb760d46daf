import CBLAS

/// Neural-network operations (PyTorch layouts: NCHW images, conv weights
/// `[out, in/groups, kh, kw]`, linear weights `[out, in]`). Every op validates its arguments,
/// throws `LoupeError` naming the op and shapes, and is differentiable through `Tensor.record`.
public enum NN {}

/// How a loss reduces its per-element values: averaged, summed or kept.
public enum Reduction: String, Sendable {
    case mean, sum, none
}

extension NN {
    /// Runs `body` with a mutable pointer to the first element of contiguous `t` (which must be
    /// contiguous, e.g. from `contiguous()` or `Tensor.uninitialized`).
    @inline(__always)
    static func base(_ t: Tensor) -> UnsafeMutablePointer<Float> {
        t.storage.pointer + t.offset
    }

    /// Row-major `C = alpha * op(A) @ op(B) + beta * C` on BLAS. Products of `splitMinimum`
    /// multiply-adds or more are split into bands of C's rows (or columns, when C is wider than
    /// tall) that `WorkerPool` hands to every core, each band one single-threaded sgemm: OpenBLAS's
    /// own threads would spin for a long time after each product, taking the cores from the
    /// elementwise kernels that follow. The bands depend only on the shapes and the number of
    /// cores, so results repeat bit for bit; with some of OpenBLAS's kernels (Haswell's) they can
    /// differ from one single-threaded call in the last bits, as with OpenBLAS's own threads.
    static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                      b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
                      c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let call = { (m: Int, n: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) in
            cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                        Int32(m), Int32(n), Int32(k), alpha, a, Int32(max(lda, 1)), b, Int32(max(ldb, 1)),
                        beta, c, Int32(max(ldc, 1)))
        }
        let parts = Parallel.workers
        guard BLASThreads.splitsProducts, parts > 1, m * n * k >= splitMinimum, !WorkerPool.shared.isBusy else {
            call(m, n, a, b, c)
            return
        }
        let rows = m >= n, length = rows ? m : n
        let per = ((length + parts - 1) / parts + 15) & ~15
        Parallel.forEach((length + per - 1) / per) { part in
            let start = part * per, count = min(length, start + per) - start
            if rows {
                call(count, n, transA ? a + start : a + start * lda, b, c + start * ldc)
            } else {
                call(m, count, a, transB ? b + start * ldb : b + start, c + start)
            }
        }
    }

    /// Products smaller than this (multiply-adds) run as one sgemm on the calling thread.
    static let splitMinimum = 1 << 17

    /// A zero-filled contiguous tensor (shape already validated).
    static func zeroTensor(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(storage: TensorStorage(count: max(count, 0), repeating: 0), shape: shape)
    }

    /// Checks that an optional per-channel parameter has shape `[count]`.
    static func checkVector(_ t: Tensor?, count: Int, name: String, op: String, input: [Int]) throws {
        guard let t else { return }
        guard t.shape == [count] else {
            throw LoupeError("\(op): \(name) of shape \(describe(shape: t.shape)) does not match \(count) channels of input \(describe(shape: input))")
        }
    }

    /// Reduces a tensor of per-element losses: mean and sum give a scalar. Differentiable.
    public static func reduce(_ x: Tensor, _ reduction: Reduction) -> Tensor {
        if reduction == .none { return x }
        let total = x.count
        let c = x.contiguous()
        var acc: Double = 0
        withExtendedLifetime(c) {
            let p = base(c)
            for i in 0..<total { acc += Double(p[i]) }
        }
        let scale: Float = reduction == .mean ? (total > 0 ? 1 / Float(total) : .nan) : 1
        let result = Tensor(Float(acc) * scale)
        let shape = x.shape
        return Tensor.record(result, op: "loss_\(reduction.rawValue)", inputs: [x]) { grad in
            let g = try grad.item() * scale
            return [try Tensor.full(shape, g)]
        }
    }
}
