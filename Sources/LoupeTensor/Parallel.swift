import Dispatch

/// Work splitting for elementwise kernels and reductions over both cores.
public enum Parallel {
    /// Number of worker chunks used for large kernels.
    public static let workers: Int = max(1, min(8, ProcessInfoCores.count))

    /// Below this many elements a kernel runs on the calling thread.
    public static let minimumParallelCount = 1 << 15

    /// Calls `body(start, end)` over disjoint ranges covering `0..<count`, in parallel when
    /// `count` is large enough. Ranges are aligned to multiples of 16 elements.
    @inlinable
    public static func forRanges(_ count: Int, minimum: Int = minimumParallelCount,
                                 _ body: (Int, Int) -> Void) {
        if count < minimum || workers == 1 {
            body(0, count)
            return
        }
        let chunks = workers
        let per = ((count + chunks - 1) / chunks + 15) & ~15
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { index in
                let start = index * per
                let end = min(count, start + per)
                if start < end { body(start, end) }
            }
        }
    }

    /// Runs `body(i)` for each `i` in `0..<count` across workers (each call gets a whole row
    /// of work, e.g. one image of a batch).
    @inlinable
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || workers == 1 {
            for index in 0..<count { body(index) }
            return
        }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: count) { body($0) }
        }
    }
}

/// Active processor count, read once.
public enum ProcessInfoCores {
    public static let count: Int = {
        #if canImport(Glibc)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 2
        #endif
    }()
}

#if canImport(Glibc)
import Glibc
#endif
