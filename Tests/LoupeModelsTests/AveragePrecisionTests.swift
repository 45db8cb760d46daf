import XCTest
import LoupeModels
import LoupeTensor

/// AveragePrecision against pycocotools' COCOeval (fixtures from
/// Scripts/fixtures/average_precision.py) and on hand-derived cases.
final class AveragePrecisionTests: XCTestCase {
    /// A case's detections and ground truth from its args.
    private func inputs(_ c: [String: Any]) throws -> (detections: [[Detection]], truth: [LabeledBoxes]) {
        let detections = try XCTUnwrap(c["detections"] as? [[[NSNumber]]]).map { image in
            image.map { d in
                Detection(label: d[0].intValue, score: d[1].floatValue, box: d[2...5].map(\.floatValue))
            }
        }
        let truth = try XCTUnwrap(c["ground_truth"] as? [[[NSNumber]]]).map { image in
            try LabeledBoxes(labels: image.map { $0[0].intValue },
                             boxes: image.map { BoundingBox(x0: $0[1].floatValue, y0: $0[2].floatValue, x1: $0[3].floatValue, y1: $0[4].floatValue) })
        }
        return (detections, truth)
    }

    func testMatchesPycocotools() throws {
        let cases = try Fixtures.load("average_precision")
        XCTAssertEqual(cases.count, 7)
        for c in cases {
            let (detections, truth) = try inputs(c.args)
            let result = try AveragePrecision(detections: detections, groundTruth: truth)
            for (value, key) in [(result.ap, "ap"), (result.ap50, "ap50"), (result.ap75, "ap75")] {
                let expected = try XCTUnwrap((c.args[key] as? NSNumber)?.doubleValue)
                XCTAssertEqual(value, expected, accuracy: 1e-6, "\(c.name) \(key)")
            }
            let perClass = try XCTUnwrap(c.args["per_class"] as? [String: NSNumber])
            XCTAssertEqual(Set(result.perClass.keys), Set(perClass.keys.compactMap { Int($0) }), c.name)
            for (label, value) in perClass {
                XCTAssertEqual(result.perClass[Int(label) ?? -1] ?? -1, value.doubleValue, accuracy: 1e-6, "\(c.name) class \(label)")
            }
        }
    }

    private func box(_ x0: Float, _ y0: Float, _ x1: Float, _ y1: Float) -> BoundingBox {
        BoundingBox(x0: x0, y0: y0, x1: x1, y1: y1)
    }

    func testPerfectDetectionsScoreOne() throws {
        let truth = [try LabeledBoxes(labels: [0, 1], boxes: [box(0, 0, 10, 10), box(20, 20, 30, 40)]),
                     try LabeledBoxes(labels: [], boxes: [])]
        let detections = [[Detection(label: 1, score: 0.9, box: [20, 20, 30, 40]), Detection(label: 0, score: 0.8, box: [0, 0, 10, 10])], []]
        let result = try AveragePrecision(detections: detections, groundTruth: truth)
        // Precision is tp / (tp + fp + 2^-52) as in COCOeval, so "1" is 1 - 2^-52 or so.
        XCTAssertEqual(result.ap, 1, accuracy: 1e-12)
        XCTAssertEqual(result.ap50, 1, accuracy: 1e-12)
        XCTAssertEqual(result.ap75, 1, accuracy: 1e-12)
        XCTAssertEqual(result.perClass.keys.sorted(), [0, 1])
        XCTAssertEqual(result.perClass[1] ?? 0, 1, accuracy: 1e-12)
    }

    /// One object, a detection of IoU 0.575 (box 0..10 against 0..5.75 in x, same y): matched at
    /// the thresholds 0.50 and 0.55 only, so AP = 2/10 and AP75 = 0. A false positive scoring higher
    /// halves the precision at the only recall point reached: AP50 = 1/2 over the 101 points.
    func testHandDerivedThresholdsAndPrecision() throws {
        let truth = [try LabeledBoxes(labels: [0], boxes: [box(0, 0, 10, 10)])]
        let partial = try AveragePrecision(detections: [[Detection(label: 0, score: 0.5, box: [0, 0, 5.75, 10])]], groundTruth: truth)
        XCTAssertEqual(partial.ap50, 1, accuracy: 1e-12)
        XCTAssertEqual(partial.ap75, 0)
        XCTAssertEqual(partial.ap, 0.2, accuracy: 1e-12)
        let withFalsePositive = try AveragePrecision(detections: [[Detection(label: 0, score: 0.9, box: [50, 50, 60, 60]),
                                                                  Detection(label: 0, score: 0.5, box: [0, 0, 10, 10])]], groundTruth: truth)
        XCTAssertEqual(withFalsePositive.ap50, 0.5, accuracy: 1e-12)
        XCTAssertEqual(withFalsePositive.ap, 0.5, accuracy: 1e-12)
        // Two objects, one found: recall 1/2, so the points 0.00 ... 0.50 (51 of 101) read precision 1.
        let half = try AveragePrecision(detections: [[Detection(label: 0, score: 0.5, box: [0, 0, 10, 10])]],
                                        groundTruth: [try LabeledBoxes(labels: [0, 0], boxes: [box(0, 0, 10, 10), box(30, 30, 40, 40)])])
        XCTAssertEqual(half.ap, 51.0 / 101.0, accuracy: 1e-12)
    }

    /// Classes without ground truth are left out of the mean; no ground truth at all gives -1.
    func testClassesWithoutGroundTruthDoNotCount() throws {
        let truth = [try LabeledBoxes(labels: [0], boxes: [box(0, 0, 10, 10)])]
        let detections = [[Detection(label: 0, score: 0.5, box: [0, 0, 10, 10]), Detection(label: 2, score: 0.9, box: [0, 0, 10, 10])]]
        XCTAssertEqual(try AveragePrecision(detections: detections, groundTruth: truth).ap, 1, accuracy: 1e-12)
        let none = try AveragePrecision(detections: [detections[0]], groundTruth: [try LabeledBoxes(labels: [], boxes: [])])
        XCTAssertEqual(none.ap, -1)
        XCTAssertEqual(none.perClass, [:])
        // A class with ground truth but no detections scores 0 and halves the mean.
        let missed = try AveragePrecision(detections: [[Detection(label: 0, score: 0.5, box: [0, 0, 10, 10])]],
                                          groundTruth: [try LabeledBoxes(labels: [0, 1], boxes: [box(0, 0, 10, 10), box(0, 0, 5, 5)])])
        XCTAssertEqual(missed.ap, 0.5, accuracy: 1e-12)
        XCTAssertEqual(missed.perClass[0] ?? 0, 1, accuracy: 1e-12)
        XCTAssertEqual(missed.perClass[1], 0)
    }

    func testBadInputsThrow() throws {
        let truth = [try LabeledBoxes(labels: [0], boxes: [box(0, 0, 10, 10)])]
        XCTAssertThrowsError(try AveragePrecision(detections: [], groundTruth: truth)) {
            XCTAssert("\($0)".contains("0 images of detections but 1"), "\($0)")
        }
        XCTAssertThrowsError(try AveragePrecision(detections: [[Detection(label: 0, score: 0.5, box: [0, 0, 10])]], groundTruth: truth))
        XCTAssertThrowsError(try AveragePrecision(detections: [[Detection(label: 0, score: .nan, box: [0, 0, 10, 10])]], groundTruth: truth))
        XCTAssertThrowsError(try AveragePrecision(detections: [[Detection(label: 0, score: 0.5, box: [10, 0, 0, 10])]], groundTruth: truth))
        XCTAssertThrowsError(try LabeledBoxes(labels: [0], boxes: [box(5, 0, 1, 1)])) {
            XCTAssert("\($0)".contains("x0 <= x1"), "\($0)")
        }
        XCTAssertThrowsError(try LabeledBoxes(labels: [0, 1], boxes: [box(0, 0, 1, 1)]))
        XCTAssertThrowsError(try LabeledBoxes(labels: [-1], boxes: [box(0, 0, 1, 1)]))
    }
}
