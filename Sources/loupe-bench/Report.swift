import Foundation

/// One row of the benchmark table.
struct BenchRow {
    enum Unit: String {
        case gflops = "GFLOPS"
        case gbps = "GB/s"
        case ms = "ms"
        case mb = "MB"
        case imagesPerSecond = "img/s"

        /// Whether a larger value is better.
        var higherIsBetter: Bool { self != .ms && self != .mb }
    }

    /// The workload; also the key shared with Scripts/bench_torch.py.
    let name: String
    let unit: Unit
    let loupe: Double
    /// The in-process reference (direct sgemm, memcpy of the same bytes), when there is one.
    var baseline: Double? = nil
    var baselineName: String? = nil
    var torch: Double? = nil

    /// Speed of `a` relative to `b` (> 1: `a` is faster), whatever the unit.
    func speedRatio(_ a: Double, _ b: Double) -> Double {
        unit.higherIsBetter ? a / b : b / a
    }
}

/// PyTorch results written by Scripts/bench_torch.py.
enum TorchResults {
    /// The PyTorch version (with its OpenMP wait policy) and the rows by name.
    static func load(_ path: String) throws -> (version: String, rows: [String: (Double, String)]) {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let rows = root["rows"] as? [String: [String: Any]] else {
            throw BenchError("loupe-bench: \(path) is not a bench_torch.py result")
        }
        var result: [String: (Double, String)] = [:]
        for (name, row) in rows {
            if let value = (row["value"] as? NSNumber)?.doubleValue, let unit = row["unit"] as? String {
                result[name] = (value, unit)
            }
        }
        let policy = root["omp_wait_policy"] as? String ?? "default"
        return ((root["torch"] as? String ?? "?") + ", OMP_WAIT_POLICY=\(policy)", result)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Prints rows as one aligned table.
enum TablePrinter {
    static func format(_ value: Double?, _ unit: BenchRow.Unit) -> String {
        guard let value, value.isFinite else { return "-" }
        let digits = value >= 100 ? 0 : (value >= 10 ? 1 : 2)
        return String(format: "%.\(digits)f %@", value, unit.rawValue)
    }

    static func ratio(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "-" }
        return String(format: "%.2fx", value)
    }

    static func print(_ rows: [BenchRow], torchVersion: String?) {
        var table: [[String]] = [["workload", "Loupe", "reference", "Loupe/ref", "PyTorch", "Loupe/PyTorch"]]
        for row in rows {
            let reference = row.baseline.map { format($0, row.unit) + " " + (row.baselineName ?? "") } ?? "-"
            table.append([
                row.name,
                format(row.loupe, row.unit),
                reference,
                ratio(row.baseline.map { row.speedRatio(row.loupe, $0) }),
                format(row.torch, row.unit),
                ratio(row.torch.map { row.speedRatio(row.loupe, $0) }),
            ])
        }
        let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max() ?? 0 }
        for (index, line) in table.enumerated() {
            let cells = line.enumerated().map { column, text in
                column == 0 ? text.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                            : String(repeating: " ", count: widths[column] - text.count) + text
            }
            Swift.print(cells.joined(separator: "  "))
            if index == 0 { Swift.print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        Swift.print("")
        Swift.print("Ratios are speed ratios (> 1.00x: Loupe faster; for ms rows the inverse time ratio; for MB rows PyTorch/Loupe memory).")
        Swift.print("reference: the same work in-process (direct cblas_sgemm on OpenBLAS's own threads, or memcpy of the bytes read + written).")
        if let torchVersion {
            Swift.print("PyTorch \(torchVersion), torch.set_num_threads(2), same shapes.")
        } else {
            Swift.print("PyTorch column empty: run through Scripts/bench with PyTorch installed, or pass --torch FILE.")
        }
    }
}
