import Foundation
import LoupeTensor

/// An optimal one-to-one assignment of the rows of a cost matrix to its columns, as
/// `scipy.optimize.linear_sum_assignment` returns it.
///
/// For an `r x c` matrix, `min(r, c)` pairs are made: every row is assigned when `r <= c`, every
/// column when `r > c`, and the sum of the chosen costs is the smallest possible. `rows` is
/// increasing and `columns[k]` is the column assigned to `rows[k]`.
///
///     let costs: [Double] = [4, 1, 3,
///                            2, 0, 5,
///                            3, 2, 2]
///     let a = try LinearAssignment.solve(costs, rows: 3, columns: 3)
///     // a.rows == [0, 1, 2], a.columns == [1, 0, 2], a.totalCost(of: costs, columns: 3) == 5
///
/// The solver is the shortest augmenting path method of Jonker and Volgenant for rectangular
/// matrices in Crouse's formulation ("On implementing 2D rectangular assignment algorithms",
/// 2016), step for step as scipy's `rectangular_lsap.cpp`: rows are added one at a time, each
/// by a Dijkstra search over reduced costs with dual variables, ties between equally short
/// paths are broken the same way, so the assignment agrees with scipy's even when several are
/// optimal. A tall matrix is solved transposed. Time O(r c min(r, c)), memory O(r + c) besides
/// the transposed copy.
public struct LinearAssignment: Equatable, Sendable {
    /// The assigned rows, increasing.
    public var rows: [Int]
    /// The column assigned to each of `rows`.
    public var columns: [Int]

    /// A given assignment (no optimality is implied).
    public init(rows: [Int], columns: [Int]) {
        self.rows = rows
        self.columns = columns
    }

    /// The number of assigned pairs.
    public var count: Int { rows.count }

    /// The sum of `costs[rows[k] * columns + self.columns[k]]` over the pairs, for the row-major
    /// matrix the assignment was solved for (`columns` is its number of columns).
    public func totalCost(of costs: [Double], columns width: Int) -> Double {
        zip(rows, columns).reduce(0) { $0 + costs[$1.0 * width + $1.1] }
    }

    /// The optimal assignment for the row-major `rows x columns` matrix `costs`. An empty matrix
    /// (no rows or no columns) gives the empty assignment. Throws when the count of `costs`
    /// does not match the shape or a cost is NaN or infinite (the error names the first such
    /// entry by row and column).
    public static func solve(_ costs: [Double], rows: Int, columns: Int) throws -> LinearAssignment {
        guard rows >= 0, columns >= 0, costs.count == rows * columns else {
            throw LoupeError("linear assignment: \(costs.count) costs do not form a \(rows) x \(columns) matrix")
        }
        if let bad = costs.firstIndex(where: { !$0.isFinite }) {
            throw LoupeError("linear assignment: cost [\(bad / columns), \(bad % columns)] is \(costs[bad]); costs must be finite")
        }
        if rows == 0 || columns == 0 { return LinearAssignment(rows: [], columns: []) }
        if rows <= columns {
            let columnOfRow = costs.withUnsafeBufferPointer { solveWide($0, rows: rows, columns: columns) }
            return LinearAssignment(rows: Array(0..<rows), columns: columnOfRow)
        }
        // A tall matrix: assign every column of the transpose's rows, then list by original row.
        var transposed = [Double](repeating: 0, count: costs.count)
        for i in 0..<rows {
            for j in 0..<columns { transposed[j * rows + i] = costs[i * columns + j] }
        }
        let rowOfColumn = transposed.withUnsafeBufferPointer { solveWide($0, rows: columns, columns: rows) }
        let order = rowOfColumn.indices.sorted { rowOfColumn[$0] < rowOfColumn[$1] }
        return LinearAssignment(rows: order.map { rowOfColumn[$0] }, columns: order)
    }

    /// The column of every row of a finite `rows x columns` matrix with `rows <= columns`.
    private static func solveWide(_ cost: UnsafeBufferPointer<Double>, rows nr: Int, columns nc: Int) -> [Int] {
        var u = [Double](repeating: 0, count: nr)
        var v = [Double](repeating: 0, count: nc)
        var shortest = [Double](repeating: .infinity, count: nc)
        var path = [Int](repeating: -1, count: nc)
        var columnOfRow = [Int](repeating: -1, count: nr)
        var rowOfColumn = [Int](repeating: -1, count: nc)
        var visitedRow = [Bool](repeating: false, count: nr)
        var visitedColumn = [Bool](repeating: false, count: nc)
        var remaining = [Int](repeating: 0, count: nc)
        for current in 0..<nr {
            // Dijkstra from `current` over reduced costs to the nearest unassigned column.
            var remainingCount = nc
            for k in 0..<nc { remaining[k] = nc - k - 1 }  // reverse order: a constant matrix gives the identity
            for k in 0..<nr { visitedRow[k] = false }
            for k in 0..<nc { visitedColumn[k] = false; shortest[k] = .infinity }
            var minimum = 0.0
            var i = current
            var sink = -1
            while sink < 0 {
                var index = -1
                var lowest = Double.infinity
                visitedRow[i] = true
                let row = i * nc, ui = u[i]
                for k in 0..<remainingCount {
                    let j = remaining[k]
                    let reduced = minimum + cost[row + j] - ui - v[j]
                    if reduced < shortest[j] {
                        path[j] = i
                        shortest[j] = reduced
                    }
                    // Among equally short paths prefer one ending at a free column.
                    if shortest[j] < lowest || (shortest[j] == lowest && rowOfColumn[j] == -1) {
                        lowest = shortest[j]
                        index = k
                    }
                }
                // Finite costs always leave a finite path to some column.
                minimum = lowest
                let j = remaining[index]
                if rowOfColumn[j] == -1 { sink = j } else { i = rowOfColumn[j] }
                visitedColumn[j] = true
                remainingCount -= 1
                remaining[index] = remaining[remainingCount]
            }
            // Update the dual variables.
            u[current] += minimum
            for r in 0..<nr where visitedRow[r] && r != current {
                u[r] += minimum - shortest[columnOfRow[r]]
            }
            for c in 0..<nc where visitedColumn[c] {
                v[c] -= minimum - shortest[c]
            }
            // Augment along the path back from the sink.
            var j = sink
            while true {
                let r = path[j]
                rowOfColumn[j] = r
                swap(&columnOfRow[r], &j)
                if r == current { break }
            }
        }
        return columnOfRow
    }
}
