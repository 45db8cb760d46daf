import Foundation
import LoupeTensor

/// The REPL's logic, independent of the terminal: numbered cells, continuation of incomplete
/// input, meta-commands, `_`, saving, and completion. The `loupe` executable drives it with libedit.
public final class ReplSession {
    public private(set) var interpreter: Interpreter
    /// The language's cores (a `:reset` starts a new interpreter of the same cores).
    let table: BuiltinTable
    /// Successful cells, in order (what `:save` writes).
    public private(set) var cells: [Cell] = []
    /// The number of the next cell.
    public private(set) var cellNumber = 1
    /// Input lines of an incomplete cell.
    public private(set) var pending: [String] = []
    /// Every submitted cell's text (for `:history`).
    public private(set) var history: [String] = []
    public var journal: Journal?
    /// Where output goes.
    public var write: (String) -> Void = { print($0) }

    /// A session of the standard cores; throws when two cores declare the same name.
    public convenience init() throws {
        self.init(table: try .standard)
    }

    /// A session of the language made of the cores in `table`.
    public init(table: BuiltinTable) {
        self.table = table
        interpreter = Interpreter(table: table)
    }

    /// The prompt for the next line: `[3]> ` or a continuation prompt of the same width.
    public var prompt: String {
        let main = "[\(cellNumber)]> "
        return pending.isEmpty ? main : String(repeating: ".", count: main.count - 1) + " "
    }

    /// Drops an incomplete cell (Ctrl-C at the prompt).
    public func cancelInput() { pending = [] }

    /// What `feed` asks the front end to do next.
    public enum Next { case more, done, quit }

    /// Takes one input line. Returns `.more` when the cell is incomplete.
    public func feed(_ line: String) -> Next {
        if pending.isEmpty {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { return .done }
            if trimmed.hasPrefix(":") { history.append(trimmed); return meta(trimmed) }
        }
        pending.append(line)
        let code = pending.joined(separator: "\n")
        let source = SourceFile(name: "[\(cellNumber)]", text: code)
        do {
            _ = try interpreter.parse(source)
        } catch let e as ScriptError where e.incomplete {
            return .more
        } catch {}
        pending = []
        history.append(code)
        runCell(code)
        return .done
    }

    /// Runs a complete cell, printing its output and error; successful cells are kept and journaled.
    @discardableResult
    public func runCell(_ code: String) -> Bool {
        let number = cellNumber
        cellNumber += 1
        var printed: [String] = []
        let saved = interpreter.output
        interpreter.output = { [weak self] text in
            printed += text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            self?.write(text)
        }
        defer { interpreter.output = saved }
        let source = SourceFile(name: "[\(number)]", text: code)
        do {
            let value = try interpreter.run(source)
            if let value, !isNil(value) {
                interpreter.setVariable("_", value)
                let text = value.display
                printed += text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                write(labelled(text, number))
            }
            let cell = Cell(number: number, code: code, output: printed)
            cells.append(cell)
            journal?.record(cell)
            return true
        } catch let e as ScriptError {
            write(e.description)
        } catch {
            write("error: \(error)")
        }
        return false
    }

    private func isNil(_ v: Value) -> Bool { if case .null = v { return true }; return false }

    private func labelled(_ text: String, _ n: Int) -> String {
        let label = "[\(n)]= "
        let pad = String(repeating: " ", count: label.count)
        return text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            .map { ($0.offset == 0 ? label : pad) + $0.element }.joined(separator: "\n")
    }

    static let metaHelp = """
    :help             this help, then the builtins (help("name") for one)
    :vars             user variables and their values
    :history          cells typed so far
    :save FILE        write a replayable .loupe file (successful cells with #=> output)
    :load FILE        run a .loupe file's cells in this session
    :time EXPR        run EXPR and print how long it took
    :reset            forget all variables and cells
    :quit             leave (Ctrl-D works too)
    """

    func meta(_ command: String) -> Next {
        let parts = command.split(separator: " ", maxSplits: 1).map(String.init)
        let name = parts[0]
        let arg = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch name {
        case ":help", ":h":
            write(ReplSession.metaHelp)
            write((try? GeneralBindings.help(.null, interpreter)) ?? "")
        case ":vars":
            let names = interpreter.variableNames
            if names.isEmpty { write("(no variables)") }
            for n in names {
                guard let v = interpreter.variable(n) else { continue }
                let shown: String
                if case .tensor(let t) = v { shown = Display.statistics(t) } else { shown = Display.render(v, nested: true) }
                write("\(n) = \(shown.count > 100 ? String(shown.prefix(97)) + "..." : shown)")
            }
        case ":history":
            for (k, h) in history.enumerated() { write("\(k + 1): \(h.replacingOccurrences(of: "\n", with: "\n   "))") }
        case ":save":
            guard !arg.isEmpty else { write("error: :save needs a file name"); break }
            do {
                try save(to: arg)
                write("saved \(cells.count) cells to \(arg)")
            } catch { write("error: :save: \(error)") }
        case ":load":
            guard !arg.isEmpty else { write("error: :load needs a file name"); break }
            let text: String
            do { text = try ScriptText.read(arg) } catch { write("error: :load: \(error)"); break }
            for cell in SessionFile.parse(text).cells where !cell.code.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                if !runCell(cell.code) { break }
            }
        case ":time":
            guard !arg.isEmpty else { write("error: :time needs an expression"); break }
            let start = DispatchTime.now().uptimeNanoseconds
            runCell(arg)
            write(String(format: "time: %.3f ms", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6))
        case ":reset":
            let sink = interpreter.imageSink
            interpreter = Interpreter(table: table)
            interpreter.imageSink = sink
            cells = []
            write("session reset")
        case ":quit", ":q", ":exit":
            return .quit
        default:
            write("error: unknown command \(name) (try :help)")
        }
        return .done
    }

    /// Writes the session atomically as a replayable file.
    public func save(to path: String) throws {
        let text = SessionFile.render(cells: cells, seed: interpreter.seedValue, files: interpreter.filesRead)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    // MARK: Completion

    /// Completion candidates for the word before `cursor` in `line`: variables, builtins, methods
    /// and attributes after a dot, record keys inside `r["`, and file paths inside strings.
    /// Returns the word being completed and the full candidate words.
    public func completions(line: String, cursor: Int) -> (prefix: String, candidates: [String]) {
        let chars = Array(line.prefix(cursor))
        // Inside a string: complete a record key (r["...) or a file path.
        let quotes = chars.filter { $0 == "\"" }.count
        if quotes % 2 == 1, let open = chars.lastIndex(of: "\"") {
            let typed = String(chars[(open + 1)...])
            if open >= 2, chars[open - 1] == "[" {
                let objText = identifierChain(before: open - 1, in: chars)
                if let obj = resolve(objText), case .record(let r) = obj {
                    return (typed, r.keys.filter { $0.hasPrefix(typed) })
                }
            }
            return (typed, pathCompletions(typed))
        }
        var start = chars.count
        while start > 0, chars[start - 1].isLetter || chars[start - 1].isNumber || chars[start - 1] == "_" { start -= 1 }
        let word = String(chars[start...])
        if start > 0, chars[start - 1] == "." {
            let objText = identifierChain(before: start - 1, in: chars)
            guard let obj = resolve(objText) else { return (word, []) }
            return (word, interpreter.methodNames(of: obj).filter { $0.hasPrefix(word) })
        }
        let names = Set(interpreter.variableNames + Array(interpreter.builtins.keys) + Array(keywords))
        return (word, names.filter { $0.hasPrefix(word) }.sorted())
    }

    private func identifierChain(before end: Int, in chars: [Character]) -> String {
        var s = end
        while s > 0, chars[s - 1].isLetter || chars[s - 1].isNumber || chars[s - 1] == "_" || chars[s - 1] == "." { s -= 1 }
        return String(chars[s..<end])
    }

    /// Resolves `a.b.c` through variables and record keys without running code.
    private func resolve(_ chain: String) -> Value? {
        let parts = chain.split(separator: ".").map(String.init)
        guard let first = parts.first, var value = interpreter.variable(first) else { return nil }
        for p in parts.dropFirst() {
            guard case .record(let r) = value, let next = r[p] else { return nil }
            value = next
        }
        return value
    }

    private func pathCompletions(_ typed: String) -> [String] {
        let expanded = typed.hasPrefix("~/") ? NSHomeDirectory() + typed.dropFirst() : typed
        let dir: String, base: String
        if let slash = expanded.lastIndex(of: "/") {
            dir = String(expanded[...slash]); base = String(expanded[expanded.index(after: slash)...])
        } else {
            dir = ""; base = expanded
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? []
        let typedDir = typed.hasPrefix("~/") ? "~/" + dir.dropFirst(NSHomeDirectory().count + 1) : dir
        return names.filter { $0.hasPrefix(base) && !$0.hasPrefix(".") || (base.hasPrefix(".") && $0.hasPrefix(base)) }.sorted().map { name in
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: dir + name, isDirectory: &isDir)
            return typedDir + name + (isDir.boolValue ? "/" : "")
        }
    }
}
