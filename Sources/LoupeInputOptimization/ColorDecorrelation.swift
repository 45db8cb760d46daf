import LoupeTensor

/// lucent's fixed colour decorrelation: the square root of ImageNet's colour correlation
/// (`color_correlation_svd_sqrt`), divided by its largest column norm.
public enum ColorDecorrelation {
    static let svdSquareRoot: [[Float]] = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]

    /// The normalised `[3, 3]` matrix, row per RGB output channel.
    public static let matrix: [[Float]] = {
        let norms = (0..<3).map { k in (0..<3).map { svdSquareRoot[$0][k] * svdSquareRoot[$0][k] }.reduce(0, +).squareRoot() }
        let largest = norms.max() ?? 1
        return svdSquareRoot.map { row in row.map { $0 / largest } }
    }()

    /// Maps `[B, 3, H, W]` from the decorrelated space to RGB (`matrix` or its inverse applied
    /// per pixel). Differentiable.
    public static func apply(_ x: Tensor, inverse: Bool = false) throws -> Tensor {
        guard x.rank == 4, x.shape[1] == 3 else {
            throw LoupeError("decorrelate: expected [B, 3, H, W], got \(describe(shape: x.shape))")
        }
        let m = inverse ? inverted(matrix) : matrix
        let channels = try (0..<3).map { try x.sliced(axis: 1, start: $0, end: $0 + 1) }
        return try Tensor.concat(try (0..<3).map { c in
            try channels[0] * m[c][0] + channels[1] * m[c][1] + channels[2] * m[c][2]
        }, axis: 1)
    }

    /// The inverse of a 3x3 matrix by cofactors.
    static func inverted(_ m: [[Float]]) -> [[Float]] {
        func cofactor(_ r: Int, _ c: Int) -> Float {
            let r1 = (r + 1) % 3, r2 = (r + 2) % 3, c1 = (c + 1) % 3, c2 = (c + 2) % 3
            return m[r1][c1] * m[r2][c2] - m[r1][c2] * m[r2][c1]
        }
        let determinant = (0..<3).map { m[0][$0] * cofactor(0, $0) }.reduce(0, +)
        return (0..<3).map { r in (0..<3).map { c in cofactor(c, r) / determinant } }
    }
}
