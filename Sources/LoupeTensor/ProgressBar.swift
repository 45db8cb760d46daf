import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar for long work (training, optimisation, sampling): steps done, loss,
/// rate and ETA, redrawn in place on standard error at most ten times a second.
///
/// It draws only when standard error is a terminal (and `LOUPE_PROGRESS` is not `0`), so logs,
/// pipes, tests and CI stay quiet. `LOUPE_PROGRESS=1` forces it on.
public final class ProgressBar {
    public let label: String
    public let total: Int
    private let enabled: Bool
    private let start: Double
    private var lastDraw: Double = -1
    private var lastLength = 0
    private var drewSomething = false

    /// Whether bars draw in this process (standard error is a terminal, or forced by the
    /// environment variable `LOUPE_PROGRESS`).
    public static let isTerminal: Bool = {
        if let forced = getenv("LOUPE_PROGRESS").map({ String(cString: $0) }) {
            return forced != "0"
        }
        return isatty(STDERR_FILENO) == 1
    }()

    /// Starts a bar of `total` steps. `enabled` defaults to `ProgressBar.isTerminal`.
    public init(_ label: String, total: Int, enabled: Bool = ProgressBar.isTerminal) {
        self.label = label
        self.total = max(total, 0)
        self.enabled = enabled
        self.start = ProgressBar.now()
    }

    /// Reports that `completed` steps are done, with the latest loss and extra `name value` pairs.
    public func update(_ completed: Int, loss: Double? = nil, metrics: [(String, String)] = []) {
        guard enabled else { return }
        let now = ProgressBar.now()
        guard completed >= total || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        let line = ProgressBar.render(label: label, completed: completed, total: total, elapsed: now - start,
                                      loss: loss, metrics: metrics)
        let padding = String(repeating: " ", count: max(0, lastLength - line.count))
        lastLength = line.count
        drewSomething = true
        fputs("\r" + line + padding, stderr)
        fflush(stderr)
    }

    /// Ends the bar's line (leaving the final state visible).
    public func finish() {
        guard enabled, drewSomething else { return }
        fputs("\n", stderr)
        fflush(stderr)
        drewSomething = false
    }

    /// The text of one bar: `label [#########.........] 45/100 loss 0.01234 | 3.40 it/s | ETA 0:12`.
    public static func render(label: String, completed: Int, total: Int, elapsed: Double, loss: Double?,
                              metrics: [(String, String)] = [], width: Int = 24) -> String {
        let done = min(max(completed, 0), max(total, 1))
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = Int((fraction * Double(width)).rounded(.down))
        var parts = ["\(label) [" + String(repeating: "#", count: filled)
                     + String(repeating: ".", count: width - filled) + "] \(done)/\(total)"]
        if let loss { parts.append("loss " + formatLoss(loss)) }
        for (name, value) in metrics { parts.append("\(name) \(value)") }
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        if rate > 0 { parts.append(rate >= 10 ? "\(Int(rate.rounded())) it/s" : formatFixed(rate, 2) + " it/s") }
        if done >= total {
            parts.append("took " + formatDuration(elapsed))
        } else if rate > 0 {
            parts.append("ETA " + formatDuration(Double(total - done) / rate))
        }
        return parts.joined(separator: " | ").replacingFirstSeparator()
    }

    static func formatLoss(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        let magnitude = Swift.abs(value)
        if magnitude != 0 && (magnitude < 1e-3 || magnitude >= 1e5) {
            let exponent = Int(log10(magnitude).rounded(.down))
            let mantissa = value / pow(10, Double(exponent))
            return formatFixed(mantissa, 3) + "e" + (exponent < 0 ? "-" : "+") + String(Swift.abs(exponent))
        }
        return formatFixed(value, magnitude >= 100 ? 2 : 5)
    }

    static func formatFixed(_ value: Double, _ decimals: Int) -> String {
        let scale = pow(10, Double(decimals))
        let rounded = (Swift.abs(value) * scale).rounded() / scale
        let whole = Int(rounded.rounded(.down))
        let fraction = Int(((rounded - Double(whole)) * scale).rounded())
        let digits = String(fraction)
        let text = "\(whole)." + String(repeating: "0", count: max(0, decimals - digits.count)) + digits
        return (value < 0 && rounded != 0 ? "-" : "") + text
    }

    static func formatDuration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60)
        let two = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
        return h > 0 ? "\(h):\(two(m)):\(two(s))" : "\(m):\(two(s))"
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}

private extension String {
    /// The first " | " (between the bar and its counters) reads better as two spaces.
    func replacingFirstSeparator() -> String {
        guard let range = range(of: " | ") else { return self }
        return replacingCharacters(in: range, with: "  ")
    }
}
