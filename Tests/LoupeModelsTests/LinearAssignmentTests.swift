import XCTest
import LoupeModels
import LoupeTensor

/// LinearAssignment against scipy.optimize.linear_sum_assignment (fixtures from
/// Scripts/fixtures/linear_assignment.py) and against brute force on small matrices.
final class LinearAssignmentTests: XCTestCase {
    /// Checks that `a` is a valid assignment of a `rows x columns` matrix: min(rows, columns)
    /// pairs, rows increasing, no column twice, every row (wide) or column (tall) used.
    private func assertValid(_ a: LinearAssignment, rows: Int, columns: Int, _ message: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.rows.count, min(rows, columns), message, file: file, line: line)
        XCTAssertEqual(a.columns.count, a.rows.count, message, file: file, line: line)
        XCTAssertEqual(a.rows, a.rows.sorted(), "\(message): rows not increasing", file: file, line: line)
        XCTAssertEqual(Set(a.rows).count, a.rows.count, "\(message): a row twice", file: file, line: line)
        XCTAssertEqual(Set(a.columns).count, a.columns.count, "\(message): a column twice", file: file, line: line)
        XCTAssert(a.rows.allSatisfy { (0..<rows).contains($0) } && a.columns.allSatisfy { (0..<columns).contains($0) },
                  "\(message): index out of range", file: file, line: line)
    }

    func testMatchesScipy() throws {
        let cases = try Fixtures.load("linear_assignment")
        XCTAssertGreaterThan(cases.count, 20)
        var uniqueCount = 0
        for c in cases {
            let rows = try XCTUnwrap(c.int("rows")), columns = try XCTUnwrap(c.int("cols"))
            let costs = try c.tensor("cost").scalars.map(Double.init)
            let expectedTotal = try XCTUnwrap((c.args["total"] as? NSNumber)?.doubleValue)
            let a = try LinearAssignment.solve(costs, rows: rows, columns: columns)
            assertValid(a, rows: rows, columns: columns, c.name)
            let total = a.totalCost(of: costs, columns: columns)
            XCTAssertEqual(total, expectedTotal, accuracy: 1e-9 * max(1, abs(expectedTotal)), c.name)
            if c.bool("unique") == true {
                uniqueCount += 1
                XCTAssertEqual(a.rows, c.ints("row_ind"), c.name)
                XCTAssertEqual(a.columns, c.ints("col_ind"), c.name)
            }
        }
        XCTAssertGreaterThan(uniqueCount, 10)
    }

    /// Ties are broken as scipy breaks them (the same search order), so even matrices with many
    /// optimal assignments give scipy's.
    func testTiesAreBrokenAsScipy() throws {
        let cases = try Fixtures.load("linear_assignment").filter { $0.bool("unique") == false }
        XCTAssertGreaterThan(cases.count, 4)
        for c in cases {
            let rows = try XCTUnwrap(c.int("rows")), columns = try XCTUnwrap(c.int("cols"))
            let a = try LinearAssignment.solve(try c.tensor("cost").scalars.map(Double.init), rows: rows, columns: columns)
            XCTAssertEqual(a.rows, c.ints("row_ind"), c.name)
            XCTAssertEqual(a.columns, c.ints("col_ind"), c.name)
        }
    }

    /// The smallest total over every injective map of the shorter side into the longer.
    private func bruteForce(_ costs: [Double], rows: Int, columns: Int) -> Double {
        let tall = rows > columns
        let short = tall ? columns : rows, long = tall ? rows : columns
        func cost(_ s: Int, _ l: Int) -> Double { tall ? costs[l * columns + s] : costs[s * columns + l] }
        var best = Double.infinity
        var used = [Bool](repeating: false, count: long)
        func search(_ s: Int, _ sum: Double) {
            if s == short { best = min(best, sum); return }
            for l in 0..<long where !used[l] {
                used[l] = true
                search(s + 1, sum + cost(s, l))
                used[l] = false
            }
        }
        search(0, 0)
        return best
    }

    func testMatchesBruteForceOnSmallMatrices() throws {
        var generator = RandomGenerator(seed: 7)
        var checked = 0
        for rows in 1...6 {
            for columns in 1...6 {
                for trial in 0..<6 {
                    // Continuous costs, then small integers (many ties), then negative integers.
                    let costs: [Double] = (0..<(rows * columns)).map { _ in
                        switch trial % 3 {
                        case 0: return Double(generator.nextUniform())
                        case 1: return Double(generator.nextInt(below: 3))
                        default: return Double(generator.nextInt(below: 21)) - 10
                        }
                    }
                    let a = try LinearAssignment.solve(costs, rows: rows, columns: columns)
                    let name = "\(rows)x\(columns) trial \(trial)"
                    assertValid(a, rows: rows, columns: columns, name)
                    XCTAssertEqual(a.totalCost(of: costs, columns: columns), bruteForce(costs, rows: rows, columns: columns),
                                   accuracy: 1e-12, name)
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, 216)
    }

    func testHandDerivedCases() throws {
        let costs: [Double] = [4, 1, 3,
                               2, 0, 5,
                               3, 2, 2]
        let a = try LinearAssignment.solve(costs, rows: 3, columns: 3)
        XCTAssertEqual(a, LinearAssignment(rows: [0, 1, 2], columns: [1, 0, 2]))
        XCTAssertEqual(a.totalCost(of: costs, columns: 3), 5)
        // Tall: three rows, one column; the cheapest row takes it.
        XCTAssertEqual(try LinearAssignment.solve([3, -1, 2], rows: 3, columns: 1), LinearAssignment(rows: [1], columns: [0]))
        // Wide: the row takes the cheapest column.
        XCTAssertEqual(try LinearAssignment.solve([3, 2, 9, 2.5], rows: 1, columns: 4), LinearAssignment(rows: [0], columns: [1]))
        // Tall 3x2, rows listed increasing with their columns: (0 -> 1), (2 -> 0).
        XCTAssertEqual(try LinearAssignment.solve([5, 0, 9, 9, 1, 7], rows: 3, columns: 2), LinearAssignment(rows: [0, 2], columns: [1, 0]))
        // A constant matrix gives the identity, as scipy.
        XCTAssertEqual(try LinearAssignment.solve([Double](repeating: 1, count: 16), rows: 4, columns: 4),
                       LinearAssignment(rows: [0, 1, 2, 3], columns: [0, 1, 2, 3]))
    }

    func testEmptyMatricesGiveEmptyAssignments() throws {
        XCTAssertEqual(try LinearAssignment.solve([], rows: 0, columns: 5).count, 0)
        XCTAssertEqual(try LinearAssignment.solve([], rows: 4, columns: 0).count, 0)
        XCTAssertEqual(try LinearAssignment.solve([], rows: 0, columns: 0).count, 0)
    }

    func testNonFiniteCostsAndBadShapesThrow() {
        for bad in [Double.nan, .infinity, -.infinity] {
            XCTAssertThrowsError(try LinearAssignment.solve([1, 2, bad, 4], rows: 2, columns: 2)) { error in
                XCTAssert("\(error)".contains("cost [1, 0]") && "\(error)".contains("finite"), "\(error)")
            }
        }
        XCTAssertThrowsError(try LinearAssignment.solve([1, 2, 3], rows: 2, columns: 2)) { error in
            XCTAssert("\(error)".contains("2 x 2"), "\(error)")
        }
        XCTAssertThrowsError(try LinearAssignment.solve([], rows: -1, columns: 0))
    }
}
