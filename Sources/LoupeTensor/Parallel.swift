import CBLAS
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Work splitting for elementwise kernels and reductions over both cores.
///
/// Parallel work runs on `WorkerPool.shared`: the calling thread takes part, and the pool's
/// threads spin briefly between jobs, so the many short kernels of a training step start on
/// every core within a microsecond instead of waiting for a sleeping thread to be woken.
/// A parallel call made from inside parallel work (or while another thread's job holds the
/// pool) runs on its calling thread alone, as OpenMP's nested regions do.
public enum Parallel {
    /// Number of worker chunks used for large kernels.
    public static let workers: Int = max(1, min(8, ProcessInfoCores.count))

    /// Below this many elements a kernel runs on the calling thread.
    public static let minimumParallelCount = 1 << 15

    /// Calls `body(start, end)` over disjoint ranges covering `0..<count`, in parallel when
    /// `count` is large enough. Ranges are aligned to multiples of 16 elements and depend only
    /// on `count`, so results do not depend on which thread ran which range.
    @inlinable
    public static func forRanges(_ count: Int, minimum: Int = minimumParallelCount,
                                 _ body: (Int, Int) -> Void) {
        if count < minimum || workers == 1 {
            body(0, count)
            return
        }
        let chunks = workers
        let per = ((count + chunks - 1) / chunks + 15) & ~15
        forEach(chunks) { index in
            let start = index * per
            let end = min(count, start + per)
            if start < end { body(start, end) }
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
        WorkerPool.shared.perform(count, body)
    }
}

/// A fixed set of threads (one fewer than `Parallel.workers`; the caller is the last) that take
/// iterations of one job at a time from a shared counter. Between jobs each thread spins for
/// up to `spinNanoseconds`, yielding its core to any other runnable thread, then sleeps on a
/// condition variable until the next job.
public final class WorkerPool: @unchecked Sendable {
    /// The pool used by `Parallel`.
    public static let shared = WorkerPool(threads: Parallel.workers - 1)

    /// How long an idle thread keeps polling for the next job before it sleeps: 200 us, or
    /// `LOUPE_SPIN_US` microseconds (0 on a machine shared with other busy programs).
    static let spinNanoseconds: UInt64 = {
        if let text = getenv("LOUPE_SPIN_US"), let us = UInt64(String(cString: text)) { return us * 1000 }
        return 200_000
    }()

    private let threadCount: Int
    /// Bumped by the caller to publish a job (the job's fields are written before it).
    private let generation = UnsafeAtomicInt()
    /// Next iteration to hand out.
    private let nextIteration = UnsafeAtomicInt()
    /// Threads that have finished the current job.
    private let finishedThreads = UnsafeAtomicInt()
    /// 1 while a job owns the pool.
    private let owned = UnsafeAtomicInt()
    /// Number of threads asleep (or about to sleep) on `wake`.
    private let sleepers = UnsafeAtomicInt()
    private var iterations = 0
    private var job: ((Int) -> Void)?
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let wake: UnsafeMutablePointer<pthread_cond_t>

    init(threads: Int) {
        threadCount = max(0, threads)
        lock = .allocate(capacity: 1)
        wake = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
        for _ in 0..<threadCount { startThread() }
    }

    /// Whether a job holds the pool now (a parallel call would run on its calling thread alone).
    public var isBusy: Bool { owned.load() != 0 }

    /// Runs `body(i)` for every `i` in `0..<count`, on the pool's threads and the caller's.
    /// Returns when every iteration has finished.
    public func perform(_ count: Int, _ body: (Int) -> Void) {
        guard threadCount > 0, owned.compareExchange(expected: 0, desired: 1) else {
            for index in 0..<count { body(index) }  // nested or concurrent use: this thread alone
            return
        }
        withoutActuallyEscaping(body) { body in
            job = body
            iterations = count
            nextIteration.store(0)
            finishedThreads.store(0)
            _ = generation.add(1)  // publishes the job (sequentially consistent)
            if sleepers.load() > 0 {
                pthread_mutex_lock(lock)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(lock)
            }
            runIterations()
            var spins = 0
            while finishedThreads.load() < threadCount {
                spins += 1
                if spins & 255 == 0 { sched_yield() } else { spinPause() }  // a descheduled thread gets the core
            }
            job = nil
        }
        owned.store(0)
    }

    /// Takes iterations of the current job until none are left. Not inlined, so that the
    /// job closure's retains and releases all happen before the caller reports completion.
    @inline(never)
    private func runIterations() {
        guard let body = job else { return }
        let count = iterations
        while true {
            let index = nextIteration.add(1)
            if index >= count { break }
            body(index)
        }
    }

    private func startThread() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            let pool = Unmanaged<WorkerPool>.fromOpaque(raw!).takeRetainedValue()
            pool.threadLoop()
            return nil
        }, context)
        if result == 0 { pthread_detach(thread) } else { Unmanaged<WorkerPool>.fromOpaque(context).release() }
    }

    private func threadLoop() {
        var seen = 0  // the generation before the first job (threads start before any job)
        while true {
            waitForJob(after: seen)
            seen = generation.load()
            runIterations()
            _ = finishedThreads.add(1)
        }
    }

    /// Returns once `generation` has moved past `seen`: spinning first, then asleep.
    private func waitForJob(after seen: Int) {
        let start = Self.monotonicNanoseconds()
        var spins = 0
        while generation.load() == seen {
            spins += 1
            if spins & 255 == 0 {
                if Self.monotonicNanoseconds() - start > Self.spinNanoseconds { break }
                sched_yield()
            } else {
                spinPause()
            }
        }
        if generation.load() != seen { return }
        pthread_mutex_lock(lock)
        _ = sleepers.add(1)
        while generation.load() == seen { pthread_cond_wait(wake, lock) }
        _ = sleepers.add(-1)
        pthread_mutex_unlock(lock)
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// A sequentially consistent atomic Int at a stable address, shared by `WorkerPool`'s threads.
final class UnsafeAtomicInt: @unchecked Sendable {
    private let storage = Atomic<Int>(0)

    @inline(__always) func load() -> Int { storage.load(ordering: .sequentiallyConsistent) }
    @inline(__always) func store(_ value: Int) { storage.store(value, ordering: .sequentiallyConsistent) }
    /// Adds `delta` and returns the value before the addition.
    @inline(__always) func add(_ delta: Int) -> Int {
        storage.wrappingAdd(delta, ordering: .sequentiallyConsistent).oldValue
    }
    @inline(__always) func compareExchange(expected: Int, desired: Int) -> Bool {
        storage.compareExchange(expected: expected, desired: desired, ordering: .sequentiallyConsistent).exchanged
    }
}

/// A hint to the CPU that this thread is busy-waiting.
@inline(__always)
func spinPause() {
    loupe_cpu_pause()
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
