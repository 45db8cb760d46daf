import Foundation
import LoupeTensor

/// The three losses of one decoder output, as plain numbers (already normalised, not weighted).
public struct DetectionLossParts: Equatable, Sendable {
    /// Weighted cross-entropy over every query (`loss_ce`).
    public var classification: Float
    /// L1 distance of the matched boxes per target box (`loss_bbox`).
    public var box: Float
    /// `1 - generalized IoU` of the matched boxes per target box (`loss_giou`).
    public var giou: Float
}

/// What `SetCriterion` computed for one batch.
public struct DetectionLoss {
    /// The weighted sum of every loss of the final output and of every auxiliary output: a
    /// scalar to call `backward()` on.
    public var total: Tensor
    /// The final output's losses.
    public var final: DetectionLossParts
    /// Each auxiliary output's losses, in decoder order.
    public var auxiliary: [DetectionLossParts]
    /// The final output's matching: per image, queries (`rows`) to targets (`columns`).
    public var matches: [LinearAssignment]
    /// Each auxiliary output's own matching.
    public var auxiliaryMatches: [[LinearAssignment]]

    /// The parts by DETR's names: `loss_ce`, `loss_bbox`, `loss_giou`, then `loss_ce_0`, ... for
    /// the auxiliary outputs.
    public var named: [(name: String, value: Float)] {
        func parts(_ p: DetectionLossParts, _ suffix: String) -> [(name: String, value: Float)] {
            [("loss_ce" + suffix, p.classification), ("loss_bbox" + suffix, p.box), ("loss_giou" + suffix, p.giou)]
        }
        return parts(final, "") + auxiliary.enumerated().flatMap { parts($1, "_\($0)") }
    }
}

/// DETR's `SetCriterion` (detr/models/detr.py) with its `main.py` weights: each decoder output
/// (the final one and every auxiliary one, each matched on its own by `matcher`) is scored by
///
/// - `loss_ce`: cross-entropy of every query's logits against its matched target's class, or
///   the no-object class for unmatched queries, with class weights 1 and `noObjectWeight` (DETR's
///   `eos_coef`, 0.1) for no-object, averaged by total weight (PyTorch's weighted mean);
/// - `loss_bbox`: the L1 distance between matched boxes (normalised cx, cy, w, h), summed and
///   divided by the number of target boxes in the batch (at least 1);
/// - `loss_giou`: `1 - generalized IoU` of matched boxes (as corners), likewise normalised;
///
/// and the total is `Σ classWeight * loss_ce + boxWeight * loss_bbox + giouWeight * loss_giou`
/// over the outputs. Differentiable in the logits and boxes; the matching is not.
public struct SetCriterion {
    /// The number of object classes (logits have one more: no-object, last).
    public var classes: Int
    /// Matches each output's queries to the targets.
    public var matcher: HungarianMatcher
    /// The cross-entropy weight of the no-object class (`eos_coef`).
    public var noObjectWeight: Float
    /// The weight of `loss_ce` in the total (1).
    public var classWeight: Float
    /// The weight of `loss_bbox` in the total (5).
    public var boxWeight: Float
    /// The weight of `loss_giou` in the total (2).
    public var giouWeight: Float

    /// DETR's defaults: `eos_coef` 0.1, loss weights 1, 5 and 2, and the matcher's costs 1, 5, 2.
    /// Throws when `classes < 1` or a weight is negative or not finite.
    public init(classes: Int, matcher: HungarianMatcher? = nil, noObjectWeight: Float = 0.1,
                classWeight: Float = 1, boxWeight: Float = 5, giouWeight: Float = 2) throws {
        guard classes >= 1 else { throw LoupeError("SetCriterion: classes must be at least 1, got \(classes)") }
        for (value, name) in [(noObjectWeight, "no-object"), (classWeight, "class"), (boxWeight, "box"), (giouWeight, "giou")]
        where !(value.isFinite && value >= 0) {
            throw LoupeError("SetCriterion: the \(name) weight must be finite and >= 0, got \(value)")
        }
        self.classes = classes
        self.matcher = try matcher ?? HungarianMatcher()
        self.noObjectWeight = noObjectWeight
        self.classWeight = classWeight
        self.boxWeight = boxWeight
        self.giouWeight = giouWeight
    }

    /// The losses of a DETR output record `{pred_logits, pred_boxes, aux_outputs?}` against one
    /// target per image.
    public func loss(_ output: ModuleValue, targets: [DetectionTarget]) throws -> DetectionLoss {
        func pair(_ value: ModuleValue, _ what: String) throws -> (Tensor, Tensor) {
            guard let logits = value["pred_logits"], let boxes = value["pred_boxes"] else {
                throw LoupeError("SetCriterion: \(what) is \(value.kind), expected {pred_logits, pred_boxes, ...}")
            }
            return (try logits.tensor("\(what) pred_logits"), try boxes.tensor("\(what) pred_boxes"))
        }
        let (logits, boxes) = try pair(output, "the model output")
        var auxiliary: [(logits: Tensor, boxes: Tensor)] = []
        switch output["aux_outputs"] {
        case nil: break
        case .list(let items)?:
            for (index, item) in items.enumerated() { auxiliary.append(try pair(item, "aux_outputs.\(index)")) }
        case let other?:
            throw LoupeError("SetCriterion: aux_outputs is \(other.kind), expected a list of {pred_logits, pred_boxes}")
        }
        return try loss(logits: logits, boxes: boxes, auxiliary: auxiliary, targets: targets)
    }

    /// The losses of `logits [B, Q, classes + 1]` and `boxes [B, Q, 4]` (and of each auxiliary
    /// pair of the same shapes) against one target per image.
    public func loss(logits: Tensor, boxes: Tensor, auxiliary: [(logits: Tensor, boxes: Tensor)] = [],
                     targets: [DetectionTarget]) throws -> DetectionLoss {
        let boxCount = Float(max(targets.reduce(0) { $0 + $1.count }, 1))
        let final = try layerLoss(logits: logits, boxes: boxes, targets: targets, boxCount: boxCount, what: "")
        var total = final.weighted
        var auxiliaryParts: [DetectionLossParts] = [], auxiliaryMatches: [[LinearAssignment]] = []
        for (index, pair) in auxiliary.enumerated() {
            guard pair.logits.shape == logits.shape, pair.boxes.shape == boxes.shape else {
                throw LoupeError("SetCriterion: aux_outputs.\(index) has logits \(describe(shape: pair.logits.shape)) and boxes \(describe(shape: pair.boxes.shape)); the final output has \(describe(shape: logits.shape)) and \(describe(shape: boxes.shape))")
            }
            let layer = try layerLoss(logits: pair.logits, boxes: pair.boxes, targets: targets, boxCount: boxCount,
                                      what: "aux_outputs.\(index) ")
            total = try total + layer.weighted
            auxiliaryParts.append(layer.parts)
            auxiliaryMatches.append(layer.matches)
        }
        return DetectionLoss(total: total, final: final.parts, auxiliary: auxiliaryParts, matches: final.matches,
                             auxiliaryMatches: auxiliaryMatches)
    }

    /// One output's matching, its three losses and their weighted sum.
    private func layerLoss(logits: Tensor, boxes: Tensor, targets: [DetectionTarget], boxCount: Float, what: String) throws
        -> (weighted: Tensor, parts: DetectionLossParts, matches: [LinearAssignment]) {
        let (batch, queries, outputClasses) = try HungarianMatcher.checkShapes(logits: logits, boxes: boxes, targets: targets,
                                                                             op: "SetCriterion")
        guard outputClasses == classes else {
            throw LoupeError("SetCriterion: \(what)logits \(describe(shape: logits.shape)) have \(outputClasses) classes + no-object; the criterion has \(classes)")
        }
        let matches = try matcher.match(logits: logits, boxes: boxes, targets: targets)
        // Every query's class: its matched target's, or no-object.
        var classOfQuery = [Float](repeating: Float(classes), count: batch * queries)
        var sources: [Int] = [], targetValues: [Float] = []
        for (image, match) in matches.enumerated() {
            let targetBoxes = targets[image].boxes.scalars
            for (query, object) in zip(match.rows, match.columns) {
                classOfQuery[image * queries + query] = Float(targets[image].labels[object])
                sources.append(image * queries + query)
                targetValues.append(contentsOf: targetBoxes[(object * 4)..<(object * 4 + 4)])
            }
        }
        var classWeights = [Float](repeating: 1, count: classes + 1)
        classWeights[classes] = noObjectWeight
        let classification = try NN.crossEntropy(logits: try logits.reshaped([batch * queries, classes + 1]),
                                                 targets: try Tensor(shape: [batch * queries], scalars: classOfQuery),
                                                 weight: try Tensor(shape: [classes + 1], scalars: classWeights))
        var weighted = try classification * classWeight
        var boxLoss: Float = 0, giouLoss: Float = 0
        if !sources.isEmpty {
            let source = try boxes.reshaped([batch * queries, 4]).indexSelect(axis: 0, indices: sources)
            let target = try Tensor(shape: [sources.count, 4], scalars: targetValues)
            let l1 = try (try source - target).abs().sum() / boxCount
            let giou = try BoxOps.generalizedIoU(try BoxOps.cornersFromCenters(source), try BoxOps.cornersFromCenters(target))
            let giouTerm = try (1 - giou).sum() / boxCount
            weighted = try weighted + l1 * boxWeight + giouTerm * giouWeight
            boxLoss = try l1.item()
            giouLoss = try giouTerm.item()
        }
        let parts = DetectionLossParts(classification: try classification.item(), box: boxLoss, giou: giouLoss)
        return (weighted, parts, matches)
    }
}
