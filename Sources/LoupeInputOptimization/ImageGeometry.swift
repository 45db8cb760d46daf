import Foundation
import LoupeTensor

/// Deterministic geometric transforms of `[B, C, H, W]` images with lucent's numerics; the
/// random transforms (`RandomTransform`) draw their parameters and call these. Differentiable.
public enum ImageGeometry {
    /// The images shifted by `dx` columns and `dy` rows (content moves right and down for
    /// positive shifts), zero-filled where nothing moves in: kornia's `translate` by whole pixels.
    public static func translated(_ images: Tensor, dx: Int, dy: Int) throws -> Tensor {
        try checkImages(images, op: "translate")
        if dx == 0 && dy == 0 { return images }
        let h = images.shape[2], w = images.shape[3]
        guard abs(dx) <= 1 << 20, abs(dy) <= 1 << 20 else {
            throw LoupeError("translate: shift (\(dx), \(dy)) is too large for images \(describe(shape: images.shape))")
        }
        let shifts = (y: Swift.min(abs(dy), h), x: Swift.min(abs(dx), w))
        let padded = try images.padded([(dy > 0 ? shifts.y : 0, dy < 0 ? shifts.y : 0),
                                        (dx > 0 ? shifts.x : 0, dx < 0 ? shifts.x : 0)])
        let top = dy < 0 ? shifts.y : 0, left = dx < 0 ? shifts.x : 0
        return try padded.sliced(axis: 2, start: top, end: top + h).sliced(axis: 3, start: left, end: left + w)
    }

    /// lucent's `random_scale` for one `scale`: bilinear resize (`align_corners=True`) to
    /// `ceil(scale * H) x ceil(scale * W)`, then zero padding of `ceil((W - W') / 2)` columns and
    /// `ceil((H - H') / 2)` rows when smaller. As in lucent, the left and top pads are the row
    /// pad and the right and bottom pads the column pad (the same for square images), so the
    /// output size can differ from the input's by one, and scales above 1 enlarge the images.
    public static func scaled(_ images: Tensor, by scale: Double) throws -> Tensor {
        try checkImages(images, op: "scale")
        guard scale > 0, scale.isFinite, scale <= 64 else {
            throw LoupeError("scale: factor \(scale) must be positive and at most 64")
        }
        let h = images.shape[2], w = images.shape[3]
        let size = (Int((scale * Double(h)).rounded(.up)), Int((scale * Double(w)).rounded(.up)))
        let resized = size == (h, w) ? images
            : try NN.upsampleBilinear2d(images, size: (Swift.max(size.0, 1), Swift.max(size.1, 1)), alignCorners: true)
        let padRows = Swift.max(0, Int((Double(h - size.0) / 2).rounded(.up)))
        let padColumns = Swift.max(0, Int((Double(w - size.1) / 2).rounded(.up)))
        if padRows == 0 && padColumns == 0 { return resized }
        return try resized.padded([(padRows, padColumns), (padRows, padColumns)])
    }

    /// The images rotated by `degrees` (counter-clockwise on screen for positive angles) about
    /// the centre `((W - 1) / 2, (H - 1) / 2)`, sampled bilinearly with zeros outside: kornia's
    /// `get_rotation_matrix2d` and `warp_affine` (`align_corners=True`), as in lucent's
    /// `random_rotate`.
    public static func rotated(_ images: Tensor, degrees: Double) throws -> Tensor {
        try checkImages(images, op: "rotate")
        guard degrees.isFinite else { throw LoupeError("rotate: angle \(degrees) must be finite") }
        if degrees == 0 { return images }
        let h = images.shape[2], w = images.shape[3]
        let radians = degrees * Double.pi / 180
        let c = cos(radians), s = sin(radians)
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        // The output pixel (x, y) reads the source at the inverse rotation of its offset.
        let warp = BilinearWarp(height: h, width: w) { x, y in
            (c * (x - cx) - s * (y - cy) + cx, s * (x - cx) + c * (y - cy) + cy)
        }
        return try warp.apply(images, op: "rotate")
    }

    static func checkImages(_ images: Tensor, op: String) throws {
        guard images.rank == 4, images.shape[2] > 0, images.shape[3] > 0 else {
            throw LoupeError("\(op): expected images [B, C, H, W], got \(describe(shape: images.shape))")
        }
    }
}
