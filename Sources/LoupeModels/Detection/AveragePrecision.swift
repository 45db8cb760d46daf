import Foundation
import LoupeTensor

/// The objects annotated in one image: class indices and boxes by their corners in pixels.
public struct LabeledBoxes: Equatable, Sendable {
    /// The class index of each object (>= 0).
    public var labels: [Int]
    /// Each object's box, corners in pixels (`x0 <= x1`, `y0 <= y1`).
    public var boxes: [BoundingBox]

    /// Checks one box per label, labels >= 0 and well-formed boxes; errors name `op`.
    public init(labels: [Int], boxes: [BoundingBox], op: String = "LabeledBoxes") throws {
        guard labels.count == boxes.count else {
            throw LoupeError("\(op): \(labels.count) labels but \(boxes.count) boxes")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 }) {
            throw LoupeError("\(op): label \(labels[bad]) of object \(bad) is negative")
        }
        if let bad = boxes.firstIndex(where: { !$0.isWellFormed }) {
            let b = boxes[bad]
            throw LoupeError("\(op): box \(bad) [\(b.x0), \(b.y0), \(b.x1), \(b.y1)] is not finite with x0 <= x1 and y0 <= y1")
        }
        self.labels = labels
        self.boxes = boxes
    }

    /// The number of objects.
    public var count: Int { labels.count }
}

/// COCO's box average precision, as pycocotools' `COCOeval` with `iouType="bbox"` summarises it
/// (no crowd annotations): IoU thresholds 0.50:0.05:0.95, 101 recall points, at most 100
/// detections per image and class, area range "all".
public struct AveragePrecision: Equatable, Sendable {
    /// AP averaged over the ten IoU thresholds (COCO's headline "AP").
    public var ap: Double
    /// AP at IoU 0.5.
    public var ap50: Double
    /// AP at IoU 0.75.
    public var ap75: Double
    /// Each evaluated class's AP over the ten thresholds, by class index (classes with ground
    /// truth only).
    public var perClass: [Int: Double]

    /// COCOeval's IoU thresholds (`np.linspace(.5, 0.95, 10)`, computed as numpy does).
    static let iouThresholds: [Double] = {
        let step = (0.95 - 0.5) / 9
        return (0..<10).map { $0 == 9 ? 0.95 : Double($0) * step + 0.5 }
    }()
    /// COCOeval's recall points (`np.linspace(0, 1, 101)`, computed as numpy does).
    static let recallThresholds: [Double] = (0...100).map { $0 == 100 ? 1 : Double($0) * 0.01 }
    static let maxDetections = 100
    /// The "all" area range, `[0, 1e5^2]`.
    static let areaRange: ClosedRange<Double> = 0...1e10

    /// Evaluates `detections` (per image, corners in pixels) against `groundTruth` (per image,
    /// the same order). Per class with ground truth, as `COCOeval.evaluate` and `accumulate`:
    /// each image's detections of the class, highest score first (ties in the given order), at
    /// most 100, are matched greedily per IoU threshold to the unmatched ground truth box of the
    /// highest IoU at least the threshold; all the class's detections, sorted by score (stably,
    /// by image), give the precision-recall curve, made monotone and read at the 101 recall
    /// points (0 past the largest recall). AP is the mean over thresholds, points and classes
    /// with ground truth; -1 when no class has ground truth (as pycocotools). Detections of a
    /// class without ground truth do not count. Throws when the two lists differ in length or a
    /// detection's box is not four finite ordered corners or its score is not finite.
    public init(detections: [[Detection]], groundTruth: [LabeledBoxes]) throws {
        guard detections.count == groundTruth.count else {
            throw LoupeError("average precision: \(detections.count) images of detections but \(groundTruth.count) of ground truth")
        }
        for (image, found) in detections.enumerated() {
            for (index, d) in found.enumerated() {
                guard d.box.count == 4, d.box.allSatisfy(\.isFinite), d.box[0] <= d.box[2], d.box[1] <= d.box[3], d.score.isFinite else {
                    throw LoupeError("average precision: detection \(index) of image \(image) has box \(d.box) and score \(d.score); expected finite [x0, y0, x1, y1] with x0 <= x1, y0 <= y1")
                }
            }
        }
        let classes = Set(groundTruth.flatMap(\.labels)).sorted()
        let thresholds = Self.iouThresholds.count
        var sums = [Double](repeating: 0, count: thresholds)
        var perClass: [Int: Double] = [:]
        for label in classes {
            guard let precision = Self.interpolatedPrecision(label: label, detections: detections, groundTruth: groundTruth) else {
                continue
            }
            var classSum = 0.0
            for t in 0..<thresholds {
                let mean = precision[t].reduce(0, +) / Double(Self.recallThresholds.count)
                sums[t] += mean
                classSum += mean
            }
            perClass[label] = classSum / Double(thresholds)
        }
        let count = Double(perClass.count)
        ap = perClass.isEmpty ? -1 : sums.reduce(0, +) / (count * Double(thresholds))
        ap50 = perClass.isEmpty ? -1 : sums[0] / count
        ap75 = perClass.isEmpty ? -1 : sums[5] / count
        self.perClass = perClass
    }

    /// One image's detections of a class after `evaluateImg`: scores (highest first) and, per
    /// threshold, whether each was matched and whether it is ignored.
    private struct ImageResult {
        var scores: [Double]
        var matched: [[Bool]]
        var ignored: [[Bool]]
        var groundTruth: Int
    }

    /// The class's precision at every recall point for every IoU threshold, `[T][R]`, or nil
    /// when the class has no ground truth that counts (COCOeval leaves it at -1).
    private static func interpolatedPrecision(label: Int, detections: [[Detection]], groundTruth: [LabeledBoxes]) -> [[Double]]? {
        var images: [ImageResult] = []
        for (found, truth) in zip(detections, groundTruth) {
            let boxes = zip(truth.labels, truth.boxes).filter { $0.0 == label }.map(\.1)
            let mine = found.filter { $0.label == label }
            if boxes.isEmpty && mine.isEmpty { continue }
            images.append(evaluateImage(mine, boxes))
        }
        let counted = images.reduce(0) { $0 + $1.groundTruth }
        if counted == 0 { return nil }
        // All the class's detections by score, stable across images (mergesort in COCOeval).
        var order: [(score: Double, image: Int, index: Int)] = []
        for (image, result) in images.enumerated() {
            for (index, score) in result.scores.enumerated() { order.append((score, image, index)) }
        }
        order = order.enumerated().sorted {
            $0.element.score > $1.element.score || ($0.element.score == $1.element.score && $0.offset < $1.offset)
        }.map(\.element)
        let points = recallThresholds
        return iouThresholds.indices.map { t in
            var recall: [Double] = [], precision: [Double] = []
            recall.reserveCapacity(order.count)
            precision.reserveCapacity(order.count)
            var truePositives = 0.0, falsePositives = 0.0
            for entry in order {
                let result = images[entry.image]
                if result.ignored[t][entry.index] {
                    // Neither a true nor a false positive: the cumulative sums repeat.
                } else if result.matched[t][entry.index] {
                    truePositives += 1
                } else {
                    falsePositives += 1
                }
                recall.append(truePositives / Double(counted))
                precision.append(truePositives / (falsePositives + truePositives + Double.ulpOfOne))
            }
            // Precision made non-increasing from the right.
            if precision.count > 1 {
                for i in stride(from: precision.count - 1, to: 0, by: -1) where precision[i] > precision[i - 1] {
                    precision[i - 1] = precision[i]
                }
            }
            // Each recall point reads the first detection reaching it (np.searchsorted, side left).
            var q = [Double](repeating: 0, count: points.count)
            var i = 0
            for (r, point) in points.enumerated() {
                while i < recall.count && recall[i] < point { i += 1 }
                if i == recall.count { break }
                q[r] = precision[i]
            }
            return q
        }
    }

    /// COCOeval's `evaluateImg` for one image and class with no crowd annotations.
    private static func evaluateImage(_ found: [Detection], _ truth: [BoundingBox]) -> ImageResult {
        // Ground truth outside the area range last (stably), detections by score (stably), at most 100.
        let truthIgnored = truth.map { !areaRange.contains((Double($0.x1) - Double($0.x0)) * (Double($0.y1) - Double($0.y0))) }
        let truthOrder = truth.indices.sorted { (truthIgnored[$0] ? 1 : 0, $0) < (truthIgnored[$1] ? 1 : 0, $1) }
        let sortedTruth = truthOrder.map { truth[$0] }, sortedIgnored = truthOrder.map { truthIgnored[$0] }
        let sortedFound = Array(found.indices.sorted {
            found[$0].score > found[$1].score || (found[$0].score == found[$1].score && $0 < $1)
        }.prefix(maxDetections).map { found[$0] })
        let (dCount, gCount) = (sortedFound.count, sortedTruth.count)
        // IoUs of xywh boxes in doubles, as maskApi's bbIou.
        var ious = [Double](repeating: 0, count: dCount * gCount)
        for (d, detection) in sortedFound.enumerated() {
            let (dx, dy) = (Double(detection.box[0]), Double(detection.box[1]))
            let (dw, dh) = (Double(detection.box[2]) - dx, Double(detection.box[3]) - dy)
            for (g, box) in sortedTruth.enumerated() {
                let (gx, gy) = (Double(box.x0), Double(box.y0))
                let (gw, gh) = (Double(box.x1) - gx, Double(box.y1) - gy)
                let w = min(dw + dx, gw + gx) - max(dx, gx)
                if w <= 0 { continue }
                let h = min(dh + dy, gh + gy) - max(dy, gy)
                if h <= 0 { continue }
                let intersection = w * h
                ious[d * gCount + g] = intersection / (dw * dh + gw * gh - intersection)
            }
        }
        var matched = [[Bool]](repeating: [Bool](repeating: false, count: dCount), count: iouThresholds.count)
        var ignored = matched
        for (t, threshold) in iouThresholds.enumerated() {
            var truthTaken = [Bool](repeating: false, count: gCount)
            for d in 0..<dCount {
                var best = min(threshold, 1 - 1e-10)
                var match = -1
                for g in 0..<gCount {
                    if truthTaken[g] { continue }
                    // Once matched to a counted box, stop at the ignored ones after it.
                    if match > -1 && !sortedIgnored[match] && sortedIgnored[g] { break }
                    if ious[d * gCount + g] < best { continue }
                    best = ious[d * gCount + g]
                    match = g
                }
                if match == -1 { continue }
                ignored[t][d] = sortedIgnored[match]
                matched[t][d] = true
                truthTaken[match] = true
            }
            // Unmatched detections outside the area range are ignored.
            for (d, detection) in sortedFound.enumerated() where !matched[t][d] {
                let area = (Double(detection.box[2]) - Double(detection.box[0])) * (Double(detection.box[3]) - Double(detection.box[1]))
                if !areaRange.contains(area) { ignored[t][d] = true }
            }
        }
        return ImageResult(scores: sortedFound.map { Double($0.score) }, matched: matched, ignored: ignored,
                           groundTruth: sortedIgnored.filter { !$0 }.count)
    }
}
