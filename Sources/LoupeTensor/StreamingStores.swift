import CBLAS

/// Writes outputs larger than the caches with non-temporal stores. A plain store first reads
/// the line it writes into the cache, so an elementwise op on tensors that do not fit moves
/// four streams through memory (two inputs, the output read, the output written); streaming
/// stores skip the read. Values are produced block by block into a small buffer that stays
/// in L1, then streamed out, so kernels keep their ordinary vectorized loops.
enum StreamingStores {
    /// Outputs of at least this many floats (16 MB, half the L3 of a Zen 4 CCD) are streamed;
    /// smaller ones are likely still in a cache when the next op reads them.
    static let minimumCount = 1 << 22
    /// Floats per block (4 KB, a multiple of 16).
    static let blockCount = 1 << 10

    /// Whether `write` should be used for `count` floats at `destination`.
    static func pays(count: Int, destination: UnsafeMutablePointer<Float>) -> Bool {
        count >= minimumCount && Int(bitPattern: destination) % 64 == 0
    }

    /// Fills `destination[0..<count]` on all workers: `produce(offset, buffer, n)` writes
    /// elements `offset..<offset + n` into `buffer` (at most `blockCount` floats), which are
    /// then streamed to their place. `destination` must be 64-byte aligned.
    static func write(into destination: UnsafeMutablePointer<Float>, count: Int,
                      _ produce: (Int, UnsafeMutablePointer<Float>, Int) -> Void) {
        let blocks = (count + blockCount - 1) / blockCount
        Parallel.forRanges(blocks, minimum: 2) { start, end in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: blockCount) { scratch in
                guard let buffer = scratch.baseAddress else { return }
                for block in start..<end {
                    let offset = block * blockCount, n = Swift.min(blockCount, count - offset)
                    produce(offset, buffer, n)
                    let target = destination + offset
                    var j = 0
                    while j + 16 <= n {
                        loupe_stream16(target + j, UnsafeRawPointer(buffer + j).loadUnaligned(as: SIMD16<Float>.self))
                        j += 16
                    }
                    while j < n {
                        target[j] = buffer[j]
                        j += 1
                    }
                }
                loupe_stream_fence()
            }
        }
    }
}
