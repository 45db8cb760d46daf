import Foundation
import LoupeIO

/// Runs script files the way `loupe run` does: cell by cell, optionally verifying each cell's
/// output against its `#=> ` transcript and the recorded file hashes.
public struct ScriptRunner {
    /// What happened: the cells run (with their actual output) and the first failure, if any.
    public struct Report {
        public var cells: [Cell] = []
        /// PNG images each cell showed.
        public var images: [[[UInt8]]] = []
        public var failure: String? = nil
    }

    public let interpreter: Interpreter
    public init(interpreter: Interpreter) { self.interpreter = interpreter }

    /// A runner with an interpreter of the standard cores.
    public init() throws { self.init(interpreter: try Interpreter()) }

    /// Runs `text` (named `name`). Printed output goes to `echo` as it happens. With `verify`,
    /// stops at the first cell whose output differs from its transcript.
    public func run(text: String, name: String, verify: Bool, echo: (String) -> Void) -> Report {
        var report = Report()
        let parsed = SessionFile.parse(text)
        for cell in parsed.cells {
            let before = interpreter.shownImages.count
            let result = withoutActuallyEscaping(echo) { echo in
                interpreter.runCell(cell.code, name: name, display: parsed.marked, firstLine: cell.line, echo: echo)
            }
            var actual = cell
            actual.output = result.output
            report.cells.append(actual)
            report.images.append(Array(interpreter.shownImages[before...]))
            if let error = result.error {
                report.failure = error.description
                return report
            }
            if verify && result.output != cell.output {
                var message = "verify: cell [\(cell.number)] (line \(cell.line)) output differs from its transcript\n"
                let n = max(result.output.count, cell.output.count)
                for k in 0..<n {
                    let expected = k < cell.output.count ? cell.output[k] : "<none>"
                    let got = k < result.output.count ? result.output[k] : "<none>"
                    if expected != got {
                        message += "  first difference at output line \(k + 1):\n    recorded: \(expected)\n    replayed: \(got)"
                        break
                    }
                }
                report.failure = message
                return report
            }
        }
        if verify {
            for file in parsed.files {
                // Hashed afresh, not taken from the cache: verification reads every byte.
                guard let hash = try? FileDigest.sha256Hex(ofFile: file.path, op: "verify") else {
                    report.failure = "verify: recorded file '\(file.path)' cannot be read"
                    return report
                }
                if hash != file.sha256 {
                    report.failure = "verify: file '\(file.path)' changed: recorded SHA-256 \(file.sha256), now \(hash)"
                    return report
                }
            }
        }
        return report
    }
}
