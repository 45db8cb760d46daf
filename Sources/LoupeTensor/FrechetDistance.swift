import CBLAS

/// The Fréchet distance between Gaussians fitted to two sets of feature rows, as the Fréchet
/// Inception Distance (FID) computes it (pytorch-fid's `calculate_frechet_distance`):
/// `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 sqrtm(S_a S_b))`, with the row means `mu` and the
/// unbiased covariances `S` (numpy's `np.cov(rowvar=False)`).
///
/// `a` is `[n, d]` and `b` is `[m, d]` (one feature vector per row, `n, m >= 2`). Computed in
/// double precision: `Tr sqrtm(S_a S_b)` is the sum of the square roots of the eigenvalues of
/// the symmetric `S_a^(1/2) S_b S_a^(1/2)` (LAPACK `dsyevd`), with tiny negative eigenvalues
/// of the positive semi-definite matrices (rank-deficient when `n <= d`) clamped to 0. Not
/// differentiable. Throws for other shapes or non-finite values.
public func frechetDistance(_ a: Tensor, _ b: Tensor) throws -> Double {
    let shapes = "\(describe(shape: a.shape)) and \(describe(shape: b.shape))"
    guard a.rank == 2, b.rank == 2 else {
        throw LoupeError("frechet_distance: features must be [n, d] matrices (one row per sample), got \(shapes)")
    }
    guard a.shape[1] == b.shape[1], a.shape[1] > 0 else {
        throw LoupeError("frechet_distance: features \(shapes) must have the same positive number of columns")
    }
    guard a.shape[0] >= 2, b.shape[0] >= 2 else {
        throw LoupeError("frechet_distance: features \(shapes) need at least 2 rows each for a covariance")
    }
    let d = a.shape[1]
    // Up to seven d x d double matrices are alive at once: 3.5 GB at the limit.
    guard d <= 1 << 13 else {
        throw LoupeError("frechet_distance: features \(shapes) have too many columns (at most \(1 << 13))")
    }
    let (meanA, covarianceA) = try FeatureGaussian.fit(a, op: "frechet_distance")
    let (meanB, covarianceB) = try FeatureGaussian.fit(b, op: "frechet_distance")
    var meanTerm = 0.0
    for j in 0..<d { meanTerm += (meanA[j] - meanB[j]) * (meanA[j] - meanB[j]) }
    var traces = 0.0
    for j in 0..<d { traces += covarianceA[j * d + j] + covarianceB[j * d + j] }
    let root = try FeatureGaussian.symmetricSquareRoot(covarianceA, d)
    // M = R S_b R, symmetric positive semi-definite with the eigenvalues of S_a S_b.
    var product = [Double](repeating: 0, count: d * d)
    var m = [Double](repeating: 0, count: d * d)
    let n32 = Int32(d)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n32, n32, n32, 1, root, n32, covarianceB, n32, 0, &product, n32)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n32, n32, n32, 1, product, n32, root, n32, 0, &m, n32)
    for i in 0..<d { for j in (i + 1)..<d {
        let mean = (m[i * d + j] + m[j * d + i]) / 2
        m[i * d + j] = mean
        m[j * d + i] = mean
    } }
    let eigenvalues = try FeatureGaussian.symmetricEigen(&m, d, vectors: false)
    var traceRoot = 0.0
    for value in eigenvalues { traceRoot += Swift.max(value, 0).squareRoot() }
    return meanTerm + traces - 2 * traceRoot
}

/// Means, covariances and symmetric matrix functions in double precision for `frechetDistance`.
enum FeatureGaussian {
    /// The column means and the unbiased covariance (row-major `[d, d]`) of `[n, d]` rows,
    /// accumulated over blocks of rows so memory stays `O(d^2)` beyond the input.
    static func fit(_ x: Tensor, op: String) throws -> (mean: [Double], covariance: [Double]) {
        let n = x.shape[0], d = x.shape[1]
        var mean = [Double](repeating: 0, count: d)
        var covariance = [Double](repeating: 0, count: d * d)
        let block = Swift.max(1, Swift.min(n, (1 << 20) / d))
        var finite = true
        x.withContiguousPointer { p in
            for i in 0..<n {
                let row = p + i * d
                for j in 0..<d { mean[j] += Double(row[j]) }
            }
            for j in 0..<d { mean[j] /= Double(n) }
            finite = mean.allSatisfy { $0.isFinite }
            guard finite else { return }
            var centered = [Double](repeating: 0, count: block * d)
            var start = 0
            while start < n {
                let rows = Swift.min(block, n - start)
                for i in 0..<rows {
                    let row = p + (start + i) * d
                    for j in 0..<d { centered[i * d + j] = Double(row[j]) - mean[j] }
                }
                // covariance += centered^T centered (upper triangle).
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(d), Int32(rows), 1, centered, Int32(d), 1,
                            &covariance, Int32(d))
                start += rows
            }
        }
        guard finite else {
            throw LoupeError("\(op): features \(describe(shape: x.shape)) have non-finite values")
        }
        let scale = 1 / Double(n - 1)
        for i in 0..<d {
            for j in i..<d {
                let value = covariance[i * d + j] * scale
                covariance[i * d + j] = value
                covariance[j * d + i] = value
            }
        }
        return (mean, covariance)
    }

    /// The symmetric positive semi-definite square root `Q sqrt(max(L, 0)) Q^T` of a symmetric
    /// matrix `Q L Q^T` (row-major `[d, d]`).
    static func symmetricSquareRoot(_ matrix: [Double], _ d: Int) throws -> [Double] {
        var vectors = matrix
        let values = try symmetricEigen(&vectors, d, vectors: true)
        // LAPACK leaves eigenvector k in column k (column-major), so row k of the row-major
        // array holds it: root = V^T diag(sqrt L) V with V the row-major array.
        var scaled = vectors
        for k in 0..<d {
            let s = Swift.max(values[k], 0).squareRoot()
            for j in 0..<d { scaled[k * d + j] *= s }
        }
        var root = [Double](repeating: 0, count: d * d)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(d), Int32(d), 1, vectors, Int32(d),
                    scaled, Int32(d), 0, &root, Int32(d))
        return root
    }

    /// The eigenvalues (ascending) of a symmetric `[d, d]` matrix via LAPACK `dsyevd`; with
    /// `vectors`, `matrix` is overwritten by the eigenvectors (column-major: one per column).
    static func symmetricEigen(_ matrix: inout [Double], _ d: Int, vectors: Bool) throws -> [Double] {
        var jobz = Int8(UInt8(ascii: vectors ? "V" : "N")), uplo = Int8(UInt8(ascii: "L"))
        var n = Int32(d), lda = Int32(d), info: Int32 = 0
        var values = [Double](repeating: 0, count: d)
        var workQuery = 0.0, iworkQuery: Int32 = 0
        var lwork: Int32 = -1, liwork: Int32 = -1
        dsyevd_(&jobz, &uplo, &n, &matrix, &lda, &values, &workQuery, &lwork, &iworkQuery, &liwork, &info)
        guard info == 0 else { throw LoupeError("frechet_distance: LAPACK dsyevd workspace query failed (info \(info)) for a \(d) x \(d) matrix") }
        lwork = Int32(Swift.min(workQuery.rounded(.up) + 1, Double(Int32.max / 2)))
        liwork = Swift.max(1, iworkQuery)
        var work = [Double](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: Int(liwork))
        dsyevd_(&jobz, &uplo, &n, &matrix, &lda, &values, &work, &lwork, &iwork, &liwork, &info)
        guard info == 0 else {
            throw LoupeError("frechet_distance: the eigendecomposition did not converge (info \(info)) for a \(d) x \(d) matrix")
        }
        return values
    }
}
