import CBLAS

/// A 64-byte aligned, contiguous buffer of Float shared by tensors and their views.
///
/// Storage is reference-counted; `Tensor` copies it before writing when it is shared
/// (copy-on-write), except for deliberate in-place parameter updates by optimizers.
public final class TensorStorage: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// Whether the buffer came from `BufferCache` (large buffers) rather than malloc.
    private let cached: Bool

    /// Allocates uninitialised storage for `count` floats: 64-byte aligned from malloc, or
    /// page-aligned from `BufferCache` for a megabyte or more.
    public init(uninitializedCount count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        cached = bytes >= BufferCache.minimumBytes
        let raw = cached ? BufferCache.take(bytes) : UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        self.pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Unmaps the large buffers kept for reuse after their tensors were freed (see
    /// `BufferCache`), e.g. before measuring memory.
    public static func releaseIdleBuffers() {
        BufferCache.trim()
    }

    /// Allocates storage filled with `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        let pointer = self.pointer
        Parallel.forRanges(count, minimum: Parallel.minimumParallelCount * 2) { start, end in
            (pointer + start).initialize(repeating: value, count: end - start)
        }
    }

    /// Copies `source` into new storage.
    public convenience init(copying source: UnsafePointer<Float>, count: Int) {
        self.init(uninitializedCount: count)
        let pointer = self.pointer
        Parallel.forRanges(count, minimum: Parallel.minimumParallelCount * 2) { start, end in
            (pointer + start).initialize(from: source + start, count: end - start)
        }
    }

    deinit {
        if cached {
            BufferCache.give(UnsafeMutableRawPointer(pointer), bytes: max(count, 1) * MemoryLayout<Float>.stride)
        } else {
            UnsafeMutableRawPointer(pointer).deallocate()
        }
    }
}
