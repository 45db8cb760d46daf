import XCTest
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// BoxOps against detr/util/box_ops.py (the "box_ops" case of Scripts/fixtures/detr_criterion.py)
/// and BoundingBox against BoxOps.
final class BoxOpsTests: XCTestCase {
    func testMatchesDETRBoxOps() throws {
        let c = try XCTUnwrap(Fixtures.load("detr_criterion").first { $0.op == "box_ops" })
        let a = try c.tensor("a").requiringGrad(), b = try c.tensor("b").requiringGrad()
        let (iou, union) = try BoxOps.pairwiseIoU(a, b)
        assertClose(iou, try c.tensor("iou"), rtol: 1e-6, atol: 1e-7, "iou")
        assertClose(union, try c.tensor("union"), rtol: 1e-6, atol: 1e-7, "union")
        let giou = try BoxOps.pairwiseGeneralizedIoU(a, b)
        assertClose(giou, try c.tensor("giou"), rtol: 1e-6, atol: 1e-7, "giou")
        let gradients = try Autograd.gradients(of: try (giou * c.tensor("weights")).sum(), wrt: [a, b])
        assertClose(gradients[0], try c.tensor("grad_a"), rtol: 1e-5, atol: 1e-6, "gradient of a")
        assertClose(gradients[1], try c.tensor("grad_b"), rtol: 1e-5, atol: 1e-6, "gradient of b")
        assertClose(try BoxOps.cornersFromCenters(try c.tensor("centres")), try c.tensor("corners_of_centres"), rtol: 0, atol: 0, "cxcywh to xyxy")
        assertClose(try BoxOps.centersFromCorners(a), try c.tensor("centres_of_a"), rtol: 0, atol: 0, "xyxy to cxcywh")
    }

    /// The paired GIoU is the pairwise matrix's diagonal; BoundingBox gives the same floats.
    func testPairedAndPlainFloatVersionsAgree() throws {
        let c = try XCTUnwrap(Fixtures.load("detr_criterion").first { $0.op == "box_ops" })
        let a = try c.tensor("a"), b = try c.tensor("b").sliced(axis: 0, start: 0, end: 5)
        let first = try a.sliced(axis: 0, start: 0, end: 5)
        let paired = try BoxOps.generalizedIoU(first, b).scalars
        let matrix = try BoxOps.pairwiseGeneralizedIoU(first, b).scalars
        let (av, bv) = (first.contiguous().scalars, b.contiguous().scalars)
        for i in 0..<5 {
            XCTAssertEqual(paired[i], matrix[i * 5 + i])
            let boxA = BoundingBox(x0: av[i * 4], y0: av[i * 4 + 1], x1: av[i * 4 + 2], y1: av[i * 4 + 3])
            for j in 0..<5 {
                let boxB = BoundingBox(x0: bv[j * 4], y0: bv[j * 4 + 1], x1: bv[j * 4 + 2], y1: bv[j * 4 + 3])
                XCTAssertEqual(boxA.generalizedIoU(boxB), matrix[i * 5 + j], "pair \(i), \(j)")
            }
        }
    }

    func testHandDerivedValues() throws {
        // Unit square and the square shifted by (0.5, 0): intersection 0.5, union 1.5, enclosing 1.5.
        let a = BoundingBox(x0: 0, y0: 0, x1: 1, y1: 1), b = BoundingBox(x0: 0.5, y0: 0, x1: 1.5, y1: 1)
        XCTAssertEqual(a.intersectionOverUnion(b).iou, 1.0 / 3.0, accuracy: 1e-7)
        XCTAssertEqual(a.generalizedIoU(b), 1.0 / 3.0, accuracy: 1e-7)
        // Disjoint: (0,0)-(1,1) and (2,0)-(3,1): IoU 0, enclosing 3, union 2, GIoU = -1/3.
        let far = BoundingBox(x0: 2, y0: 0, x1: 3, y1: 1)
        XCTAssertEqual(a.intersectionOverUnion(far).iou, 0)
        XCTAssertEqual(a.generalizedIoU(far), -1.0 / 3.0, accuracy: 1e-7)
        let centre = BoundingBox(centerX: 0.5, centerY: 0.25, width: 1, height: 0.5)
        XCTAssertEqual(centre, BoundingBox(x0: 0, y0: 0, x1: 1, y1: 0.5))
        XCTAssertEqual(centre.centerForm.cx, 0.5)
        XCTAssertEqual(centre.centerForm.h, 0.5)
        XCTAssertFalse(BoundingBox(x0: 1, y0: 0, x1: 0, y1: 1).isWellFormed)
        XCTAssertThrowsError(try BoxOps.pairwiseIoU(try Tensor.zeros([2, 3]), try Tensor.zeros([2, 4])))
        XCTAssertThrowsError(try BoxOps.generalizedIoU(try Tensor.zeros([2, 4]), try Tensor.zeros([3, 4])))
        XCTAssertThrowsError(try BoxOps.cornersFromCenters(try Tensor.zeros([2, 5])))
    }
}
