import Foundation
import Glibc
import XCTest

/// `loupe --recover N` and `:load`, end to end under a pseudo-terminal.
extension REPLTests {
    /// A session killed with SIGKILL is restored by `loupe --recover 1`: its cells run again (their
    /// output shows), its variables and functions are back, and numbering, saving and exiting go on.
    func testRecoverRestoresAKilledSession() throws {
        let first = try Terminal(environment: environment)
        XCTAssertTrue(first.waitFor("[1]> "), first.output)
        for (k, cell) in ["a = 1", "b = a + 1", "fn triple(v) v * 3 end", "print(\"b is {b}\")"].enumerated() {
            first.type(cell + "\r")
            XCTAssertTrue(first.waitFor("[\(k + 2)]> "), first.output)
        }
        kill(first.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(first.pid, &status, 0)
        let journals = try FileManager.default.contentsOfDirectory(atPath: home + "/sessions")
        XCTAssertEqual(journals.count, 1)

        let bad = try runCLI(["--recover", "7"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.err.contains("choose a journal number between 1 and 1"), bad.err)

        let t = try Terminal(arguments: ["--recover", "1"], environment: environment)
        XCTAssertTrue(t.waitFor("restoring \(home)/sessions/\(journals[0])"), t.output)
        XCTAssertTrue(t.waitFor("b is 2"), t.output)          // the recovered cells ran again
        XCTAssertTrue(t.waitFor("[5]> "), t.output)           // numbering continues after the 4 cells
        var m = t.mark
        t.type("triple(b) + a\r")
        XCTAssertTrue(t.waitFor("[5]= 7", after: m), t.output)
        XCTAssertTrue(t.waitFor("[6]> ", after: m), t.output)
        let saved = home + "/recovered.loupe"
        m = t.mark
        t.type(":save \(saved)\r")
        XCTAssertTrue(t.waitFor("saved 5 cells", after: m), t.output)
        XCTAssertTrue(t.waitFor("[6]> ", after: m), t.output)
        usleep(200_000)
        t.type("\u{04}")
        XCTAssertEqual(t.wait(), 0, t.output)
        let text = try String(contentsOfFile: saved, encoding: .utf8)
        XCTAssertTrue(text.contains("# [1]\na = 1\n# [2]\nb = a + 1\n# [3]\nfn triple(v) v * 3 end\n# [4]\nprint(\"b is {b}\")\n#=> b is 2\n# [5]\ntriple(b) + a\n#=> 7\n"), text)
        let verify = try runCLI(["run", "--verify", saved])
        XCTAssertEqual(verify.status, 0, verify.err)
        XCTAssertTrue(verify.out.contains("verified: 5 cells"), verify.out)
    }

    /// `:load FILE` runs a file's cells in the open session (stopping at the first failing one),
    /// and a missing file is an error that keeps the session.
    func testLoadRunsAFilesCellsInTheSession() throws {
        let file = home + "/cells.loupe"
        try "# [1]\nx = 6\n# [2]\nfn half(v) v / 2 end\n# [3]\nprint(\"loaded {half(x)}\")\n#=> loaded 3\n# [4]\nnope(1)\n# [5]\ny = 99\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let t = try Terminal(environment: environment)
        XCTAssertTrue(t.waitFor("[1]> "), t.output)
        var m = t.mark
        t.type(":load \(home)/missing.loupe\r")
        XCTAssertTrue(t.waitFor("error: :load: cannot read", after: m), t.output)
        XCTAssertTrue(t.waitFor("[1]> ", after: m), t.output)
        m = t.mark
        t.type(":load \(file)\r")
        XCTAssertTrue(t.waitFor("loaded 3", after: m), t.output)
        XCTAssertTrue(t.waitFor("nope", after: m), t.output)  // cell 4 fails: its error shows, cell 5 does not run
        XCTAssertTrue(t.waitFor("[5]> ", after: m), t.output)      // numbers 1-4 used; [6]> had cell 5 run
        m = t.mark
        t.type("half(x) * 10\r")
        XCTAssertTrue(t.waitFor("[5]= 30", after: m), t.output)
        XCTAssertTrue(t.waitFor("[6]> ", after: m), t.output)
        m = t.mark
        t.type("type(y)\r")                                  // cell 5 (y = 99) never ran
        XCTAssertTrue(t.waitFor("error", after: m), t.output)
        XCTAssertFalse(t.waitFor("99", after: m, timeout: 0.5), t.output)
        usleep(200_000)
        t.type("\u{04}")
        XCTAssertEqual(t.wait(), 0, t.output)
    }
}
