import XCTest
import LoupeTensor

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

    func testDisabledBarWritesNothing() {
        // A disabled bar (standard error not a terminal) must stay silent and never fail.
        let bar = ProgressBar("quiet", total: 5, enabled: false)
        for i in 1...5 { bar.update(i, loss: 1) }
        bar.finish()
    }
}
