/// Ranks of `values` from 1 (the smallest) to n, tied values sharing the mean of the ranks they
/// span: `scipy.stats.rankdata(values, method="average")`. NaN is not allowed (it has no
/// rank); callers check for it.
public func averageRanks(_ values: [Double]) -> [Double] {
    let order = values.indices.sorted { values[$0] < values[$1] || (values[$0] == values[$1] && $0 < $1) }
    var ranks = [Double](repeating: 0, count: values.count)
    var start = 0
    while start < order.count {
        var end = start + 1
        while end < order.count && values[order[end]] == values[order[start]] { end += 1 }
        // Positions start..<end hold one value: ranks start + 1 ... end, whose mean is this.
        let shared = Double(start + 1 + end) / 2
        for k in start..<end { ranks[order[k]] = shared }
        start = end
    }
    return ranks
}

/// Pearson's correlation of two equally long lists: NaN when they are shorter than 2, differ in
/// length, or either is constant (as scipy, which also warns).
public func pearsonCorrelation(_ x: [Double], _ y: [Double]) -> Double {
    let n = x.count
    guard n >= 2, y.count == n else { return .nan }
    let mx = x.reduce(0, +) / Double(n), my = y.reduce(0, +) / Double(n)
    var sxy = 0.0, sxx = 0.0, syy = 0.0
    for i in 0..<n {
        let dx = x[i] - mx, dy = y[i] - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    }
    guard sxx > 0, syy > 0 else { return .nan }
    // Rounding can carry |r| a hair past 1 for (anti-)identical rankings; clamp as scipy does.
    return min(1, max(-1, sxy / (sxx * syy).squareRoot()))
}

/// Spearman's rank correlation of two equally long lists: Pearson's correlation of their
/// average ranks (ties share the mean rank), as `scipy.stats.spearmanr(x, y).statistic`. NaN
/// when either list is constant, holds a non-finite value, the lengths differ or n < 2.
public func spearmanCorrelation(_ x: [Double], _ y: [Double]) -> Double {
    guard x.count == y.count, x.count >= 2, x.allSatisfy(\.isFinite), y.allSatisfy(\.isFinite) else { return .nan }
    return pearsonCorrelation(averageRanks(x), averageRanks(y))
}

/// `spearmanCorrelation` of `Float` lists (computed in `Double`).
public func spearmanCorrelation(_ x: [Float], _ y: [Float]) -> Double {
    spearmanCorrelation(x.map(Double.init), y.map(Double.init))
}
