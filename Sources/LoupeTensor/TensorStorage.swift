import CBLAS

/// A 64-byte aligned, contiguous buffer of Float shared by tensors and their views.
///
/// Storage is reference-counted; `Tensor` copies it before writing when it is shared
/// (copy-on-write), except for deliberate in-place parameter updates by optimizers.
public final class TensorStorage: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// Keeps freed tensor memory in the process for reuse. glibc would otherwise map every
    /// large buffer afresh and return it on free, so each op's output costs page faults and
    /// zeroing by the kernel (about 6% of a small ViT's training step).
    private static let allocatorConfigured: Bool = {
        #if os(Linux)
        _ = mallopt(M_MMAP_THRESHOLD, 512 << 20)
        _ = mallopt(M_TRIM_THRESHOLD, 1 << 30)
        #endif
        return true
    }()

    /// Allocates uninitialised storage for `count` floats.
    public init(uninitializedCount count: Int) {
        _ = TensorStorage.allocatorConfigured
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        self.pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// Allocates storage filled with `value`.
    public convenience init(count: Int, repeating value: Float) {
        self.init(uninitializedCount: count)
        pointer.initialize(repeating: value, count: count)
    }

    /// Copies `source` into new storage.
    public convenience init(copying source: UnsafePointer<Float>, count: Int) {
        self.init(uninitializedCount: count)
        pointer.initialize(from: source, count: count)
    }

    deinit {
        UnsafeMutableRawPointer(pointer).deallocate()
    }
}
