import Foundation
import LoupeTensor
import LoupeModels

/// How far a model's predictions on reconstructions agree with its predictions on the originals:
/// a classifier's top-1 class, or a DETR's detections.
enum PredictionAgreement {
    /// DETR detections count when their score (softmax without no-object) is at least this.
    static let detectionThreshold: Float = 0.5
    /// A reconstruction's detection matches an original's with the same label at this IoU or more.
    static let detectionIoU: Float = 0.5

    /// The fraction of agreeing predictions between `original` and `reconstructed` outputs of
    /// `model` on images `height x width`: for a classifier ([B, K] logits) the images whose
    /// top-1 class is the same; for a DETR the original's detections (score >= 0.5) found again
    /// with the same label at IoU >= 0.5, each reconstruction detection used once (NaN when the
    /// originals have none).
    static func fraction(_ model: Module, original: ModuleValue, reconstructed: ModuleValue, height: Int, width: Int) throws -> Float {
        if model is DETR {
            let before = try detections(original, height: height, width: width)
            let after = try detections(reconstructed, height: height, width: width)
            var found = 0, total = 0
            for (expected, given) in zip(before, after) {
                var used = [Bool](repeating: false, count: given.count)
                total += expected.count
                for detection in expected {
                    var best = -1
                    var bestIoU = detectionIoU
                    for (index, candidate) in given.enumerated() where !used[index] && candidate.label == detection.label {
                        let overlap = box(detection).intersectionOverUnion(box(candidate)).iou
                        if overlap >= bestIoU { best = index; bestIoU = overlap }
                    }
                    if best >= 0 { used[best] = true; found += 1 }
                }
            }
            return total == 0 ? .nan : Float(found) / Float(total)
        }
        let before = try original.tensor("model output").argmax(axis: -1).scalars
        let after = try reconstructed.tensor("model output").argmax(axis: -1).scalars
        guard !before.isEmpty else { return .nan }
        return Float(zip(before, after).filter { $0 == $1 }.count) / Float(before.count)
    }

    static func detections(_ output: ModuleValue, height: Int, width: Int) throws -> [[Detection]] {
        guard let logits = output["pred_logits"], let boxes = output["pred_boxes"] else {
            throw LoupeError("layer_report: the DETR returned \(output.kind), not {pred_logits, pred_boxes}")
        }
        let batch = try logits.tensor("pred_logits").shape[0]
        return try DETR.detections(logits: try logits.tensor("pred_logits"), boxes: try boxes.tensor("pred_boxes"),
                                   sizes: Array(repeating: (height, width), count: batch), threshold: detectionThreshold)
    }

    static func box(_ detection: Detection) -> BoundingBox {
        BoundingBox(x0: detection.box[0], y0: detection.box[1], x1: detection.box[2], y1: detection.box[3])
    }
}
