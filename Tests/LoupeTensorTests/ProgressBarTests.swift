import XCTest
import LoupeTensor
#if canImport(Glibc)
import Glibc
#endif

final class ProgressBarTests: XCTestCase {
    func testRenderShowsBarCountLossRateAndETA() {
        let line = ProgressBar.render(label: "fit", completed: 25, total: 100, elapsed: 5, loss: 0.012345)
        XCTAssertEqual(line, "fit [######..................] 25/100  loss 0.01235 | 5.00 it/s | ETA 0:15")
    }

    func testRenderWhenDoneShowsTotalTime() {
        let line = ProgressBar.render(label: "train", completed: 10, total: 10, elapsed: 125, loss: 2.5e-5,
                                      metrics: [("acc", "91.2%")])
        XCTAssertEqual(line, "train [########################] 10/10  loss 2.500e-5 | acc 91.2% | 0.08 it/s | took 2:05")
    }

    func testLossFormats() {
        XCTAssertEqual(ProgressBar.render(label: "x", completed: 0, total: 3, elapsed: 0, loss: .nan, width: 3),
                       "x [...] 0/3  loss nan")
        XCTAssertEqual(ProgressBar.render(label: "x", completed: 1, total: 2, elapsed: 3600, loss: 123456, width: 2),
                       "x [#.] 1/2  loss 1.235e+5 | 0.00 it/s | ETA 1:00:00")
    }

    /// What `body` writes to standard error (file descriptor 2, redirected to a file meanwhile).
    private func capturingStandardError(_ body: () -> Void) throws -> String {
        let path = NSTemporaryDirectory() + "loupe-stderr-\(getpid())-\(UUID().uuidString)"
        defer { unlink(path) }
        fflush(stderr)
        let file = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let saved = dup(STDERR_FILENO)
        guard file >= 0, saved >= 0, dup2(file, STDERR_FILENO) >= 0 else { throw XCTSkip("cannot redirect stderr") }
        close(file)
        body()
        fflush(stderr)
        dup2(saved, STDERR_FILENO)
        close(saved)
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    func testDisabledBarWritesNothing() throws {
        // A disabled bar (standard error not a terminal) stays silent.
        let quiet = try capturingStandardError {
            let bar = ProgressBar("quiet", total: 5, enabled: false)
            for i in 1...5 { bar.update(i, loss: 1) }
            bar.finish()
        }
        XCTAssertEqual(quiet, "")
        // The same calls on an enabled bar do reach the captured stream: the final state
        // (always drawn) after a carriage return, then the line end.
        let loud = try capturingStandardError {
            let bar = ProgressBar("loud", total: 5, enabled: true)
            for i in 1...5 { bar.update(i, loss: 1) }
            bar.finish()
        }
        XCTAssertTrue(loud.hasPrefix("\r"), loud.debugDescription)
        XCTAssertTrue(loud.hasSuffix("loud [########################] 5/5  loss 1.00000\n")
                      || loud.contains("loud [########################] 5/5  loss 1.00000 | "), loud.debugDescription)
        XCTAssertTrue(loud.hasSuffix("\n"), loud.debugDescription)
    }
}
