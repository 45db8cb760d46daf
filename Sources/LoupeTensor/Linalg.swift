import CBLAS

/// Linear algebra beyond matmul: outer products and the SVD-based pseudo-inverse.
extension Tensor {
    /// The outer product of two vectors: `result[i][j] = a[i] * b[j]`. Differentiable.
    public static func outer(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank == 1, b.rank == 1 else {
            throw LoupeError("outer: expected two vectors, got shapes \(describe(shape: a.shape)) and \(describe(shape: b.shape))")
        }
        return try a.reshaped([a.count, 1]) * b.reshaped([1, b.count])
    }

    /// The Moore-Penrose pseudo-inverse of a matrix via LAPACK's SVD (`sgesdd`), dropping
    /// singular values below `rcond * largest`. Computed in float32; not recorded for
    /// autograd (the result never requires a gradient).
    public func pseudoInverse(rcond: Float = 1e-6) throws -> Tensor {
        guard rank == 2 else {
            throw LoupeError("pinv: expected a matrix, got shape \(describe(shape: shape))")
        }
        let m = shape[0], n = shape[1]
        if m == 0 || n == 0 { return try Tensor.zeros([n, m]) }
        guard m <= 1 << 20, n <= 1 << 20, m * n <= Int(Int32.max) else {
            throw LoupeError("pinv: matrix of shape \(describe(shape: shape)) is too large for LAPACK")
        }
        let values = scalars
        guard values.allSatisfy({ $0.isFinite }) else {
            throw LoupeError("pinv: matrix of shape \(describe(shape: shape)) has non-finite values")
        }
        // LAPACK reads the row-major values of A (m x n) as the column-major matrix B = A^T
        // (n x m). With B = U S Vt, A^+ = (B^+)^T = U S^+ Vt, an n x m matrix.
        var b = values
        let rows = Int32(n), cols = Int32(m)
        let k = Swift.min(m, n)
        var s = [Float](repeating: 0, count: k)
        var u = [Float](repeating: 0, count: n * k)      // n x k column-major
        var vt = [Float](repeating: 0, count: k * m)     // k x m column-major
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var info: Int32 = 0
        var lwork: Int32 = -1
        var query: Float = 0
        var jobz = Int8(UInt8(ascii: "S"))
        var lda = rows, ldu = rows, ldvt = Int32(k)
        var mm = rows, nn = cols
        sgesdd_(&jobz, &mm, &nn, &b, &lda, &s, &u, &ldu, &vt, &ldvt, &query, &lwork, &iwork, &info)
        guard info == 0 else { throw LoupeError("pinv: LAPACK sgesdd workspace query failed (info \(info)) for shape \(describe(shape: shape))") }
        lwork = Int32(Swift.min(query.rounded(.up) + 1, Float(Int32.max / 2)))
        var work = [Float](repeating: 0, count: Swift.max(1, Int(lwork)))
        sgesdd_(&jobz, &mm, &nn, &b, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info)
        guard info == 0 else {
            throw LoupeError("pinv: SVD did not converge (info \(info)) for shape \(describe(shape: shape))")
        }
        // Scale U's columns by 1/s (0 below the cutoff), then one sgemm: the row-major result
        // is the column-major m x n product Vt^T (U S^+)^T.
        let cutoff = rcond * (s.first ?? 0)
        for l in 0..<k {
            let inv: Float = s[l] > cutoff && s[l] > 0 ? 1 / s[l] : 0
            for i in 0..<n { u[l * n + i] *= inv }
        }
        let result = Tensor.uninitialized([n, m])
        cblas_sgemm(CblasColMajor, CblasTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1,
                    vt, Int32(k), u, Int32(n), 0, result.storage.pointer, Int32(m))
        return result
    }
}
