import XCTest
@testable import LoupeScript
import LoupeIO
import LoupeTensor
import LoupeModels

final class SessionTests: XCTestCase {
    func makeSession() throws -> (ReplSession, () -> [String]) {
        let session = try ReplSession()
        var lines: [String] = []
        session.write = { lines.append($0) }
        return (session, { lines })
    }

    func testContinuationAndCellNumbers() throws {
        let (s, out) = try makeSession()
        XCTAssertEqual(s.prompt, "[1]> ")
        XCTAssertEqual(s.feed("fn f(x)"), .more)
        XCTAssertEqual(s.prompt, ".... ")
        XCTAssertEqual(s.feed("  x * 2"), .more)
        XCTAssertEqual(s.feed("end"), .done)
        XCTAssertEqual(s.feed("[f("), .more)
        XCTAssertEqual(s.feed("  21)]"), .done)
        XCTAssertEqual(out(), ["[2]= [42]"])
        XCTAssertEqual(s.feed("_"), .done)
        XCTAssertEqual(out().last, "[3]= [42]")
        XCTAssertEqual(s.prompt, "[4]> ")
    }

    func testCancelDropsPendingInput() throws {
        let (s, _) = try makeSession()
        XCTAssertEqual(s.feed("for i in range(3)"), .more)
        s.cancelInput()
        XCTAssertEqual(s.prompt, "[1]> ")
    }

    func testFailedCellsAreNotSavedAndSaveReplays() throws {
        let (s, out) = try makeSession()
        _ = s.feed("seed(3)")
        _ = s.feed("x = rand(2, 2)")
        _ = s.feed("x.shape")
        _ = s.feed("x @ zeros(3)")
        XCTAssertTrue(out().last!.contains("matmul"))
        _ = s.feed("print(\"sum {x.sum().item() > 0}\")")
        XCTAssertEqual(s.cells.count, 4)
        let path = NSTemporaryDirectory() + "loupe-save-\(getpid()).loupe"
        _ = s.feed(":save \(path)")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertTrue(text.contains("# seed: 3"))
        XCTAssertTrue(text.contains("# [3]\nx.shape\n#=> [2, 2]\n"))
        XCTAssertFalse(text.contains("zeros(3)"))
        let report = try ScriptRunner().run(text: text, name: path, verify: true) { _ in }
        XCTAssertNil(report.failure)
        XCTAssertEqual(report.cells.count, 4)
        let tampered = text.replacingOccurrences(of: "#=> [2, 2]", with: "#=> [2, 3]")
        let bad = try ScriptRunner().run(text: tampered, name: path, verify: true) { _ in }
        XCTAssertTrue(bad.failure?.contains("cell [3]") ?? false, bad.failure ?? "")
        XCTAssertTrue(bad.failure?.contains("recorded: [2, 3]") ?? false)
        XCTAssertTrue(bad.failure?.contains("replayed: [2, 2]") ?? false)
    }

    /// A script's printed lines reach the runner's echo while the cell is still running (a long
    /// training script shows its progress lines as they come, not at the end).
    func testScriptRunnerEchoesLinesAsTheyArePrinted() throws {
        var echoed: [String] = []
        let probe = CustomCore(name: "test probe", builtins: [
            Builtin("echoed_count()", "test probe") { _ in .number(Double(echoed.count)) },
        ])
        let interpreter = Interpreter(table: try BuiltinTable(cores: ScriptCores.standard + [probe]))
        let report = ScriptRunner(interpreter: interpreter).run(text: "print(\"a\")\nprint(\"b\")\nprint(echoed_count())",
                                                                name: "s", verify: false) { echoed.append($0) }
        XCTAssertNil(report.failure)
        XCTAssertEqual(echoed, ["a", "b", "2"])
        XCTAssertEqual(report.cells.map(\.output), [["a", "b", "2"]])
    }

    func testVerifyChecksFileHashes() throws {
        let data = NSTemporaryDirectory() + "loupe-data-\(getpid()).txt"
        try "hello".write(toFile: data, atomically: true, encoding: .utf8)
        let cells = [Cell(number: 1, code: "1 + 1", output: ["2"])]
        let text = SessionFile.render(cells: cells, seed: nil, files: [(data, FileDigest.sha256Hex(Array("hello".utf8)))])
        XCTAssertNil(try ScriptRunner().run(text: text, name: "s", verify: true) { _ in }.failure)
        try "changed".write(toFile: data, atomically: true, encoding: .utf8)
        let failure = try ScriptRunner().run(text: text, name: "s", verify: true) { _ in }.failure
        XCTAssertTrue(failure?.contains("changed: recorded SHA-256") ?? false, failure ?? "")
    }

    func testSaveRecordsHashesOfFilesRead() throws {
        let (s, _) = try makeSession()
        let png = NSTemporaryDirectory() + "loupe-hash-\(getpid()).png"
        _ = s.feed("save_image(ones(1, 2, 2), \"\(png)\")")
        _ = s.feed("img = image(\"\(png)\")")
        let path = NSTemporaryDirectory() + "loupe-hash-\(getpid()).loupe"
        try s.save(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let bytes = [UInt8](FileManager.default.contents(atPath: png)!)
        XCTAssertTrue(text.contains("# file-sha256: \(FileDigest.sha256Hex(bytes)) \(png)\n"), text)
        XCTAssertNil(try ScriptRunner().run(text: text, name: path, verify: true) { _ in }.failure)
    }

    func testMetaCommands() throws {
        let (s, out) = try makeSession()
        _ = s.feed("a = 1")
        _ = s.feed(":vars")
        XCTAssertEqual(out().last, "a = 1")
        _ = s.feed(":history")
        XCTAssertEqual(out().suffix(3), ["1: a = 1", "2: :vars", "3: :history"])
        _ = s.feed(":time 1 + 1")
        XCTAssertTrue(out().last!.hasPrefix("time: "))
        _ = s.feed(":reset")
        _ = s.feed(":vars")
        XCTAssertEqual(out().last, "(no variables)")
        _ = s.feed(":bogus")
        XCTAssertEqual(out().last, "error: unknown command :bogus (try :help)")
        XCTAssertEqual(s.feed(":quit"), .quit)
    }

    func testCompletion() throws {
        let (s, _) = try makeSession()
        _ = s.feed("net = {blocks: {attn: 1}, \"head.w\": 2}")
        _ = s.feed("img = zeros(3, 4, 4)")
        XCTAssertEqual(s.completions(line: "ne", cursor: 2).candidates, ["neg", "net", "neuron"])
        XCTAssertTrue(s.completions(line: "ze", cursor: 2).candidates.contains("zeros"))
        XCTAssertEqual(s.completions(line: "img.resh", cursor: 8).candidates, ["reshape"])
        XCTAssertTrue(s.completions(line: "img.", cursor: 4).candidates.contains("shape"))
        _ = s.feed("m = identity()")
        XCTAssertEqual(s.completions(line: "m.par", cursor: 5).candidates, ["param_count", "params"])
        XCTAssertEqual(s.completions(line: "m.cap", cursor: 5).candidates, ["capture"])
        XCTAssertEqual(s.completions(line: "net.blocks.a", cursor: 12).candidates, ["attn"])
        XCTAssertEqual(s.completions(line: "net[\"he", cursor: 7).candidates, ["head.w"])
        let dir = NSTemporaryDirectory() + "loupe-complete-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/picture.png", contents: Data())
        let line = "image(\"\(dir)/pic"
        XCTAssertEqual(s.completions(line: line, cursor: line.count).candidates, ["\(dir)/picture.png"])
    }

    func testJournalHoldsCompletedCells() throws {
        let dir = NSTemporaryDirectory() + "loupe-journal-\(getpid())"
        let (s, _) = try makeSession()
        s.journal = try Journal(directory: dir)
        _ = s.feed("x = 2")
        _ = s.feed("x * 21")
        _ = s.feed("x @ x")  // fails: not journaled
        let text = try String(contentsOfFile: s.journal!.path, encoding: .utf8)
        let cells = SessionFile.parse(text).cells
        XCTAssertEqual(cells.map(\.code), ["x = 2", "x * 21"])
        XCTAssertEqual(cells[1].output, ["42"])
        XCTAssertEqual(Journal.list(directory: dir), [s.journal!.path])
    }

    func testBareOutputMarkersAreEmptyLinesWithAndWithoutCells() {
        let plain = SessionFile.parse("print(1)\nprint(\"\")\n#=> 1\n#=>\n").cells
        XCTAssertEqual(plain.map(\.code), ["print(1)\nprint(\"\")"])
        XCTAssertEqual(plain[0].output, ["1", ""])
        let marked = SessionFile.parse("# [1]\nprint(\"\")\n#=>\n").cells
        XCTAssertEqual(marked[0].output, [""])
    }

    func testTerminalImages() throws {
        XCTAssertEqual(TerminalImage.detect(["TERM": "xterm-kitty"]), .kitty)
        XCTAssertEqual(TerminalImage.detect(["TERM_PROGRAM": "iTerm.app"]), .iterm2)
        XCTAssertEqual(TerminalImage.detect(["TERM": "xterm-256color"]), .halfBlocks)
        let image = try Tensor(shape: [3, 2, 1], scalars: [1, 0, 0, 1, 0, 0])  // red over green
        XCTAssertEqual(TerminalImage.halfBlocks(image), "\u{1B}[38;2;255;0;0m\u{1B}[48;2;0;255;0m▀\u{1B}[0m\n")
        XCTAssertEqual(TerminalImage.render(image, png: [1, 2, 3], protocol: .kitty), "\u{1B}_Ga=T,f=100,m=0;AQID\u{1B}\\\n")
        XCTAssertEqual(TerminalImage.render(image, png: [1, 2, 3], protocol: .iterm2),
                       "\u{1B}]1337;File=inline=1;size=3;preserveAspectRatio=1:AQID\u{07}\n")
    }

    func testHTMLNotebook() {
        let cells = [Cell(number: 1, code: "x = \"<b>\" # note", output: ["<b>"])]
        let html = NotebookHTML.render(title: "t", cells: cells, images: [[[137, 80, 78, 71]]], failure: nil)
        XCTAssertTrue(html.contains("<span class=s>&quot;&lt;b&gt;&quot;</span>"))
        XCTAssertTrue(html.contains("<span class=c># note</span>"))
        XCTAssertTrue(html.contains("<pre class=out>&lt;b&gt;</pre>"))
        XCTAssertTrue(html.contains("src=\"data:image/png;base64,iVBORw==\""))
    }
}
