import LoupeTensor
import XCTest
@testable import LoupeInputOptimization

final class RandomTransformTests: XCTestCase {
    /// lucent's lists: scales 1 + (i - 5) / 50 and angles -10...10 plus five 0s.
    func testStandardParameters() {
        XCTAssertEqual(RandomTransform.standardScales.count, 11)
        XCTAssertEqual(RandomTransform.standardScales.first ?? 0, 0.9, accuracy: 1e-12)
        XCTAssertEqual(RandomTransform.standardScales[5], 1)
        XCTAssertEqual(RandomTransform.standardScales.last ?? 0, 1.1, accuracy: 1e-12)
        XCTAssertEqual(RandomTransform.standardAngles.count, 26)
        XCTAssertEqual(RandomTransform.standardAngles.filter { $0 == 0 }.count, 6)
        XCTAssertEqual(RandomTransform.standardAngles.min(), -10)
        XCTAssertEqual(RandomTransform.standardAngles.max(), 10)
    }

    func testPadFillsConstantOnEverySide() throws {
        var generator = RandomGenerator(seed: 1)
        let x = try Tensor.ones([1, 1, 1, 2])
        let padded = try RandomTransform.pad(1, mode: .constant, value: 0.5)(x, generator: &generator)
        XCTAssertEqual(padded.shape, [1, 1, 3, 4])
        XCTAssertEqual(padded.scalars, [0.5, 0.5, 0.5, 0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.5])
    }

    /// jitter draws dx, then dy, each below d, from the generator it is given.
    func testJitterDrawsFromTheGenerator() throws {
        var source = RandomGenerator(seed: 2)
        let x = try Tensor.uniform([1, 2, 6, 7], generator: &source)
        let jitter = try RandomTransform.jitter(4)
        var generator = RandomGenerator(seed: 9), replay = RandomGenerator(seed: 9)
        for _ in 0..<5 {
            let produced = try jitter(x, generator: &generator)
            let dx = replay.nextInt(below: 4), dy = replay.nextInt(below: 4)
            XCTAssertEqual(produced.scalars, try ImageGeometry.translated(x, dx: dx, dy: dy).scalars)
        }
        XCTAssertThrowsError(try RandomTransform.jitter(1)) { error in
            XCTAssertTrue("\(error)".contains("jitter: d must be more than 1, got 1"), "\(error)")
        }
    }

    /// roll draws dy, then dx, in -max...max and shifts circularly.
    func testRollDrawsFromTheGenerator() throws {
        let x = try Tensor(shape: [1, 1, 2, 3], scalars: [1, 2, 3, 4, 5, 6])
        var generator = RandomGenerator(seed: 5), replay = RandomGenerator(seed: 5)
        let produced = try RandomTransform.roll(2)(x, generator: &generator)
        let dy = replay.nextInt(below: 5) - 2, dx = replay.nextInt(below: 5) - 2
        XCTAssertEqual(produced.scalars, try x.rolled(shifts: [dy, dx], axes: [2, 3]).scalars)
    }

    /// The standard pipeline is reproducible from the seed, differentiable, and its output size
    /// follows lucent's: +24 from the padding, then the random scale's size.
    func testStandardTransformsAreSeededAndDifferentiable() throws {
        var source = RandomGenerator(seed: 3)
        let x = try Tensor.uniform([1, 3, 16, 16], generator: &source)
        let transform = try RandomTransform.standard()
        var a = RandomGenerator(seed: 11), b = RandomGenerator(seed: 11)
        for _ in 0..<4 {
            let first = try transform(x, generator: &a), second = try transform(x, generator: &b)
            XCTAssertEqual(first.scalars, second.scalars)
            XCTAssertTrue((40...45).contains(first.shape[2]), "\(first.shape)")
        }
        let leaf = x.requiringGrad()
        var generator = RandomGenerator(seed: 12)
        let out = try transform(leaf, generator: &generator)
        let gradients = try Autograd.gradients(of: try out.sum(), wrt: [leaf])
        XCTAssertEqual(gradients[0].shape, x.shape)
        XCTAssertTrue(gradients[0].scalars.contains { $0 != 0 })
    }
}
