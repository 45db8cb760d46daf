import Dispatch
import Synchronization
import XCTest
@testable import LoupeTensor

/// The spinning worker pool behind `Parallel`: every iteration runs exactly once, nested and
/// concurrent use fall back to the calling thread, and idle threads that went to sleep wake up.
final class WorkerPoolTests: XCTestCase {
    func testEveryIterationRunsOnce() {
        for count in [0, 1, 2, 3, 17, 1000] {
            let hits = Mutex<[Int]>([Int](repeating: 0, count: count))
            WorkerPool.shared.perform(count) { index in hits.withLock { $0[index] += 1 } }
            XCTAssertEqual(hits.withLock { $0 }, [Int](repeating: 1, count: count), "count \(count)")
        }
    }

    func testNestedCallsRunOnTheirThread() {
        let total = Atomic<Int>(0)
        Parallel.forEach(8) { outer in
            Parallel.forEach(5) { inner in total.add(outer * 10 + inner, ordering: .relaxed) }
        }
        // sum over outer 0..<8 and inner 0..<5 of (10 outer + inner) = 10 * 28 * 5 + 10 * 8
        XCTAssertEqual(total.load(ordering: .relaxed), 1480)
    }

    func testConcurrentCallersFromOtherThreads() {
        let total = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 6) { caller in
            for _ in 0..<50 {
                Parallel.forRanges(1 << 16, minimum: 1) { start, end in total.add(end - start, ordering: .relaxed) }
            }
            _ = caller
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 6 * 50 * (1 << 16))
    }

    func testJobsAfterTheThreadsFellAsleep() throws {
        let pool = WorkerPool(threads: 1)
        for round in 0..<3 {
            // Longer than the spin period: the pool's thread is asleep when the job arrives.
            usleep(UInt32(WorkerPool.spinNanoseconds / 1000) * 3)
            let sum = Atomic<Int>(0)
            pool.perform(100) { sum.add($0, ordering: .relaxed) }
            XCTAssertEqual(sum.load(ordering: .relaxed), 4950, "round \(round)")
        }
    }

    func testRangesDependOnlyOnTheCount() {
        let ranges = Mutex<[[Int]]>([])
        Parallel.forRanges(100_000, minimum: 1) { start, end in ranges.withLock { $0.append([start, end]) } }
        let sorted = ranges.withLock { $0 }.sorted { $0[0] < $1[0] }
        XCTAssertEqual(sorted.first?[0], 0)
        XCTAssertEqual(sorted.last?[1], 100_000)
        for (a, b) in zip(sorted, sorted.dropFirst()) { XCTAssertEqual(a[1], b[0]) }
        for range in sorted.dropLast() { XCTAssertEqual(range[1] % 16, 0) }
    }
}
