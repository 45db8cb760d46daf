import XCTest
@testable import LoupeScript

/// Splitting plain scripts into notebook cells.
final class NotebookCellsTests: XCTestCase {
    func testPercentMarkersSplitAndTitle() {
        let sections = NotebookCells.split("# header\n\n# %% First\nx = 1\n\ny = 2\n# %%\nprint(x)\n# %% Last one\n")
        XCTAssertEqual(sections.map(\.title), ["", "First", "", "Last one"])
        XCTAssertEqual(sections.map(\.cell.code), ["# header", "x = 1\n\ny = 2", "print(x)", ""])
        XCTAssertEqual(sections.map(\.cell.line), [1, 4, 8, 10])
        XCTAssertEqual(sections.map(\.cell.number), [1, 2, 3, 4])
    }

    func testBlankLinesSplitOnlyBetweenWholeStatements() {
        let text = "a = 1\nb = 2\n\n\nfn f(v)\n  w = v\n\n  return w\nend\n\nfor i in range(2)\n\n  print(i)\nend\nf(3)\n"
        let sections = NotebookCells.split(text)
        XCTAssertEqual(sections.map(\.cell.code), ["a = 1\nb = 2", "fn f(v)\n  w = v\n\n  return w\nend",
                                                   "for i in range(2)\n\n  print(i)\nend\nf(3)"])
        XCTAssertEqual(sections.map(\.cell.line), [1, 5, 11])
        XCTAssertTrue(sections.allSatisfy { $0.title.isEmpty })
    }

    func testCellsRunWithTheirOwnOutputAndLastValue() throws {
        let runner = try ScriptRunner()
        let (report, titles) = runner.runNotebook(text: "# %% one\nprint(\"a\")\n1 + 1\n# %% two\nx = 5\nx * 2\n", name: "t.loupe") { _ in }
        XCTAssertNil(report.failure)
        XCTAssertEqual(titles, ["one", "two"])
        XCTAssertEqual(report.cells.map(\.output), [["a", "2"], ["10"]])
    }

    func testAnErrorNamesTheLineInTheFile() throws {
        let (report, _) = try ScriptRunner().runNotebook(text: "x = 1\n\ny = x + nowhere\n", name: "t.loupe") { _ in }
        XCTAssertTrue(report.failure?.contains("t.loupe:3") == true, report.failure ?? "no failure")
    }
}
