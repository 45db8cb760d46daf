import XCTest
@testable import LoupeScript

/// Runs every Tests/LoupeScriptTests/Scripts/**/*.loupe file. Each top-level statement runs in
/// turn; printed lines must match `# expect: <line>` comments in order, and a statement's error
/// must match the next `# expect error: <substring>`; `# expect error at column N: <substring>`
/// also checks the column of the error's caret. A syntax error must be the only expectation.
final class ScriptTests: XCTestCase {
    static let scriptsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")

    enum Expectation: Equatable {
        case line(String)
        /// An error message, with the caret's column when one is expected or known.
        case error(String, column: Int? = nil)
    }

    static func expectations(in text: String) -> [(Expectation, Int)] {
        var result: [(Expectation, Int)] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let r = line.range(of: "# expect error at column ") {
                let rest = line[r.upperBound...]
                guard let colon = rest.firstIndex(of: ":"), let column = Int(rest[..<colon]) else {
                    result.append((.error("<malformed expectation>"), i + 1)); continue
                }
                result.append((.error(String(rest[rest.index(colon, offsetBy: 2)...]), column: column), i + 1))
            } else if let r = line.range(of: "# expect error: ") {
                result.append((.error(String(line[r.upperBound...])), i + 1))
            } else if let r = line.range(of: "# expect: ") {
                result.append((.line(String(line[r.upperBound...])), i + 1))
            }
        }
        return result
    }

    /// Runs a script statement by statement, returning printed lines and errors in order.
    static func outputs(of text: String, name: String, interpreter: Interpreter) -> [Expectation] {
        var out: [Expectation] = []
        interpreter.output = { s in out += s.split(separator: "\n", omittingEmptySubsequences: false).map { .line(String($0)) } }
        let source = SourceFile(name: name, text: text)
        let stmts: [Stmt]
        // Syntax errors and the resolver's checks reject the whole file before it runs.
        do {
            stmts = try interpreter.parse(source)
            try interpreter.check(stmts, source: source)
        } catch let e as ScriptError {
            return [.error(e.message)]
        } catch { return [.error("\(error)")] }
        for stmt in stmts {
            do { _ = try interpreter.execute([stmt], source: source) } catch let e as ScriptError {
                out.append(.error(e.message, column: e.pos?.column))
                // Every error must format with a position and a caret.
                if e.pos != nil && !e.description.contains("^") { out.append(.error("<no caret>")) }
            } catch {
                out.append(.error("non-script error: \(error)"))
            }
        }
        return out
    }

    func testScripts() throws {
        try Self.checkScripts { try Interpreter() }
    }

    /// Checks every script's expectations, each run by a fresh interpreter from `makeInterpreter`.
    static func checkScripts(in directory: URL = scriptsDirectory, _ makeInterpreter: () throws -> Interpreter) throws {
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "loupe" }.sorted { $0.path < $1.path }
        XCTAssertFalse(files.isEmpty, "no scripts found in \(directory.path)")
        var total = 0
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            let expected = Self.expectations(in: text)
            let actual = Self.outputs(of: text, name: file.lastPathComponent, interpreter: try makeInterpreter())
            total += expected.count
            for (k, (exp, line)) in expected.enumerated() {
                guard k < actual.count else {
                    XCTFail("\(file.lastPathComponent):\(line): expected \(exp), got no more output"); break
                }
                switch (exp, actual[k]) {
                case (.line(let e), .line(let a)):
                    XCTAssertEqual(a, e, "\(file.lastPathComponent):\(line)")
                case (.error(let e, let expectedColumn), .error(let a, let column)):
                    XCTAssertTrue(a.contains(e), "\(file.lastPathComponent):\(line): error '\(a)' does not contain '\(e)'")
                    if let expectedColumn {
                        XCTAssertEqual(column, expectedColumn, "\(file.lastPathComponent):\(line): caret column of '\(a)'")
                    }
                default:
                    XCTFail("\(file.lastPathComponent):\(line): expected \(exp), got \(actual[k])")
                }
            }
            if actual.count > expected.count {
                XCTFail("\(file.lastPathComponent): unexpected extra output \(actual[expected.count...].prefix(3))")
            }
        }
        print("script expectations checked: \(total) in \(files.count) files")
    }
}
