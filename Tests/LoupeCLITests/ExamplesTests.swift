import Foundation
import XCTest

/// Every shipped example runs in the suite and replays its committed transcript with
/// `loupe run --verify` (Examples/transcripts/NAME.loupe: the example's text followed by its
/// output as `#=> ` lines, written by Scripts/update_transcripts).
extension REPLTests {
    func testEveryExampleReplaysItsTranscript() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"), "Fashion-MNIST not installed")
        let examples = Self.repositoryRoot.appendingPathComponent("Examples")
        let names = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".loupe") }.sorted()
        XCTAssertEqual(names, ["color.loupe", "detr.loupe", "dit.loupe", "fooling.loupe", "fv.loupe", "graft.loupe", "invert.loupe", "models.loupe", "paint.loupe", "tour.loupe"])
        for name in names {
            guard let outputs = try replayTranscript(of: "Examples/" + name) else { continue }
            XCTAssertGreaterThan(outputs.count, 3, name)
        }
    }

    /// Checks that the committed transcript of `path` (DIR/transcripts/NAME next to DIR/NAME,
    /// relative to the repository root) holds the file as it is now and that it replays with
    /// `loupe run --verify`; returns the transcript's output lines (nil, after a failure, when
    /// there is no transcript).
    func replayTranscript(of path: String) throws -> [Substring]? {
        let source = Self.repositoryRoot.appendingPathComponent(path)
        let transcriptPath = (path as NSString).deletingLastPathComponent + "/transcripts/" + source.lastPathComponent
        let text = try String(contentsOf: source, encoding: .utf8)
        guard let transcript = try? String(contentsOf: Self.repositoryRoot.appendingPathComponent(transcriptPath), encoding: .utf8) else {
            XCTFail("\(path): no transcript (run Scripts/update_transcripts)"); return nil
        }
        XCTAssertTrue(transcript.hasPrefix(text), "\(path): \(transcriptPath) is out of date (run Scripts/update_transcripts)")
        let r = try runCLI(["run", "--verify", transcriptPath])
        XCTAssertEqual(r.status, 0, "\(path): \(r.err)")
        XCTAssertTrue(r.out.hasSuffix("verified: 1 cells match their transcript\n"), "\(path): \(r.out.suffix(300))")
        return transcript.split(separator: "\n", omittingEmptySubsequences: false).filter { $0.hasPrefix("#=>") }
    }

    /// --verify fails on a transcript line that differs (so the replay above can fail).
    func testVerifyRejectsAChangedTranscript() throws {
        let file = home + "/changed.loupe"
        try "x = 2\nprint(x * 21)\nprint(\"done\")\n#=> 42\n#=> done!\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = try runCLI(["run", "--verify", file])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.err.contains("recorded: done!"), r.err)
        XCTAssertTrue(r.err.contains("replayed: done"), r.err)
    }
}
