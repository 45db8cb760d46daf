import Foundation
import XCTest

/// The workshop lessons (Examples/lessons) and their solutions (Examples/lessons/solutions): each
/// replays its committed transcript with `loupe run --verify`, every exercise is left open in the
/// lesson and answered correctly in the solution, and a solution differs from its lesson only in
/// the exercise cells.
extension REPLTests {
    static let lessonNames = ["0-language.loupe", "1-inversion.loupe", "2-feature-visualization.loupe", "3-gan-painting.loupe", "4-grafting.loupe"]

    /// The cells of a lesson: the title after each `# %%` line and the text up to the next one.
    func lessonCells(_ text: String) -> [(title: String, text: String)] {
        var cells: [(title: String, text: String)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# %%") {
                cells.append((line.dropFirst(4).trimmingCharacters(in: .whitespaces), ""))
            } else if !cells.isEmpty {
                cells[cells.count - 1].text += line + "\n"
            }
        }
        return cells
    }

    func lessonFile(_ relativePath: String) throws -> String {
        try String(contentsOf: Self.repositoryRoot.appendingPathComponent("Examples/lessons/" + relativePath), encoding: .utf8)
    }

    func testLessonFilesAreTheListedOnes() throws {
        let lessons = Self.repositoryRoot.appendingPathComponent("Examples/lessons")
        let names = try FileManager.default.contentsOfDirectory(atPath: lessons.path).filter { $0.hasSuffix(".loupe") }.sorted()
        XCTAssertEqual(names, Self.lessonNames)
        let solutions = try FileManager.default.contentsOfDirectory(atPath: lessons.appendingPathComponent("solutions").path)
            .filter { $0.hasSuffix(".loupe") }.sorted()
        XCTAssertEqual(solutions, Self.lessonNames)
    }

    /// Same cells in the same order; only cells titled "Exercise ..." may differ; 2-4 exercises,
    /// each followed by its check; the first cell names the paper, the demo model and the real one.
    func testSolutionsDifferFromTheirLessonsOnlyInExerciseCells() throws {
        for name in Self.lessonNames {
            let lesson = lessonCells(try lessonFile(name))
            let solution = lessonCells(try lessonFile("solutions/" + name))
            XCTAssertEqual(lesson.map(\.title), solution.map(\.title), name)
            XCTAssertTrue(lesson.first?.title.hasPrefix("Lesson ") ?? false, "\(name): the first cell is titled 'Lesson N: ...'")
            if let first = lesson.first?.text {
                for needle in ["arXiv", "Examples/models/", "Scripts/", "Examples/lessons/solutions/"] {
                    XCTAssertTrue(first.contains(needle), "\(name): the first cell should mention \(needle)")
                }
            }
            let exercises = lesson.indices.filter { lesson[$0].title.hasPrefix("Exercise") }
            XCTAssertTrue((2...4).contains(exercises.count), "\(name): \(exercises.count) exercises")
            for (k, index) in exercises.enumerated() {
                XCTAssertTrue(lesson[index].title.hasPrefix("Exercise \(k + 1):"), "\(name): \(lesson[index].title)")
                XCTAssertTrue(lesson[index].text.contains("answer_\(k + 1) = nil"), "\(name): exercise \(k + 1) is left open")
                XCTAssertNotEqual(solution[index].text, lesson[index].text, "\(name): solution \(k + 1) answers it")
                let check = index + 1 < lesson.count ? lesson[index + 1] : (title: "", text: "")
                XCTAssertTrue(check.title.hasPrefix("Check exercise \(k + 1)"), "\(name): exercise \(k + 1) is followed by its check")
                XCTAssertTrue(check.text.contains("assert("), "\(name): check \(k + 1) asserts")
            }
            for index in lesson.indices where !lesson[index].title.hasPrefix("Exercise") {
                XCTAssertEqual(lesson[index].text, solution[index].text, "\(name): cell '\(lesson[index].title)' differs in the solution")
            }
        }
    }

    /// A wrong answer stops the lesson at its check, with the check's message (the checks can fail).
    func testAWrongAnswerFailsItsCheck() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"), "Fashion-MNIST not installed")
        let lesson = try lessonFile("0-language.loupe")
        // The textbook softmax without the shift: right on small scores, NaN on [1000, 1001, 1002].
        let wrong = lesson.replacingOccurrences(of: "answer_1 = nil", with: "answer_1 = fn(v) v.exp() / v.exp().sum() end")
        XCTAssertNotEqual(wrong, lesson)
        let file = home + "/wrong.loupe"
        try wrong.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runCLI(["run", file])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("assert: Exercise 1: for [1000, 1001, 1002] your function gives [nan, nan, nan]"), r.err)
        XCTAssertFalse(r.out.contains("Exercise 1: correct"), r.out)
    }

    /// Every lesson and solution replays its transcript; the lesson reports each exercise open,
    /// the solution each one correct.
    func testEveryLessonAndSolutionReplaysItsTranscript() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"), "Fashion-MNIST not installed")
        for folder in ["", "solutions/"] {
            for name in Self.lessonNames {
                let label = folder + name
                let lesson = try lessonFile(label)
                guard let outputs = try replayTranscript(of: "Examples/lessons/" + label) else { continue }
                let exercises = lessonCells(lesson).filter { $0.title.hasPrefix("Exercise") }.count
                for k in 1...max(exercises, 1) {
                    let verdict = folder.isEmpty ? "#=> Exercise \(k): not answered yet" : "#=> Exercise \(k): correct"
                    XCTAssertEqual(outputs.filter { $0.hasPrefix(verdict) }.count, 1, "\(label): '\(verdict)' once")
                }
            }
        }
    }
}
