import Foundation

/// Wall-clock timing with warm-up and medians.
enum Timing {
    /// Settings for one measurement; `quick` trades precision for speed.
    struct Settings {
        var warmup = 2
        var minRuns = 5
        var maxRuns = 30
        var budgetSeconds = 0.5

        static let quick = Settings(warmup: 1, minRuns: 3, maxRuns: 5, budgetSeconds: 0.1)
    }

    nonisolated(unsafe) static var settings = Settings()
    /// Whether `--quick` was given (some rows are then skipped).
    nonisolated(unsafe) static var quick = false

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }

    /// Median seconds of each body. Bodies are run interleaved (a, b, a, b, ...) so that load
    /// from other processes affects both sides of a comparison alike.
    static func medians(_ bodies: [() throws -> Void]) throws -> [Double] {
        // Warm up for at least `warmup` rounds and a fifth of the budget (thread pools, caches).
        let warmStart = now()
        var rounds = 0
        while rounds < settings.warmup || now() - warmStart < settings.budgetSeconds / 5 {
            for body in bodies { try body() }
            rounds += 1
        }
        var samples = [[Double]](repeating: [], count: bodies.count)
        let start = now()
        var runs = 0
        while runs < settings.minRuns || (runs < settings.maxRuns && now() - start < settings.budgetSeconds * Double(bodies.count)) {
            for (index, body) in bodies.enumerated() {
                let t0 = now()
                try body()
                samples[index].append(now() - t0)
            }
            runs += 1
        }
        return samples.map { times in
            let sorted = times.sorted()
            let mid = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        }
    }

    /// Median seconds of each body, measured one body after the other (each with its own
    /// warm-up). For references on OpenBLAS's own threads: those spin for a long time after
    /// every call, which would slow whatever runs next if the bodies were interleaved.
    static func blockMedians(_ bodies: [() throws -> Void]) throws -> [Double] {
        try bodies.map { body in try medians([body])[0] }
    }

    /// Median seconds of one body.
    static func median(_ body: () throws -> Void) throws -> Double {
        try withoutActuallyEscaping(body) { body in try medians([body])[0] }
    }
}
