import Foundation
import LoupeTensor

/// The objects annotated in one image as DETR's criterion takes them: class indices and boxes
/// `[n, 4]` as normalised `(cx, cy, w, h)` (fractions of the image's width and height).
public struct DetectionTarget {
    /// The class index of each object, in `0..<classes` (the no-object class is not a label).
    public var labels: [Int]
    /// `[labels.count, 4]`, normalised `(cx, cy, w, h)`; never differentiated.
    public var boxes: Tensor

    /// Checks that there is one box `[n, 4]` per label, every label is >= 0 and every value is
    /// finite with non-negative width and height.
    public init(labels: [Int], boxes: Tensor) throws {
        guard boxes.shape == [labels.count, 4] else {
            throw LoupeError("detection target: \(labels.count) labels need boxes [\(labels.count), 4], got \(describe(shape: boxes.shape))")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 }) {
            throw LoupeError("detection target: label \(labels[bad]) of object \(bad) is negative")
        }
        let values = boxes.detached().contiguous()
        let scalars = values.scalars
        for n in 0..<labels.count {
            let (w, h) = (scalars[n * 4 + 2], scalars[n * 4 + 3])
            guard scalars[(n * 4)..<(n * 4 + 4)].allSatisfy(\.isFinite), w >= 0, h >= 0 else {
                throw LoupeError("detection target: box \(n) (cx, cy, w, h) = \(Array(scalars[(n * 4)..<(n * 4 + 4)])) is not finite with w, h >= 0")
            }
        }
        self.labels = labels
        self.boxes = values
    }

    /// The number of objects.
    public var count: Int { labels.count }
}

/// DETR's `HungarianMatcher` (detr/models/matcher.py): per image, the one-to-one assignment of
/// predictions to annotated objects of least total cost
///
///     classCost * (-softmax(logits)[target class]) + boxCost * |box - target|_1
///         + giouCost * (-generalized IoU(box, target))
///
/// (boxes normalised `(cx, cy, w, h)`; the IoU of their corner forms), computed in float32 as
/// DETR does and solved with `LinearAssignment` (scipy's algorithm). Without gradients.
public struct HungarianMatcher: Sendable, Equatable {
    /// Weight of the class probability cost (`set_cost_class`).
    public var classCost: Float
    /// Weight of the L1 box distance (`set_cost_bbox`).
    public var boxCost: Float
    /// Weight of the negated generalized IoU (`set_cost_giou`).
    public var giouCost: Float

    /// DETR's defaults (`main.py`): 1, 5 and 2. Throws when a weight is negative or not finite,
    /// or all are 0.
    public init(classCost: Float = 1, boxCost: Float = 5, giouCost: Float = 2) throws {
        for (value, name) in [(classCost, "class"), (boxCost, "box"), (giouCost, "giou")] where !(value.isFinite && value >= 0) {
            throw LoupeError("HungarianMatcher: the \(name) cost weight must be finite and >= 0, got \(value)")
        }
        guard classCost != 0 || boxCost != 0 || giouCost != 0 else {
            throw LoupeError("HungarianMatcher: all cost weights are 0")
        }
        self.classCost = classCost
        self.boxCost = boxCost
        self.giouCost = giouCost
    }

    /// Per image, the assignment of queries (`rows`, increasing) to its targets (`columns`), for
    /// `logits [B, Q, classes + 1]` (no-object last) and `boxes [B, Q, 4]`; `min(Q, n)` pairs
    /// for an image with n targets. Throws on mismatched shapes, a label outside
    /// `0..<classes`, or a cost that is not finite (NaN logits or boxes).
    public func match(logits: Tensor, boxes: Tensor, targets: [DetectionTarget]) throws -> [LinearAssignment] {
        let (batch, queries, classes) = try Self.checkShapes(logits: logits, boxes: boxes, targets: targets, op: "HungarianMatcher")
        let probabilities = try NN.softmax(logits.detached(), axis: -1).contiguous().scalars
        let predicted = boxes.detached().contiguous().scalars
        var result: [LinearAssignment] = []
        result.reserveCapacity(batch)
        for image in 0..<batch {
            let target = targets[image]
            let count = target.count
            let targetBoxes = target.boxes.scalars
            let targetCorners = (0..<count).map {
                BoundingBox(centerX: targetBoxes[$0 * 4], centerY: targetBoxes[$0 * 4 + 1],
                            width: targetBoxes[$0 * 4 + 2], height: targetBoxes[$0 * 4 + 3])
            }
            var costs = [Double](repeating: 0, count: queries * count)
            for q in 0..<queries {
                let p = (image * queries + q) * 4, row = (image * queries + q) * (classes + 1)
                let corners = BoundingBox(centerX: predicted[p], centerY: predicted[p + 1],
                                          width: predicted[p + 2], height: predicted[p + 3])
                for t in 0..<count {
                    // torch.cdist(p=1), then the weighted sum in matcher.py's order.
                    var distance: Float = 0
                    for k in 0..<4 { distance += abs(predicted[p + k] - targetBoxes[t * 4 + k]) }
                    let classTerm = -probabilities[row + target.labels[t]]
                    let giouTerm = -corners.generalizedIoU(targetCorners[t])
                    costs[q * count + t] = Double(boxCost * distance + classCost * classTerm + giouCost * giouTerm)
                }
            }
            do {
                result.append(try LinearAssignment.solve(costs, rows: queries, columns: count))
            } catch let error as LoupeError {
                throw LoupeError("HungarianMatcher: image \(image): \(error.message) (are the predictions NaN?)")
            }
        }
        return result
    }

    /// `(B, Q, classes)` after checking `logits [B, Q, classes + 1]`, `boxes [B, Q, 4]`, one
    /// target per image and labels in `0..<classes`.
    static func checkShapes(logits: Tensor, boxes: Tensor, targets: [DetectionTarget], op: String) throws -> (Int, Int, Int) {
        guard logits.rank == 3, boxes.rank == 3, boxes.shape[2] == 4, logits.shape[0] == boxes.shape[0],
              logits.shape[1] == boxes.shape[1], logits.shape[2] >= 2 else {
            throw LoupeError("\(op): expected logits [B, Q, classes + 1] and boxes [B, Q, 4], got \(describe(shape: logits.shape)) and \(describe(shape: boxes.shape))")
        }
        let classes = logits.shape[2] - 1
        guard targets.count == logits.shape[0] else {
            throw LoupeError("\(op): \(targets.count) targets for a batch of \(logits.shape[0]) images")
        }
        for (image, target) in targets.enumerated() {
            if let bad = target.labels.first(where: { $0 >= classes }) {
                throw LoupeError("\(op): image \(image) has label \(bad), but the model has \(classes) classes (0..<\(classes))")
            }
        }
        return (logits.shape[0], logits.shape[1], classes)
    }
}
