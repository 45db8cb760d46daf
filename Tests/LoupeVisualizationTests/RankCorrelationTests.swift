import LoupeVisualization
import XCTest

/// Spearman's rank correlation against hand-derived values and scipy. The scipy values were
/// printed by (scipy 1.17.1, numpy 2.4.6):
///
///     from scipy.stats import spearmanr, rankdata
///     for x, y in cases: print(repr(spearmanr(x, y).statistic), rankdata(x), rankdata(y))
final class RankCorrelationTests: XCTestCase {
    /// (x, y, scipy's statistic, scipy's rankdata(x), rankdata(y)).
    static let scipyCases: [([Double], [Double], Double, [Double], [Double])] = [
        ([1, 2, 3, 4, 5], [5, 6, 7, 8, 7], 0.8207826816681233,
         [1, 2, 3, 4, 5], [1, 2, 3.5, 5, 3.5]),
        ([1, 2, 2, 3], [1, 3, 2, 4], 0.9486832980505139,
         [1, 2.5, 2.5, 4], [1, 3, 2, 4]),
        ([3.5, -1, 2, 2, 2, 10, 0.25], [1, 1, 1, 0, 4, 4, -2], 0.5242965552319168,
         [6, 1, 4, 4, 4, 7, 2], [4, 4, 4, 2, 6.5, 6.5, 1]),
        ([0.1, 0.4, 0.3, 0.9, 0.0, 0.7, 0.5, 0.2], [0.8, 0.1, 0.35, 0.3, 0.95, 0.15, 0.6, 0.7], -0.7857142857142858,
         [2, 5, 4, 8, 1, 7, 6, 3], [7, 1, 4, 3, 8, 2, 5, 6]),
        ([0, 0, 0, 1, 2, 2], [3, 3, 1, 1, 0, 0], -0.9036961141150641,
         [2, 2, 2, 4, 5.5, 5.5], [5.5, 5.5, 3.5, 3.5, 1.5, 1.5]),
    ]

    func testRanksMatchScipyRankdata() {
        for (x, y, _, rx, ry) in Self.scipyCases {
            XCTAssertEqual(averageRanks(x), rx, "\(x)")
            XCTAssertEqual(averageRanks(y), ry, "\(y)")
        }
    }

    func testSpearmanMatchesScipy() {
        for (x, y, expected, _, _) in Self.scipyCases {
            XCTAssertEqual(spearmanCorrelation(x, y), expected, accuracy: 1e-12, "\(x) vs \(y)")
            XCTAssertEqual(spearmanCorrelation(y, x), expected, accuracy: 1e-12, "symmetric")
            XCTAssertEqual(spearmanCorrelation(x.map(Float.init), y.map(Float.init)), expected, accuracy: 1e-12, "Float lists")
        }
    }

    /// Worked by hand.
    func testHandDerivedValues() {
        // Ranks [1, 2.5, 2.5, 4] and [1, 3, 2, 4], both with mean 2.5: deviations
        // [-1.5, 0, 0, 1.5] and [-1.5, 0.5, -0.5, 1.5]; sxy = 4.5, sxx = 4.5, syy = 5, so
        // r = 4.5 / sqrt(22.5) = 3 / sqrt(10).
        XCTAssertEqual(spearmanCorrelation([1, 2, 2, 3] as [Double], [1, 3, 2, 4]), 3 / 10.0.squareRoot(), accuracy: 1e-15)
        // No ties: 1 - 6 sum d^2 / (n (n^2 - 1)); ranks [2, 5, 4, 8, 1, 7, 6, 3] and
        // [7, 1, 4, 3, 8, 2, 5, 6] differ by d^2 = 25 + 16 + 0 + 25 + 49 + 25 + 1 + 9 = 150:
        // 1 - 900 / 504 = -11 / 14.
        XCTAssertEqual(spearmanCorrelation([0.1, 0.4, 0.3, 0.9, 0.0, 0.7, 0.5, 0.2] as [Double],
                                           [0.8, 0.1, 0.35, 0.3, 0.95, 0.15, 0.6, 0.7]), -11.0 / 14, accuracy: 1e-15)
        // Only the order matters: a monotonic map of either list changes nothing.
        let x: [Double] = [0.3, -2, 5, 1, 1, 7]
        XCTAssertEqual(spearmanCorrelation(x, x), 1)
        XCTAssertEqual(spearmanCorrelation(x, x.map { exp($0) * 3 + 1 }), 1, accuracy: 1e-15)
        XCTAssertEqual(spearmanCorrelation(x, x.map { -$0 * $0 * $0 }), -1, accuracy: 1e-15)
    }

    func testUndefinedCasesAreNaN() {
        XCTAssertTrue(spearmanCorrelation([1, 1, 1] as [Double], [1, 2, 3]).isNaN, "constant input (scipy: nan)")
        XCTAssertTrue(spearmanCorrelation([1, 2] as [Double], [1, 2, 3]).isNaN, "lengths differ")
        XCTAssertTrue(spearmanCorrelation([1] as [Double], [1]).isNaN, "one value")
        XCTAssertTrue(spearmanCorrelation([1, .nan, 3] as [Double], [1, 2, 3]).isNaN, "NaN propagates")
        XCTAssertEqual(spearmanCorrelation([1, 2] as [Double], [3, 4]), 1)
    }
}
