import Foundation
import LoupeTensor

/// Box conversions, IoU and generalized IoU with detr/util/box_ops.py's numerics, as
/// differentiable tensor ops on boxes along the last axis (`[..., 4]`).
///
/// Corner boxes are `(x0, y0, x1, y1)` with `x0 <= x1`, `y0 <= y1`; centre boxes are
/// `(cx, cy, w, h)`. Generalized IoU (Rezatofighi et al. 2019, https://giou.stanford.edu) is
/// `iou - (enclosing - union) / enclosing`, with `enclosing` the area of the smallest box around
/// both. As in DETR, boxes of zero area on both sides give NaN (0 / 0); DETR's predicted boxes
/// come from a sigmoid, so their width and height are positive.
public enum BoxOps {
    /// `(cx, cy, w, h) -> (cx - w/2, cy - h/2, cx + w/2, cy + h/2)` (`box_cxcywh_to_xyxy`).
    public static func cornersFromCenters(_ boxes: Tensor) throws -> Tensor {
        let (cx, cy, w, h) = try coordinates(boxes, op: "cornersFromCenters")
        return try Tensor.concat([try cx - 0.5 * w, try cy - 0.5 * h, try cx + 0.5 * w, try cy + 0.5 * h], axis: -1)
    }

    /// `(x0, y0, x1, y1) -> ((x0 + x1)/2, (y0 + y1)/2, x1 - x0, y1 - y0)` (`box_xyxy_to_cxcywh`).
    public static func centersFromCorners(_ boxes: Tensor) throws -> Tensor {
        let (x0, y0, x1, y1) = try coordinates(boxes, op: "centersFromCorners")
        return try Tensor.concat([try (x0 + x1) / 2, try (y0 + y1) / 2, try x1 - x0, try y1 - y0], axis: -1)
    }

    /// The IoU and union of every pair of corner boxes `a [N, 4]` and `b [M, 4]`, each `[N, M]`
    /// (`box_iou`).
    public static func pairwiseIoU(_ a: Tensor, _ b: Tensor) throws -> (iou: Tensor, union: Tensor) {
        let (left, right) = try pairwiseOperands(a, b, op: "pairwiseIoU")
        let parts = try overlap(left, right, op: "pairwiseIoU")
        return (try parts.iou.squeezed(axes: [2]), try parts.union.squeezed(axes: [2]))
    }

    /// The generalized IoU of every pair of corner boxes `a [N, 4]` and `b [M, 4]`, `[N, M]`
    /// (`generalized_box_iou`).
    public static func pairwiseGeneralizedIoU(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let (left, right) = try pairwiseOperands(a, b, op: "pairwiseGeneralizedIoU")
        return try generalized(left, right, op: "pairwiseGeneralizedIoU").squeezed(axes: [2])
    }

    /// The generalized IoU of corresponding corner boxes `a [N, 4]` and `b [N, 4]`, `[N]`: the
    /// diagonal of `pairwiseGeneralizedIoU(a, b)` (DETR's box loss), without the other pairs.
    public static func generalizedIoU(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        guard a.rank == 2, a.shape == b.shape, a.shape[1] == 4 else {
            throw LoupeError("generalizedIoU: expected two box lists [N, 4] of one length, got \(describe(shape: a.shape)) and \(describe(shape: b.shape))")
        }
        return try generalized(a, b, op: "generalizedIoU").squeezed(axes: [1])
    }

    // MARK: Pieces

    /// The four coordinates of `[..., 4]` boxes, each `[..., 1]`.
    private static func coordinates(_ boxes: Tensor, op: String) throws -> (Tensor, Tensor, Tensor, Tensor) {
        guard boxes.rank >= 1, boxes.shape[boxes.rank - 1] == 4 else {
            throw LoupeError("\(op): boxes must be [..., 4], got \(describe(shape: boxes.shape))")
        }
        let c = try (0..<4).map { try boxes.sliced(axis: -1, start: $0, end: $0 + 1) }
        return (c[0], c[1], c[2], c[3])
    }

    /// `a [N, 4]` as `[N, 1, 4]` and `b [M, 4]` as `[1, M, 4]`, to broadcast into pairs.
    private static func pairwiseOperands(_ a: Tensor, _ b: Tensor, op: String) throws -> (Tensor, Tensor) {
        guard a.rank == 2, b.rank == 2, a.shape[1] == 4, b.shape[1] == 4 else {
            throw LoupeError("\(op): expected box lists [N, 4] and [M, 4], got \(describe(shape: a.shape)) and \(describe(shape: b.shape))")
        }
        return (try a.unsqueezed(axis: 1), try b.unsqueezed(axis: 0))
    }

    /// IoU and union (`[..., 1]`) of broadcastable corner boxes, in `box_iou`'s order of operations.
    private static func overlap(_ a: Tensor, _ b: Tensor, op: String) throws -> (iou: Tensor, union: Tensor) {
        let (ax0, ay0, ax1, ay1) = try coordinates(a, op: op)
        let (bx0, by0, bx1, by1) = try coordinates(b, op: op)
        let areaA = try (ax1 - ax0) * (ay1 - ay0), areaB = try (bx1 - bx0) * (by1 - by0)
        let width = try (try ax1.minimum(bx1) - ax0.maximum(bx0)).clamped(min: 0)
        let height = try (try ay1.minimum(by1) - ay0.maximum(by0)).clamped(min: 0)
        let intersection = try width * height
        let union = try areaA + areaB - intersection
        return (try intersection / union, union)
    }

    /// Generalized IoU (`[..., 1]`) of broadcastable corner boxes, as `generalized_box_iou`.
    private static func generalized(_ a: Tensor, _ b: Tensor, op: String) throws -> Tensor {
        let (iou, union) = try overlap(a, b, op: op)
        let (ax0, ay0, ax1, ay1) = try coordinates(a, op: op)
        let (bx0, by0, bx1, by1) = try coordinates(b, op: op)
        let width = try (try ax1.maximum(bx1) - ax0.minimum(bx0)).clamped(min: 0)
        let height = try (try ay1.maximum(by1) - ay0.minimum(by0)).clamped(min: 0)
        let enclosing = try width * height
        return try iou - (enclosing - union) / enclosing
    }
}

/// A box by its corners `(x0, y0, x1, y1)` in plain floats, for matching and evaluation (no
/// autograd); the arithmetic is `BoxOps`'s, operation for operation, so values agree bitwise
/// with DETR's float32 box ops.
public struct BoundingBox: Equatable, Sendable {
    /// The left edge.
    public var x0: Float
    /// The top edge.
    public var y0: Float
    /// The right edge.
    public var x1: Float
    /// The bottom edge.
    public var y1: Float

    /// A box from its corners.
    public init(x0: Float, y0: Float, x1: Float, y1: Float) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }

    /// A box from its centre, width and height (`box_cxcywh_to_xyxy`).
    public init(centerX cx: Float, centerY cy: Float, width w: Float, height h: Float) {
        self.init(x0: cx - 0.5 * w, y0: cy - 0.5 * h, x1: cx + 0.5 * w, y1: cy + 0.5 * h)
    }

    /// `(cx, cy, w, h)` (`box_xyxy_to_cxcywh`).
    public var centerForm: (cx: Float, cy: Float, w: Float, h: Float) {
        ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
    }

    /// `(x1 - x0) * (y1 - y0)`.
    public var area: Float { (x1 - x0) * (y1 - y0) }

    /// Whether every coordinate is finite and the corners are ordered (`x0 <= x1`, `y0 <= y1`).
    public var isWellFormed: Bool {
        x0.isFinite && y0.isFinite && x1.isFinite && y1.isFinite && x0 <= x1 && y0 <= y1
    }

    /// The intersection over union with `other` and their union's area.
    public func intersectionOverUnion(_ other: BoundingBox) -> (iou: Float, union: Float) {
        let width = max(min(x1, other.x1) - max(x0, other.x0), 0)
        let height = max(min(y1, other.y1) - max(y0, other.y0), 0)
        let intersection = width * height
        let union = area + other.area - intersection
        return (intersection / union, union)
    }

    /// The generalized IoU with `other`.
    public func generalizedIoU(_ other: BoundingBox) -> Float {
        let (iou, union) = intersectionOverUnion(other)
        let width = max(max(x1, other.x1) - min(x0, other.x0), 0)
        let height = max(max(y1, other.y1) - min(y0, other.y0), 0)
        let enclosing = width * height
        return iou - (enclosing - union) / enclosing
    }
}
