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
        let values = scalars
        guard values.allSatisfy({ $0.isFinite }) else {
            throw LoupeError("pinv: matrix of shape \(describe(shape: shape)) has non-finite values")
        }
        // Column-major A (m x n) is the row-major values of A^T: decompose A^T (n x m) instead,
        // A^T = U S V^T, so A^+ = (A^T)^+ ^T = U S^+ V^T ... handled in row-major terms below.
        // LAPACK sees the buffer as column-major B = A^T (n x m).
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
        lwork = Int32(query)
        var work = [Float](repeating: 0, count: Swift.max(1, Int(lwork)))
        sgesdd_(&jobz, &mm, &nn, &b, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info)
        guard info == 0 else {
            throw LoupeError("pinv: SVD did not converge (info \(info)) for shape \(describe(shape: shape))")
        }
        // B = U S Vt with B = A^T, so A^+ = (B^+)^T = (V S^+ U^T)^T = U S^+ Vt, an n x m matrix.
        // Row-major result[i][j] = sum_l U[i][l] / s[l] * Vt[l][j], with U (n x k) and Vt (k x m)
        // stored column-major.
        let cutoff = rcond * (s.first ?? 0)
        let result = try Tensor.zeros([n, m])
        let out = result.storage.pointer
        for l in 0..<k where s[l] > cutoff && s[l] > 0 {
            let inv = 1 / s[l]
            for i in 0..<n {
                let ui = u[l * n + i] * inv
                if ui == 0 { continue }
                for j in 0..<m { out[i * m + j] += ui * vt[j * k + l] }
            }
        }
        return result
    }
}
