import XCTest
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// SetCriterion and HungarianMatcher against facebookresearch/detr's own code (fixtures from
/// Scripts/fixtures/detr_criterion.py): every named loss, the weighted total, the gradients of
/// the total with respect to the logits and boxes of every output, and every matching.
final class SetCriterionTests: XCTestCase {
    private struct Inputs {
        var logits: Tensor
        var boxes: Tensor
        var auxiliary: [(logits: Tensor, boxes: Tensor)]
        var targets: [DetectionTarget]
    }

    /// The case's inputs, every output tensor a leaf requiring a gradient.
    private func inputs(_ c: FixtureCase) throws -> Inputs {
        let labels = try XCTUnwrap(c.args["labels"] as? [[NSNumber]]).map { $0.map(\.intValue) }
        let targets = try labels.enumerated().map { image, labels in
            try DetectionTarget(labels: labels, boxes: try c.tensor("target\(image)_boxes").reshaped([labels.count, 4]))
        }
        let aux = try (0..<XCTUnwrap(c.int("aux_layers"))).map {
            (logits: try c.tensor("aux\($0)_logits").requiringGrad(), boxes: try c.tensor("aux\($0)_boxes").requiringGrad())
        }
        return Inputs(logits: try c.tensor("logits").requiringGrad(), boxes: try c.tensor("boxes").requiringGrad(),
                      auxiliary: aux, targets: targets)
    }

    func testLossesGradientsAndMatchingMatchDETR() throws {
        let cases = try Fixtures.load("detr_criterion").filter { $0.op == "set_criterion" }
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let x = try inputs(c)
            let criterion = try SetCriterion(classes: try XCTUnwrap(c.int("classes")))
            let loss = try criterion.loss(logits: x.logits, boxes: x.boxes, auxiliary: x.auxiliary, targets: x.targets)

            let expected = try XCTUnwrap(c.args["losses"] as? [String: NSNumber])
            let named = loss.named
            XCTAssertEqual(Set(named.map(\.name)), Set(expected.keys), c.name)
            for (name, value) in named {
                let reference = try XCTUnwrap(expected[name]?.floatValue, "\(c.name) \(name)")
                XCTAssertEqual(value, reference, accuracy: 1e-5 * max(1, abs(reference)), "\(c.name) \(name)")
            }
            let total = try XCTUnwrap(c.float("total"))
            XCTAssertEqual(try loss.total.item(), total, accuracy: 2e-5 * max(1, abs(total)), c.name)

            // Matchings: final output first, then each auxiliary output; per image [queries, targets].
            let matches = try XCTUnwrap(c.args["matches"] as? [[[[NSNumber]]]])
            let ours = [loss.matches] + loss.auxiliaryMatches
            XCTAssertEqual(ours.count, matches.count, c.name)
            for (layer, (mine, reference)) in zip(ours, matches).enumerated() {
                XCTAssertEqual(mine.map(\.rows), reference.map { $0[0].map(\.intValue) }, "\(c.name) output \(layer) queries")
                XCTAssertEqual(mine.map(\.columns), reference.map { $0[1].map(\.intValue) }, "\(c.name) output \(layer) targets")
            }

            let leaves = [x.logits, x.boxes] + x.auxiliary.flatMap { [$0.logits, $0.boxes] }
            let names = ["logits", "boxes"] + (0..<x.auxiliary.count).flatMap { ["aux\($0)_logits", "aux\($0)_boxes"] }
            let gradients = try Autograd.gradients(of: loss.total, wrt: leaves)
            for (name, gradient) in zip(names, gradients) {
                assertClose(gradient, try c.tensor("grad_\(name)"), rtol: 1e-4, atol: 1e-5, "\(c.name) gradient of \(name)")
            }
        }
    }

    /// The record a DETR returns gives the same losses as the tensors themselves.
    func testModelOutputRecordIsRead() throws {
        let c = try XCTUnwrap(Fixtures.load("detr_criterion").first { $0.op == "set_criterion" && $0.int("aux_layers") == 2 })
        let x = try inputs(c)
        let criterion = try SetCriterion(classes: try XCTUnwrap(c.int("classes")))
        let record = ModuleValue.record([
            ("pred_logits", .tensor(x.logits)), ("pred_boxes", .tensor(x.boxes)),
            ("aux_outputs", .list(x.auxiliary.map { .record([("pred_logits", .tensor($0.logits)), ("pred_boxes", .tensor($0.boxes))]) })),
        ])
        let fromRecord = try criterion.loss(record, targets: x.targets)
        let direct = try criterion.loss(logits: x.logits, boxes: x.boxes, auxiliary: x.auxiliary, targets: x.targets)
        XCTAssertEqual(fromRecord.named.map(\.value), direct.named.map(\.value))
        XCTAssertEqual(fromRecord.auxiliary.count, 2)
    }

    /// One query, one target of class 0, no auxiliary outputs: every loss by hand.
    func testHandDerivedSinglePair() throws {
        // Logits [0, 0] (class 0, no-object): the target class has p = 1/2 and weight 1.
        let logits = try Tensor.zeros([1, 1, 2])
        // Predicted box: corners (0.1, 0.1)-(0.5, 0.5); target: (0.3, 0.3)-(0.7, 0.7).
        let boxes = try Tensor(shape: [1, 1, 4], scalars: [0.3, 0.3, 0.4, 0.4])
        let target = try DetectionTarget(labels: [0], boxes: try Tensor(shape: [1, 4], scalars: [0.5, 0.5, 0.4, 0.4]))
        let loss = try SetCriterion(classes: 1).loss(logits: logits, boxes: boxes, targets: [target])
        // Intersection 0.2^2 = 0.04, union 0.16 + 0.16 - 0.04 = 0.28, enclosing 0.6^2 = 0.36:
        // GIoU = 0.04/0.28 - (0.36 - 0.28)/0.36.
        let giou: Float = 0.04 / 0.28 - 0.08 / 0.36
        XCTAssertEqual(loss.final.classification, Float(log(2.0)), accuracy: 1e-6)
        XCTAssertEqual(loss.final.box, 0.4, accuracy: 1e-6)
        XCTAssertEqual(loss.final.giou, 1 - giou, accuracy: 1e-6)
        XCTAssertEqual(try loss.total.item(), Float(log(2.0)) + 5 * 0.4 + 2 * (1 - giou), accuracy: 1e-5)
        XCTAssertEqual(loss.matches, [LinearAssignment(rows: [0], columns: [0])])
    }

    /// An unmatched query is pushed towards no-object with weight 0.1: query 0 (logits 0, 0, 0)
    /// sits on the target of class 1 (-log p = log 3), query 1 (logits 0, 0, 3) is unmatched
    /// (-log p(no-object) = log(2 + e^3) - 3), so the weighted mean is (log 3 + 0.1 * that) / 1.1.
    func testNoObjectWeightEntersTheWeightedMean() throws {
        var logitsValues = [Float](repeating: 0, count: 2 * 3)
        logitsValues[3 + 2] = 3  // query 1 leans to no-object
        let logits = try Tensor(shape: [1, 2, 3], scalars: logitsValues)
        let boxes = try Tensor(shape: [1, 2, 4], scalars: [0.5, 0.5, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1])
        let target = try DetectionTarget(labels: [1], boxes: try Tensor(shape: [1, 4], scalars: [0.5, 0.5, 0.2, 0.2]))
        let loss = try SetCriterion(classes: 2).loss(logits: logits, boxes: boxes, targets: [target])
        XCTAssertEqual(loss.matches, [LinearAssignment(rows: [0], columns: [0])])
        let nllMatched = log(3.0), nllEmpty = -(3 - log(2 + exp(3.0)))
        XCTAssertEqual(Double(loss.final.classification), (nllMatched + 0.1 * nllEmpty) / 1.1, accuracy: 1e-6)
        XCTAssertEqual(loss.final.box, 0, accuracy: 1e-7)
        XCTAssertEqual(loss.final.giou, 0, accuracy: 1e-6)
    }

    func testBadInputsThrowClearErrors() throws {
        let criterion = try SetCriterion(classes: 2)
        let logits = try Tensor.zeros([1, 3, 3]), boxes = try Tensor.full([1, 3, 4], 0.3)
        let target = try DetectionTarget(labels: [0], boxes: try Tensor(shape: [1, 4], scalars: [0.5, 0.5, 0.2, 0.2]))
        XCTAssertThrowsError(try criterion.loss(logits: logits, boxes: boxes, targets: [target, target])) {
            XCTAssert("\($0)".contains("2 targets for a batch of 1"), "\($0)")
        }
        let wrongLabel = try DetectionTarget(labels: [2], boxes: try Tensor(shape: [1, 4], scalars: [0.5, 0.5, 0.2, 0.2]))
        XCTAssertThrowsError(try criterion.loss(logits: logits, boxes: boxes, targets: [wrongLabel])) {
            XCTAssert("\($0)".contains("label 2"), "\($0)")
        }
        XCTAssertThrowsError(try criterion.loss(logits: try Tensor.zeros([1, 3, 5]), boxes: boxes, targets: [target])) {
            XCTAssert("\($0)".contains("4 classes"), "\($0)")
        }
        XCTAssertThrowsError(try criterion.loss(logits: logits, boxes: try Tensor.zeros([1, 3, 3]), targets: [target]))
        XCTAssertThrowsError(try DetectionTarget(labels: [0, 1], boxes: try Tensor.zeros([1, 4])))
        XCTAssertThrowsError(try DetectionTarget(labels: [-1], boxes: try Tensor.zeros([1, 4])))
        XCTAssertThrowsError(try DetectionTarget(labels: [0], boxes: try Tensor(shape: [1, 4], scalars: [0.5, 0.5, -0.1, 0.2])))
        let nanLogits = try Tensor(shape: [1, 3, 3], scalars: [Float](repeating: .nan, count: 9))
        XCTAssertThrowsError(try criterion.loss(logits: nanLogits, boxes: boxes, targets: [target])) {
            XCTAssert("\($0)".contains("finite"), "\($0)")
        }
        XCTAssertThrowsError(try SetCriterion(classes: 0))
        XCTAssertThrowsError(try HungarianMatcher(classCost: 0, boxCost: 0, giouCost: 0))
    }
}
