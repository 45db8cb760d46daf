import XCTest
@testable import LoupeTensor

/// Large tensor buffers are reused by size instead of mapped afresh.
final class BufferCacheTests: XCTestCase {
    func testAFreedLargeBufferIsReusedForTheSameSize() {
        BufferCache.trim()
        let count = 3 << 20   // 12 MB
        var first: TensorStorage? = TensorStorage(uninitializedCount: count)
        let address = first!.pointer
        first!.pointer[count - 1] = 7
        first = nil
        XCTAssertEqual(BufferCache.idleBytes, BufferCache.rounded(count * 4))
        let second = TensorStorage(uninitializedCount: count)
        XCTAssertEqual(second.pointer, address)
        XCTAssertEqual(BufferCache.idleBytes, 0)
        // Another size does not take it.
        let other = TensorStorage(uninitializedCount: count + 4096)
        XCTAssertNotEqual(other.pointer, address)
        XCTAssertEqual(Int(bitPattern: other.pointer) % 4096, 0)
    }

    func testSmallBuffersComeFromMalloc() {
        BufferCache.trim()
        do { _ = TensorStorage(count: 1000, repeating: 1) }
        XCTAssertEqual(BufferCache.idleBytes, 0)
    }

    func testTheCacheStaysWithinItsCapacityDroppingTheLeastRecentlyUsedSizes() {
        BufferCache.trim()
        let big = BufferCache.capacity / 3 / 4096 * 4096
        var held: [UnsafeMutableRawPointer] = []
        for k in 0..<4 { held.append(BufferCache.take(big + k * 4096)) }
        for (k, p) in held.enumerated() { BufferCache.give(p, bytes: big + k * 4096) }
        XCTAssertLessThanOrEqual(BufferCache.idleBytes, BufferCache.capacity)
        // The most recent sizes stay; the oldest was unmapped to make room.
        let again = BufferCache.take(big + 3 * 4096)
        XCTAssertEqual(again, held[3])
        BufferCache.give(again, bytes: big + 3 * 4096)
        BufferCache.trim()
        XCTAssertEqual(BufferCache.idleBytes, 0)
    }

    /// Values written through tensors survive in reused memory only until overwritten: results
    /// of ops on reused buffers equal those on fresh ones.
    func testOpsOnReusedBuffersGiveTheSameResults() throws {
        BufferCache.trim()
        var rng = RandomGenerator(seed: 3)
        let x = try Tensor(shape: [512, 1024], scalars: (0..<(512 * 1024)).map { _ in rng.nextNormal() })
        let fresh = try (x * 2 + 1).gelu().scalars
        for _ in 0..<3 {
            XCTAssertEqual(try (x * 2 + 1).gelu().scalars, fresh)
        }
    }
}
