import Glibc
import Synchronization

/// Freed tensor buffers of `minimumBytes` or more, kept by size and handed out again.
///
/// A training step, an optimisation or a sampling loop allocates the same buffer sizes every
/// iteration. Fresh memory costs a page fault and the kernel's zeroing per 4 KB page (a third of
/// the time of an elementwise add of 19 MB), and glibc's heap fragments under alternating large
/// buffers (its aligned allocations cannot reuse a freed buffer of the very same size, so the heap
/// grows). Large buffers are therefore mapped here, page-aligned, and on release kept for the next
/// request of the same byte count; memory is returned to the system (unmapped) when the cache would
/// exceed `capacity`, least recently used sizes first. Every cached buffer was written before, so
/// reuse changes no result (storage is uninitialised by contract).
enum BufferCache {
    /// Buffers smaller than this come from malloc.
    static let minimumBytes = 1 << 20
    /// Most bytes held idle: a sixteenth of the machine's memory, at most 1 GB.
    static let capacity: Int = {
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        if pages > 0, pageSize > 0 { return min(1 << 30, pages * pageSize / 16) }
        return 256 << 20
    }()

    static let poison = getenv("LOUPE_POISON_BUFFERS").map { String(cString: $0) == "1" } ?? false

    private struct SizeClass {
        var buffers: [UnsafeMutableRawPointer] = []
        var lastUse = 0
    }

    private struct State {
        var classes: [Int: SizeClass] = [:]
        var idleBytes = 0
        var clock = 0
    }

    private static let state = Mutex(State())

    /// Bytes rounded up to whole pages (what a mapping occupies).
    static func rounded(_ bytes: Int) -> Int {
        let page = 4096
        return (bytes + page - 1) / page * page
    }

    /// A buffer of at least `bytes` (`bytes >= minimumBytes`), page-aligned.
    static func take(_ bytes: Int) -> UnsafeMutableRawPointer {
        let size = rounded(bytes)
        let reused: UnsafeMutableRawPointer? = state.withLock { s in
            s.clock += 1
            guard var c = s.classes[size], let buffer = c.buffers.popLast() else { return nil }
            c.lastUse = s.clock
            s.classes[size] = c
            s.idleBytes -= size
            return buffer
        }
        if let reused {
            // Debugging aid: LOUPE_POISON_BUFFERS=1 fills reused buffers with NaN, so code that
            // reads storage it never wrote shows up in results (fresh mappings read as zeros).
            if poison { reused.initializeMemory(as: Float.self, repeating: .nan, count: size / 4) }
            return reused
        }
        return map(size)
    }

    /// Returns a buffer from `take(bytes)`: kept for reuse, or unmapped when the cache is full.
    static func give(_ buffer: UnsafeMutableRawPointer, bytes: Int) {
        let size = rounded(bytes)
        var release: [(UnsafeMutableRawPointer, Int)] = []
        state.withLock { s in
            s.clock += 1
            // Make room by dropping the least recently used other sizes.
            while s.idleBytes + size > capacity {
                guard let (victim, c) = s.classes.filter({ $0.key != size && !$0.value.buffers.isEmpty })
                    .min(by: { $0.value.lastUse < $1.value.lastUse }) else { break }
                for b in c.buffers { release.append((b, victim)) }
                s.idleBytes -= victim * c.buffers.count
                s.classes[victim] = nil
            }
            if s.idleBytes + size <= capacity {
                s.classes[size, default: SizeClass()].buffers.append(buffer)
                s.classes[size]?.lastUse = s.clock
                s.idleBytes += size
            } else {
                release.append((buffer, size))
            }
        }
        for (b, n) in release { unmap(b, n) }
    }

    /// Unmaps every idle buffer (tests; memory-hungry callers).
    static func trim() {
        let release: [(UnsafeMutableRawPointer, Int)] = state.withLock { s in
            let all = s.classes.flatMap { size, c in c.buffers.map { ($0, size) } }
            s.classes = [:]
            s.idleBytes = 0
            return all
        }
        for (b, n) in release { unmap(b, n) }
    }

    /// Bytes held idle now.
    static var idleBytes: Int { state.withLock { $0.idleBytes } }

    private static func map(_ size: Int) -> UnsafeMutableRawPointer {
        for attempt in 0..<2 {
            if let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED {
                return p
            }
            if attempt == 0 { trim() }   // idle buffers of other sizes first
        }
        // As the standard allocator does when memory runs out.
        fatalError("out of memory: cannot map \(size) bytes for a tensor")
    }

    private static func unmap(_ buffer: UnsafeMutableRawPointer, _ size: Int) {
        munmap(buffer, size)
    }
}
