import Foundation
import XCTest
@testable import LoupeIO
import LoupeTensor
import LoupeTestSupport

final class FashionMNISTScenesTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory),
                          "dataset-fashion-mnist is not installed")
    }

    /// The pixels [3, size, size] of scene `k` of a batch.
    func pixels(_ batch: FashionMNISTScenes.Batch, _ k: Int) -> [Float] {
        let plane = batch.images.shape[1] * batch.images.shape[2] * batch.images.shape[3]
        return Array(batch.images.scalars[(k * plane)..<((k + 1) * plane)])
    }

    func testSceneDependsOnlyOnSplitIndexAndSize() throws {
        let scenes = try FashionMNISTScenes(split: .test)
        let few = try scenes.scenes(0..<20), many = try scenes.scenes(0..<300)
        XCTAssertEqual(few.images.shape, [20, 3, 96, 96])
        XCTAssertEqual(many.images.shape, [300, 3, 96, 96])
        for k in [0, 7, 17, 19] {
            XCTAssertEqual(pixels(few, k), pixels(many, k), "scene \(k)")
            XCTAssertEqual(few.objects[k], many.objects[k], "scene \(k)")
        }
        // A run starting elsewhere and a single scene agree with the first run.
        let middle = try scenes.scenes(17..<19)
        XCTAssertEqual(middle.start, 17)
        XCTAssertEqual(pixels(middle, 0), pixels(few, 17))
        XCTAssertEqual(middle.objects[1], few.objects[18])
        let single = try scenes.scene(17)
        XCTAssertEqual(single.image.shape, [3, 96, 96])
        XCTAssertEqual(single.image.scalars, pixels(few, 17))
        XCTAssertEqual(single.objects, few.objects[17])
        // Another instance (the split cached) draws the same; neighbouring scenes differ.
        XCTAssertEqual(try FashionMNISTScenes(split: .test).scenes(0..<20).images.scalars, few.images.scalars)
        XCTAssertNotEqual(pixels(few, 0), pixels(few, 1))
    }

    func testSplitsDrawDifferentScenesFromTheirOwnImages() throws {
        let test = try FashionMNISTScenes(split: .test).scenes(0..<50)
        let train = try FashionMNISTScenes(split: .train).scenes(0..<50)
        XCTAssertEqual(train.images.shape, test.images.shape)
        var identical = 0
        for k in 0..<50 where pixels(test, k) == pixels(train, k) { identical += 1 }
        XCTAssertEqual(identical, 0)
        // Labels are the source images' labels; train scenes reach beyond the 10,000 test images.
        let data = try FashionMNIST()
        for (batch, split) in [(test, FashionMNIST.Split.test), (train, .train)] {
            let labels = try data.load(split).labels.scalars
            for object in batch.objects.joined() {
                XCTAssertLessThan(object.sourceIndex, labels.count)
                XCTAssertEqual(object.label, Int(labels[object.sourceIndex]))
            }
        }
        XCTAssertTrue(train.objects.joined().contains { $0.sourceIndex >= 10_000 })
    }

    /// Whether pixel `i` of `image` [3, n] is `tint` times an intensity of at least the ink threshold.
    func isPainted(_ image: [Float], _ i: Int, plane: Int, by tint: SIMD3<Float>) -> Bool {
        let p = SIMD3(image[i], image[plane + i], image[2 * plane + i])
        let v = (p * tint).sum() / (tint * tint).sum()
        let residual = p - v * tint
        return v >= FashionMNISTScenes.inkThreshold * 0.999 && (residual * residual).sum() < 1e-10
    }

    func testBoxesAreTightAndTheRestIsBackground() throws {
        for size in [96, 64] {
            let scenes = try FashionMNISTScenes(split: .test, size: size)
            let batch = try scenes.scenes(0..<200)
            XCTAssertEqual(batch.images.shape, [200, 3, size, size])
            var objectCounts = Set<Int>(), labels = Set<Int>()
            for k in 0..<batch.count {
                let image = pixels(batch, k), plane = size * size
                let objects = batch.objects[k]
                XCTAssertTrue((1...4).contains(objects.count), "scene \(k) has \(objects.count) objects")
                objectCounts.insert(objects.count)
                var inside = [Bool](repeating: false, count: plane)
                for object in objects {
                    labels.insert(object.label)
                    XCTAssertTrue((0..<10).contains(object.label))
                    let b = object.box
                    XCTAssertTrue(0 <= b.x0 && b.x0 < b.x1 && b.x1 <= size && 0 <= b.y0 && b.y0 < b.y1 && b.y1 <= size, "\(b)")
                    XCTAssertLessThanOrEqual(max(b.x1 - b.x0, b.y1 - b.y0), scenes.garmentSides.upperBound)
                    // Each edge row and column of the box holds a pixel of this garment.
                    let top = (b.x0..<b.x1).map { b.y0 * size + $0 }, bottom = (b.x0..<b.x1).map { (b.y1 - 1) * size + $0 }
                    let left = (b.y0..<b.y1).map { $0 * size + b.x0 }, right = (b.y0..<b.y1).map { $0 * size + b.x1 - 1 }
                    for (edge, indices) in [("top", top), ("bottom", bottom), ("left", left), ("right", right)] {
                        XCTAssertTrue(indices.contains { isPainted(image, $0, plane: plane, by: object.tint) },
                                      "scene \(k): the \(edge) edge of \(b) holds no pixel of its garment")
                    }
                    for y in b.y0..<b.y1 { for x in b.x0..<b.x1 { inside[y * size + x] = true } }
                }
                // Outside the union of the boxes the canvas is black; inside, values stay in [0, 1].
                for i in 0..<plane {
                    let values = [image[i], image[plane + i], image[2 * plane + i]]
                    if inside[i] {
                        XCTAssertTrue(values.allSatisfy { $0 >= 0 && $0 <= 1 }, "scene \(k) pixel \(i): \(values)")
                    } else if values != [0, 0, 0] {
                        XCTFail("scene \(k): pixel (\(i % size), \(i / size)) outside every box is \(values)")
                        break
                    }
                }
            }
            XCTAssertEqual(objectCounts, [1, 2, 3, 4])
            XCTAssertEqual(labels, Set(0..<10))
        }
    }

    func testOverlapIsLimited() throws {
        let batch = try FashionMNISTScenes(split: .train).scenes(0..<300)
        var overlapping = 0
        for objects in batch.objects {
            for i in objects.indices {
                for j in objects.indices where j > i {
                    // Visible boxes lie inside the placed boxes, whose IoU is at most 0.3; hiding
                    // can shrink the union too, so allow a margin.
                    let iou = objects[i].box.intersectionOverUnion(with: objects[j].box)
                    XCTAssertLessThanOrEqual(iou, 0.5)
                    if iou > 0 { overlapping += 1 }
                }
            }
        }
        XCTAssertGreaterThan(overlapping, 0, "no scene has overlapping garments")
    }

    func testPixelBoxArithmetic() {
        let a = FashionMNISTScenes.PixelBox(x0: 0, y0: 0, x1: 4, y1: 4)
        let b = FashionMNISTScenes.PixelBox(x0: 2, y0: 0, x1: 6, y1: 4)
        XCTAssertEqual(a.area, 16)
        XCTAssertEqual(a.intersectionOverUnion(with: b), 8.0 / 24.0, accuracy: 1e-6)
        XCTAssertEqual(a.intersectionOverUnion(with: FashionMNISTScenes.PixelBox(x0: 4, y0: 4, x1: 5, y1: 5)), 0)
        XCTAssertEqual(b.coordinates, [2, 0, 6, 4])
        XCTAssertEqual(FashionMNISTScenes.rgb(hue: 0, saturation: 1, value: 1), SIMD3(1, 0, 0))
        XCTAssertEqual(FashionMNISTScenes.rgb(hue: 0.5, saturation: 1, value: 0.5), SIMD3(0, 0.5, 0.5))
        XCTAssertEqual(FashionMNISTScenes.rgb(hue: 0.5, saturation: 0, value: 0.8), SIMD3(0.8, 0.8, 0.8))
    }

    func testBadArgumentsThrow() throws {
        assertThrowsLoupeError(["fashion-mnist-scenes", "size 16"]) { try FashionMNISTScenes(split: .test, size: 16) }
        let scenes = try FashionMNISTScenes(split: .test, size: 32)
        XCTAssertEqual(scenes.garmentSides, 7...16)
        assertThrowsLoupeError(["fashion-mnist-scenes", "-1"]) { try scenes.scene(-1) }
        assertThrowsLoupeError(["fashion-mnist-scenes", "non-negative"]) { try scenes.scenes(-3..<2) }
        XCTAssertEqual(try scenes.scenes(5..<5).images.shape, [0, 3, 32, 32])
        assertThrowsLoupeError(["fashion-mnist", "missing"]) { try FashionMNISTScenes(split: .test, directory: "/no/such/dir") }
    }

    func testTenThousandScenesAreQuick() throws {
        let scenes = try FashionMNISTScenes(split: .train)
        let start = Date()
        let batch = try scenes.scenes(0..<10_000)
        let seconds = Date().timeIntervalSince(start)
        print("fashion-mnist-scenes: 10000 scenes of 96x96 in \(String(format: "%.2f", seconds)) s")
        XCTAssertEqual(batch.count, 10_000)
        XCTAssertEqual(batch.objects.map(\.count).reduce(0, +), batch.objects.joined().count)
        // A loose bound (the machine may be shared): generation is a few hundred milliseconds.
        XCTAssertLessThan(seconds, 10)
    }
}
