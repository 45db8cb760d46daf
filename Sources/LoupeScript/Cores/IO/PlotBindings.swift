import Foundation
import LoupeIO
import LoupeTensor

/// `plot`: line charts of training histories and series, drawn by LoupeIO's LinePlot.
enum PlotBindings {
    static let historyKeys: Set<String> = ["loss", "accuracy", "test_loss", "test_accuracy"]

    /// The points of a list of numbers (or rank-0 tensors) or of a 1-D tensor; nil for other values.
    static func points(_ value: Value, _ name: String) throws -> [Float]? {
        switch value {
        case .tensor(let t):
            guard t.rank == 1 else {
                throw LoupeError("plot: \(name) must be a 1-D tensor or a list of numbers, got a tensor of shape \(describe(shape: t.shape))")
            }
            return t.detached().scalars
        case .list(let l):
            return try l.items.enumerated().map { i, item in
                switch item {
                case .number(let n): return Float(n)
                case .tensor(let t) where t.count == 1: return t.detached().scalars[0]
                default: throw LoupeError("plot: \(name) item \(i) is a \(item.typeName), expected a number")
                }
            }
        default: return nil
        }
    }

    static func series(_ value: Value, _ name: String, label: String) throws -> LinePlot.Series {
        guard let values = try points(value, label) else {
            throw LoupeError("plot: \(label) is a \(value.typeName), expected a list of numbers or a 1-D tensor")
        }
        return LinePlot.Series(name: name, values: values)
    }

    /// Panels for `plot`'s first argument (see the builtin's doc).
    static func panels(_ data: Value, ylabel: String) throws -> [LinePlot.Panel] {
        if let values = try points(data, "the series") {
            return [LinePlot.Panel(ylabel: ylabel, series: [LinePlot.Series(name: "", values: values)])]
        }
        guard case .record(let r) = data else {
            throw LoupeError("plot: expected a list, a 1-D tensor or a record of series, got \(data.typeName)")
        }
        guard r.count > 0 else { throw LoupeError("plot: the record is empty; nothing to draw") }
        if r["loss"] != nil, r.keys.contains(where: { $0 != "loss" && historyKeys.contains($0) }) {
            return try historyPanels(r)
        }
        let nested: [(String, RecordBox)] = r.keys.compactMap { key in
            if case .record(let inner)? = r[key] { return (key, inner) }
            return nil
        }
        if nested.count == r.count {
            return try nested.map { key, inner in
                LinePlot.Panel(title: key, ylabel: ylabel,
                               series: try inner.keys.map { try series(inner[$0]!, $0, label: "series '\(key).\($0)'") })
            }
        }
        return [LinePlot.Panel(ylabel: ylabel, series: try r.keys.map { try series(r[$0]!, $0, label: "series '\($0)'") })]
    }

    /// A `train` history: a loss panel and an accuracy panel, each with train and test lines.
    /// Test series that are empty or entirely nan (no test split) are left out; other keys are ignored.
    static func historyPanels(_ r: RecordBox) throws -> [LinePlot.Panel] {
        func line(_ key: String, _ name: String) throws -> LinePlot.Series? {
            guard let value = r[key] else { return nil }
            let s = try series(value, name, label: "history '\(key)'")
            if key.hasPrefix("test_") && !s.values.contains(where: \.isFinite) { return nil }
            return s
        }
        var panels: [LinePlot.Panel] = []
        for metric in ["loss", "accuracy"] {
            let lines = [try line(metric, "train"), try line("test_" + metric, "test")].compactMap { $0 }
            if !lines.isEmpty { panels.append(LinePlot.Panel(title: metric, series: lines)) }
        }
        return panels
    }

    static let all: [Builtin] = [
        Builtin("plot(data, path: nil, title: \"\", xlabel: \"epoch\", ylabel: \"\")",
                "Draws line charts and returns the image [3, H, W]: data is a list or 1-D tensor (one line), a record of them (one line per key, with a legend), a record of such records (one panel per key), or a history from train (panels loss and accuracy, train and test lines). Point i is drawn at x = i + 1; nan points are skipped. Shown inline like show; written as PNG when path is given.") { a in
            let ylabel = try a.string("ylabel")
            let drawn: [LinePlot.Panel]
            do { drawn = try panels(a["data"], ylabel: ylabel) } catch let error as LoupeError { throw a.error("data", error.message) }
            let plot = LinePlot(panels: drawn, title: try a.string("title"), xlabel: try a.string("xlabel"))
            let image = try plot.render()
            let png = try PNG.encode(image)
            if !a.isNil("path") {
                try a.interpreter.checkFileAccess("plot")
                try FileIO.writeAtomically([UInt8](png), to: try a.string("path"), op: "plot")
            }
            a.interpreter.shownImages.append([UInt8](png))
            a.interpreter.imageSink?(image, [UInt8](png))
            a.interpreter.output("<image \(describe(shape: image.shape))>")
            return .tensor(image)
        },
    ]
}
