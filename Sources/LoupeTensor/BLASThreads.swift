import CBLAS
import Synchronization

/// Scopes during which OpenBLAS runs single-threaded, for kernels that split their work over
/// `Parallel` workers themselves and call sgemm from each of them (OpenBLAS's threaded level-3
/// routines take one process-wide lock, so concurrent threaded calls would run one at a time).
/// OpenBLAS's thread count is process-wide: the first scope to enter sets it to 1 and the last
/// to leave restores it.
public enum BLASThreads {
    /// Whether the thread count can be changed back and forth cheaply and without side
    /// effects: a pthreads build of OpenBLAS without CPU affinity (an affinity build pins the
    /// calling thread when the count goes back up; an OpenMP build keeps per-thread counts).
    static let canScope: Bool = {
        guard let config = openblas_get_config() else { return false }
        let text = String(cString: config)
        return text.contains("NO_AFFINITY") && !text.contains("USE_OPENMP")
    }()

    private static let state = Mutex<(depth: Int, saved: Int32)>((0, 1))

    /// Runs `body` with OpenBLAS single-threaded (when `canScope`; otherwise `body` runs with
    /// whatever OpenBLAS is configured to use).
    static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        guard canScope else { return try body() }
        state.withLock { s in
            if s.depth == 0 {
                s.saved = openblas_get_num_threads()
                if s.saved != 1 { openblas_set_num_threads(1) }
            }
            s.depth += 1
        }
        defer {
            state.withLock { s in
                s.depth -= 1
                if s.depth == 0 && s.saved != 1 { openblas_set_num_threads(s.saved) }
            }
        }
        return try body()
    }
}

extension BLASThreads {
    /// Whether `NN.sgemm` splits large products over `WorkerPool` itself. When OpenBLAS's thread
    /// count can be scoped, the first product sets it to 1 for good (the count a scope restores,
    /// too): OpenBLAS's threads then stay asleep instead of spinning after every product.
    static let splitsProducts: Bool = {
        guard canScope else { return false }
        state.withLock { s in
            openblas_set_num_threads(1)
            s.saved = 1
        }
        return true
    }()

    /// Runs `body` with OpenBLAS's own threads, one per core: for comparisons with raw OpenBLAS
    /// (`loupe-bench`'s sgemm reference). Loupe's products are split by `NN.sgemm` instead.
    public static func withOpenBLASThreads<R>(_ body: () throws -> R) rethrows -> R {
        guard splitsProducts else { return try body() }
        state.withLock { _ in openblas_set_num_threads(Int32(ProcessInfoCores.count)) }
        defer { state.withLock { _ in openblas_set_num_threads(1) } }
        return try body()
    }

    /// OpenBLAS's current thread count.
    static var current: Int32 { openblas_get_num_threads() }
}
