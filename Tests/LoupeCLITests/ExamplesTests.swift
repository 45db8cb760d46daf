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
            let example = try String(contentsOf: examples.appendingPathComponent(name), encoding: .utf8)
            let transcriptURL = examples.appendingPathComponent("transcripts/" + name)
            guard let transcript = try? String(contentsOf: transcriptURL, encoding: .utf8) else {
                XCTFail("\(name): no transcript (run Scripts/update_transcripts)"); continue
            }
            // The transcript holds the example as it is now.
            XCTAssertTrue(transcript.hasPrefix(example), "\(name): Examples/transcripts/\(name) is out of date (run Scripts/update_transcripts)")
            let outputs = transcript.split(separator: "\n", omittingEmptySubsequences: false).filter { $0.hasPrefix("#=>") }
            XCTAssertGreaterThan(outputs.count, 3, name)
            let r = try runCLI(["run", "--verify", "Examples/transcripts/" + name])
            XCTAssertEqual(r.status, 0, "\(name): \(r.err)")
            XCTAssertTrue(r.out.hasSuffix("verified: 1 cells match their transcript\n"), "\(name): \(r.out.suffix(300))")
        }
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
