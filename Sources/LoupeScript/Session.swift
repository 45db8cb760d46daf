import Foundation
import LoupeTensor
import LoupeIO

/// One cell of a session or saved script: its code and the output lines it printed.
public struct Cell {
    public var number: Int
    public var code: String
    public var output: [String]
    /// The line in the file where the cell's code starts (1-based).
    public var line: Int
    public init(number: Int, code: String, output: [String], line: Int = 1) {
        self.number = number; self.code = code; self.output = output; self.line = line
    }
}

/// The outcome of running one cell.
public struct CellResult {
    public var output: [String]
    public var value: Value?
    public var error: ScriptError?
}

extension Interpreter {
    /// Runs a cell's code, capturing printed lines and (when `display`) the display of its value;
    /// `echo` also receives each line as soon as it is printed.
    public func runCell(_ code: String, name: String, display: Bool, firstLine: Int = 1,
                        echo: ((String) -> Void)? = nil) -> CellResult {
        var lines: [String] = []
        let saved = output
        output = { text in
            let printed = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            lines += printed
            if let echo { printed.forEach(echo) }
        }
        defer { output = saved }
        let padded = String(repeating: "\n", count: max(0, firstLine - 1)) + code
        let source = SourceFile(name: name, text: padded)
        do {
            let value = try run(source)
            if display, let value {
                if case .null = value {} else { output(value.display) }
            }
            return CellResult(output: lines, value: value, error: nil)
        } catch let e as ScriptError {
            return CellResult(output: lines, value: nil, error: e)
        } catch {
            return CellResult(output: lines, value: nil, error: ScriptError("\(error)", source: source, pos: nil))
        }
    }

    /// Reads a file for a builtin, recording its SHA-256 for the session header (`# file-sha256:`).
    /// The bytes are memory-mapped, not copied: a caller that only records the file (`model`,
    /// `load_weights`) costs no memory. The hash is streamed, and remembered across runs
    /// (`FileHashCache.shared`) while the file's size, times and inode are unchanged.
    public func readFile(_ path: String, op: String) throws -> Data {
        try checkFileAccess(op)
        let mapped = try MappedFile(path: path, op: op)
        if !filesRead.contains(where: { $0.path == path }) {
            filesRead.append((path, try FileHashCache.shared.sha256Hex(ofFile: path, op: op)))
        }
        return mapped.data
    }
}

extension Interpreter {
    /// Throws when file access is disabled (fuzzing).
    public func checkFileAccess(_ op: String) throws {
        guard allowFileAccess else { throw LoupeError("\(op): file access is disabled") }
    }
}

/// Saved sessions: a header, then cells marked `# [n]`, each followed by `#=> ` output lines.
public enum SessionFile {
    public static let outputPrefix = "#=> "

    /// The text of a replayable session file.
    public static func render(cells: [Cell], seed: UInt64?, files: [(path: String, sha256: String)], date: Date = Date()) -> String {
        var out = "# Loupe session\n# loupe-version: \(loupeVersion)\n"
        let f = ISO8601DateFormatter()
        out += "# date: \(f.string(from: date))\n"
        out += "# seed: \(seed.map(String.init) ?? "0 (the default: seed() was not called)")\n"
        for file in files { out += "# file-sha256: \(file.sha256) \(file.path)\n" }
        out += "\n"
        for cell in cells {
            out += "# [\(cell.number)]\n"
            out += cell.code.hasSuffix("\n") ? cell.code : cell.code + "\n"
            for line in cell.output { out += outputPrefix + line + "\n" }
        }
        return out
    }

    /// Splits a script into cells. Without `# [n]` markers the whole file is one cell.
    public static func parse(_ text: String) -> (cells: [Cell], files: [(path: String, sha256: String)], marked: Bool) {
        var cells: [Cell] = []
        var files: [(String, String)] = []
        var current: Cell? = nil
        var marked = false
        var preamble: [String] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (i, line) in lines.enumerated() {
            if line.hasPrefix("# file-sha256: ") {
                let rest = line.dropFirst("# file-sha256: ".count)
                if let space = rest.firstIndex(of: " ") {
                    files.append((String(rest[rest.index(after: space)...]), String(rest[..<space])))
                }
            }
            if line.hasPrefix("# ["), line.hasSuffix("]"), let n = Int(line.dropFirst(3).dropLast()) {
                marked = true
                if let c = current { cells.append(c) }
                current = Cell(number: n, code: "", output: [], line: i + 2)
                continue
            }
            if current == nil { preamble.append(line); continue }
            if line.hasPrefix(outputPrefix) || line == "#=>" {
                current!.output.append(line == "#=>" ? "" : String(line.dropFirst(outputPrefix.count)))
            } else {
                current!.code += line + "\n"
            }
        }
        if let c = current { cells.append(c) }
        if !marked {
            // An output line is "#=> text", or a bare "#=>" for an empty line (as in marked files).
            func isOutput(_ line: String) -> Bool { line.hasPrefix(outputPrefix) || line == "#=>" }
            let code = lines.filter { !isOutput($0) }.joined(separator: "\n")
            let output = lines.filter(isOutput).map { $0 == "#=>" ? "" : String($0.dropFirst(outputPrefix.count)) }
            cells = [Cell(number: 1, code: code, output: output, line: 1)]
        }
        for k in cells.indices {
            while cells[k].code.hasSuffix("\n") { cells[k].code.removeLast() }
        }
        return (cells, files, marked)
    }
}
