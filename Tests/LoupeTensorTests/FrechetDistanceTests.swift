import XCTest
@testable import LoupeTensor

/// `frechetDistance` against pytorch-fid's computation with scipy's `sqrtm`
/// (Scripts/fixtures/frechet_distance.py) and a hand-derived case.
final class FrechetDistanceTests: XCTestCase {
    func testMatchesScipyFixtures() throws {
        let cases = try Fixtures.load("frechet_distance")
        XCTAssertEqual(cases.count, 9)
        for c in cases {
            let scipy = (c.args["scipy"] as? NSNumber)?.doubleValue ?? .nan
            let exact = (c.args["exact"] as? NSNumber)?.doubleValue ?? .nan
            let distance = try frechetDistance(try c.tensor("a"), try c.tensor("b"))
            XCTAssertEqual(distance, scipy, accuracy: 1e-6 * Swift.max(1, abs(scipy)), c.name)
            // Square roots of the ~1e-14 eigenvalue noise of singular products add up to ~1e-6.
            XCTAssertEqual(distance, exact, accuracy: 1e-6 * Swift.max(1, abs(exact)), c.name)
            if c.name.hasPrefix("identical") { XCTAssertLessThan(abs(distance), 1e-5, c.name) }
        }
    }

    /// d = 1: the distance is (mu_a - mu_b)^2 + (sd_a - sd_b)^2. a = [0, 2] (mean 1, variance 2),
    /// b = [1, 3, 5] (mean 3, variance 4): 4 + (sqrt 2 - 2)^2.
    func testOneDimensionalHandCase() throws {
        let a = try Tensor(shape: [2, 1], scalars: [0, 2]), b = try Tensor(shape: [3, 1], scalars: [1, 3, 5])
        let expected = 4 + (2.0.squareRoot() - 2) * (2.0.squareRoot() - 2)
        XCTAssertEqual(try frechetDistance(a, b), expected, accuracy: 1e-12)
        XCTAssertEqual(try frechetDistance(b, a), expected, accuracy: 1e-12)
    }

    func testErrorsNameTheShapes() throws {
        func message(_ a: [Int], _ b: [Int]) -> String {
            do { _ = try frechetDistance(try Tensor.zeros(a), try Tensor.zeros(b)); return "no error" } catch {
                return (error as? LoupeError)?.message ?? "\(error)"
            }
        }
        XCTAssertEqual(message([4], [4, 2]), "frechet_distance: features must be [n, d] matrices (one row per sample), got [4] and [4, 2]")
        XCTAssertEqual(message([4, 3], [5, 2]), "frechet_distance: features [4, 3] and [5, 2] must have the same positive number of columns")
        XCTAssertEqual(message([1, 3], [5, 3]), "frechet_distance: features [1, 3] and [5, 3] need at least 2 rows each for a covariance")
        let bad = try Tensor(shape: [2, 1], scalars: [0, .nan])
        XCTAssertThrowsError(try frechetDistance(bad, bad)) { error in
            XCTAssertTrue("\(error)".contains("non-finite values"), "\(error)")
        }
    }
}
