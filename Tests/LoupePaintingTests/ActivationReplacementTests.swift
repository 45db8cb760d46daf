import XCTest
import LoupeModels
import LoupePainting
import LoupeTensor

/// Grid masks, replacement and painting on a small random generator, against hand-derived
/// expectations (positions, coverage) and against the generator's own features.
final class ActivationReplacementTests: XCTestCase {
    static func generator(resolution: Int = 16) throws -> StyleGAN2 {
        let g = try StyleGAN2(StyleGAN2Config(zDim: 8, wDim: 8, resolution: resolution, channels: 3, channelBase: 128,
                                              channelMax: 16, mappingLayers: 2))
        var generator = RandomGenerator(seed: 7)
        try g.initialize(generator: &generator)
        return g
    }

    static func maxDifference(_ a: Tensor, _ b: Tensor) throws -> Float {
        XCTAssertEqual(a.shape, b.shape)
        return try (a - b).abs().max().item()
    }

    func testGridMaskPlacesSquaresAtStrideBlockPlusOneAndCoversThePapersShare() throws {
        // 16x16, block 2: squares start at 0, 3, 6, 9, 12 on each axis (starts below 16 - 2 = 14):
        // 25 squares of 4 positions = 100 of 256 = 39.0625%, the paper's 39.1%.
        let mask = try GANPainting.gridMask(height: 16, width: 16, block: 2)
        XCTAssertEqual(try GANPainting.coverage(mask), 100 / 256, accuracy: 1e-7)
        let values = mask.scalars
        for y in 0..<16 {
            for x in 0..<16 {
                let inside = [0, 1, 3, 4, 6, 7, 9, 10, 12, 13].contains(y) && [0, 1, 3, 4, 6, 7, 9, 10, 12, 13].contains(x)
                XCTAssertEqual(values[y * 16 + x], inside ? 1 : 0, "(\(y), \(x))")
            }
        }
        // Block 1 at 8x8: starts 0, 2, 4, 6 (below 7): 16 of 64.
        XCTAssertEqual(try GANPainting.coverage(GANPainting.gridMask(height: 8, width: 8, block: 1)), 0.25)
        XCTAssertThrowsError(try GANPainting.gridMask(height: 4, width: 4, block: 4))
    }

    func testFullReplaceSetsEveryPositionAndGridReplaceOnlyTheSquares() throws {
        let g = try Self.generator()
        let generation = try GANPainting.generate(g, z: GANPainting.latents(g, seed: 3, count: 2))
        let layer = "synthesis.b8.conv1"
        let vector = try GANPainting.activationVector(g, ws: generation.ws, layer: layer, y: 2, x: 5)
        XCTAssertEqual(vector.shape, [2, 16])
        let features = try GANPainting.features(g, ws: generation.ws, layer: layer)
        XCTAssertEqual(try vector.sliced(axis: 0, start: 1, end: 2).reshaped([16]).scalars,
                       try features.sliced(axis: 0, start: 1, end: 2).sliced(axis: 2, start: 2, end: 3).sliced(axis: 3, start: 5, end: 6).reshaped([16]).contiguous().scalars)

        // Full Replace with a generation's own vector: the layer is that vector everywhere, so the
        // next layer sees a constant input; compare with patching by hand.
        let full = try GANPainting.fullReplace(g, ws: generation.ws, layer: layer, vectors: vector)
        let byHand = try GANPainting.synthesize(g, ws: generation.ws, patches: [layer: .tensor(vector.reshaped([2, 16, 1, 1]).expanded(to: [2, 16, 8, 8]).contiguous())]).images
        XCTAssertEqual(full.scalars, byHand.scalars)

        // Grid Replace with a zero-coverage complement: the image changes, and a grid replace
        // with the features' own values at every square leaves the image as generated.
        let grid = try GANPainting.gridReplace(g, ws: generation.ws, layer: layer, vectors: vector, block: 2)
        XCTAssertEqual(try GANPainting.coverage(grid.mask), 16 / 64)
        XCTAssertNotEqual(grid.images.scalars, generation.images.scalars)
        let untouched = try GANPainting.paint(g, ws: generation.ws, layer: layer, labels: Tensor.zeros([32, 32]),
                                              strokes: [1: PaintStroke(vector: vector.sliced(axis: 0, start: 0, end: 1).reshaped([16]), mode: .full)])
        XCTAssertEqual(untouched.images.scalars, generation.images.scalars)
    }

    func testPaintingARegionMatchesAFullReplaceThatCoversEverything() throws {
        let g = try Self.generator()
        let generation = try GANPainting.generate(g, z: GANPainting.latents(g, seed: 5, count: 1))
        let layer = "synthesis.b8.conv0"
        let v = try GANPainting.activationVector(g, ws: generation.ws, layer: layer, y: 1, x: 1).reshaped([16])
        let everywhere = try GANPainting.paint(g, ws: generation.ws, layer: layer, labels: Tensor.ones([16, 16]),
                                               strokes: [1: PaintStroke(vector: v, mode: .full)])
        let full = try GANPainting.fullReplace(g, ws: generation.ws, layer: layer, vectors: v)
        // f + (v - f) * 1 is v up to rounding.
        XCTAssertLessThan(try Self.maxDifference(everywhere.images, full), 1e-5)
        let gridPainted = try GANPainting.paint(g, ws: generation.ws, layer: layer, labels: Tensor.ones([16, 16]),
                                                strokes: [1: PaintStroke(vector: v, mode: .grid)])
        let grid = try GANPainting.gridReplace(g, ws: generation.ws, layer: layer, vectors: v)
        XCTAssertLessThan(try Self.maxDifference(gridPainted.images, grid.images), 1e-5)
    }

    func testCanvasShapesFillPixelsWhoseCentresAreInside() throws {
        var canvas = try PaintCanvas.blank(height: 6, width: 6)
        canvas = try PaintCanvas.rect(canvas, top: 1, left: 2, bottom: 3, right: 5, label: 1)
        canvas = try PaintCanvas.circle(canvas, y: 5, x: 0, radius: 1, label: 2)
        let v = canvas.scalars
        XCTAssertEqual(v.filter { $0 == 1 }.count, 6)        // rows 1-2, columns 2-4
        XCTAssertEqual(v[1 * 6 + 2], 1)
        XCTAssertEqual(v[3 * 6 + 2], 0)
        XCTAssertEqual(v[5 * 6 + 0], 2)                      // centre (5.5, 0.5): distance 0.71
        XCTAssertEqual(v[4 * 6 + 1], 0)                      // centre (4.5, 1.5): distance 1.58
        let triangle = try PaintCanvas.polygon(try PaintCanvas.blank(height: 4, width: 4),
                                               points: [(0, 0), (0, 4), (4, 0)], label: 3)
        // Centres below the anti-diagonal y + x < 4: (0.5 + 0.5) ... 10 of 16 pixels minus the
        // diagonal ones (y + x = 3: centres sum to 4, on the edge, outside).
        XCTAssertEqual(triangle.scalars.filter { $0 == 3 }.count, 6)
    }
}
