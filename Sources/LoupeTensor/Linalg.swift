import CBLAS

/// Linear algebra beyond matmul: outer products, the SVD and the pseudo-inverse.
extension Tensor {
    /// The outer product of two vectors: `result[i][j] = a[i] * b[j]`. Differentiable.
    public static func outer(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank == 1, b.rank == 1 else {
            throw LoupeError("outer: expected two vectors, got shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape))")
        }
        return try a.reshaped([a.count, 1]) * b.reshaped([1, b.count])
    }

    /// The thin singular value decomposition of a matrix `[m, n]` via LAPACK's `sgesdd`:
    /// `u [m, k]`, `s [k]` (descending, non-negative) and `vh [k, n]` with `k = min(m, n)` and
    /// `self = u diag(s) vh` (as `torch.linalg.svd(full_matrices=False)`; the signs of paired
    /// singular vectors are LAPACK's). Computed in float32; not recorded for autograd.
    public func singularValueDecomposition(op: String = "svd") throws -> (u: Tensor, s: Tensor, vh: Tensor) {
        guard rank == 2 else {
            throw LoupeError("\(op): expected a matrix, got shape \(describe(shape: shape))")
        }
        let m = shape[0], n = shape[1]
        let k = Swift.min(m, n)
        if k == 0 { return (try Tensor.zeros([m, 0]), try Tensor.zeros([0]), try Tensor.zeros([0, n])) }
        guard m <= 1 << 20, n <= 1 << 20, m * n <= Int(Int32.max) else {
            throw LoupeError("\(op): matrix of shape \(describe(shape: shape)) is too large for LAPACK")
        }
        var b = scalars
        guard b.allSatisfy({ $0.isFinite }) else {
            throw LoupeError("\(op): matrix of shape \(describe(shape: shape)) has non-finite values")
        }
        // LAPACK reads the row-major values of A (m x n) as the column-major matrix B = A^T
        // (n x m). With B = U_B S Vt_B, A = Vt_B^T S U_B^T: the column-major k x m array Vt_B is
        // A's u in row-major order, and the column-major n x k array U_B is A's vh.
        var s = [Float](repeating: 0, count: k)
        var uB = [Float](repeating: 0, count: n * k)
        var vtB = [Float](repeating: 0, count: k * m)
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var info: Int32 = 0
        var lwork: Int32 = -1
        var query: Float = 0
        var jobz = Int8(UInt8(ascii: "S"))
        var rows = Int32(n), cols = Int32(m)
        var lda = Int32(n), ldu = Int32(n), ldvt = Int32(k)
        sgesdd_(&jobz, &rows, &cols, &b, &lda, &s, &uB, &ldu, &vtB, &ldvt, &query, &lwork, &iwork, &info)
        guard info == 0 else { throw LoupeError("\(op): LAPACK sgesdd workspace query failed (info \(info)) for shape \(describe(shape: shape))") }
        lwork = Int32(Swift.min(query.rounded(.up) + 1, Float(Int32.max / 2)))
        var work = [Float](repeating: 0, count: Swift.max(1, Int(lwork)))
        sgesdd_(&jobz, &rows, &cols, &b, &lda, &s, &uB, &ldu, &vtB, &ldvt, &work, &lwork, &iwork, &info)
        guard info == 0 else {
            throw LoupeError("\(op): SVD did not converge (info \(info)) for shape \(describe(shape: shape))")
        }
        return (try Tensor(shape: [m, k], scalars: vtB), try Tensor(shape: [k], scalars: s), try Tensor(shape: [k, n], scalars: uB))
    }

    /// The Moore-Penrose pseudo-inverse of a matrix from its SVD, dropping singular values below
    /// `rcond * largest`: `vh^T diag(1 / s) u^T`. Computed in float32; not recorded for autograd
    /// (the result never requires a gradient).
    public func pseudoInverse(rcond: Float = 1e-6) throws -> Tensor {
        guard rank == 2 else {
            throw LoupeError("pinv: expected a matrix, got shape \(describe(shape: shape))")
        }
        let m = shape[0], n = shape[1]
        if m == 0 || n == 0 { return try Tensor.zeros([n, m]) }
        let (u, s, vh) = try singularValueDecomposition(op: "pinv")
        let k = s.count
        let values = s.scalars
        let cutoff = rcond * (values.first ?? 0)
        // Scale vh's rows by 1 / s (0 below the cutoff), then one sgemm: (vh')^T u^T.
        let scaled = vh.contiguousCopy()
        for l in 0..<k {
            let inverse: Float = values[l] > cutoff && values[l] > 0 ? 1 / values[l] : 0
            for j in 0..<n { scaled.storage.pointer[l * n + j] *= inverse }
        }
        let result = Tensor.uninitialized([n, m])
        u.withContiguousPointer { up in
            NN.sgemm(transA: true, transB: true, m: n, n: m, k: k, a: scaled.storage.pointer, lda: n,
                     b: up, ldb: k, c: result.storage.pointer, ldc: m)
        }
        return result
    }
}
