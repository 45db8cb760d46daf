import LoupeTensor
import XCTest
import LoupeInputOptimization
import LoupeTestSupport

final class RegularizersTests: XCTestCase {
    func testTotalVariationGradients() throws {
        var generator = RandomGenerator(seed: 5)
        let x = try Tensor.uniform([2, 2, 4, 5], generator: &generator)
        try assertGradientsMatchFiniteDifferences([x], step: 1e-2, rtol: 1e-2, atol: 1e-4) { inputs in
            try Regularizers.totalVariation(inputs[0])
        }
        // Hand value: a 1 x 1 x 2 x 2 image [[0, 1], [0, 1]]: dy = 0, dx = 1 everywhere.
        let step = try Tensor(shape: [1, 1, 2, 2], scalars: [0, 1, 0, 1])
        XCTAssertEqual(try Regularizers.totalVariation(step).item(), 1, accuracy: 1e-6)
    }
}
