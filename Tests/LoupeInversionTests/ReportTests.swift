import XCTest
import LoupeInputOptimization
@testable import LoupeInversion
import LoupeTensor
import LoupeModels

final class ReportTests: XCTestCase {
    /// With an analytic patch inverse the reconstruction from the tokens is exact: MSE ~ 0,
    /// re-encoding cosine 1, top-1 agreement 1; the grid has one row of originals plus one per layer.
    func testLayerReport() throws {
        let model = try tinyViT(imageSize: 16, depth: 2)
        var generator = RandomGenerator(seed: 8)
        let images = try Tensor.uniform([3, 1, 16, 16], generator: &generator)
        let chain = try InverseChain(model: model, patch: .analytic, normalization: fashionNormalization, generator: &generator)
        let report = try layerReport(model, chain, images: images)
        XCTAssertEqual(report.rows.map(\.layer), ["blocks.1", "blocks.0", "tokens"])
        let exact = report.rows[2]
        XCTAssertLessThan(exact.mse, 1e-8)
        XCTAssertGreaterThan(exact.psnr, 80)
        XCTAssertEqual(exact.ssim, 1, accuracy: 1e-4)
        XCTAssertEqual(exact.reencodingCosine, 1, accuracy: 1e-4)
        XCTAssertEqual(exact.agreement, 1)
        XCTAssertEqual(report.grid.shape, [1, 4 * 18 + 2, 3 * 18 + 2])
        XCTAssertEqual(report.table.split(separator: "\n").count, 4)
        print(report.table)
        XCTAssertThrowsError(try layerReport(model, chain, images: images, layers: ["blocks.7"]))
    }

    /// An exact reconstruction keeps a rotated hue: error 0 to the perturbed input, the rotation
    /// to the original.
    /// A pending interrupt (Ctrl-C in the REPL) stops reports and batched captures between
    /// steps, and is consumed.
    func testInterruptStopsReportsAndCaptures() throws {
        let model = try tinyViT(imageSize: 16, depth: 2)
        var generator = RandomGenerator(seed: 8)
        let images = try Tensor.uniform([3, 1, 16, 16], generator: &generator)
        let chain = try InverseChain(model: model, patch: .analytic, generator: &generator)
        defer { Interrupt.requested = 0 }
        let calls: [(String, () throws -> Void)] = [
            ("layer_report", { _ = try layerReport(model, chain, images: images) }),
            ("capture", { _ = try captureActivations(model, images: images, paths: ["tokens"], normalization: nil) }),
        ]
        for (op, call) in calls {
            Interrupt.requested = 1
            XCTAssertThrowsError(try call()) { error in XCTAssertTrue("\(error)".contains("\(op): interrupted"), "\(error)") }
            XCTAssertEqual(Interrupt.requested, 0)
            XCTAssertNoThrow(try call())
        }
    }

    func testColorReport() throws {
        let model = try tinyViT(imageSize: 16, dim: 64, depth: 1, channels: 3)
        var generator = RandomGenerator(seed: 6)
        // Saturated colours: one channel high, the others low.
        let images = try Tensor.concat([try Tensor.uniform([2, 1, 16, 16], low: 0.7, high: 0.9, generator: &generator),
                                        try Tensor.uniform([2, 2, 16, 16], low: 0.05, high: 0.2, generator: &generator)], axis: 1)
        let chain = try InverseChain(model: model, patch: .analytic, generator: &generator)
        let mask = try Tensor.concat([try Tensor.ones([8, 16]), try Tensor.zeros([8, 16])], axis: 0)
        let report = try colorReport(model, chain, images: images, changes: [.rotateHue(120), .gray], mask: mask, layers: ["tokens"])
        XCTAssertEqual(report.rows.count, 2)
        let rotated = report.rows[0]
        XCTAssertEqual(rotated.change, "rotate 120")
        XCTAssertEqual(rotated.hueError, 0, accuracy: 0.05)
        XCTAssertEqual(rotated.hueErrorToOriginal, 120, accuracy: 0.05)
        XCTAssertEqual(rotated.coloredFraction, 1)
        XCTAssertEqual(rotated.histogramDistance, 0, accuracy: 1e-3)
        XCTAssertTrue(report.rows[1].hueError.isNaN)   // gray input: no coloured pixel
        print(report.table)
    }
}
