import CZlib

/// gzip / zlib decompression through zlib's inflate.
public enum Gzip {
    /// Whether `bytes` start with the gzip magic number.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Decompresses a gzip stream (concatenated members included). Refuses output beyond
    /// `limit` bytes. `source` names the data in error messages.
    public static func decompress(_ input: [UInt8], limit: Int = 1 << 31, source: String) throws -> [UInt8] {
        var stream = z_stream()
        // 15 window bits + 16: gzip header and trailer only.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw LoupeError("gzip: '\(source)': cannot initialise zlib")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        var hint = input.count * 4
        if input.count >= 18 {
            // The trailer's ISIZE (size mod 2^32) is a good first guess for one member.
            let n = input.count
            let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
            hint = max(hint, isize + 1)
        }
        output.reserveCapacity(min(hint, limit))
        var chunk = [UInt8](repeating: 0, count: 1 << 18)
        try input.withUnsafeBytes { raw in
            stream.next_in = UnsafeMutablePointer(mutating: raw.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.avail_in = UInt32(raw.count)
            while true {
                let status: Int32 = chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                guard output.count + produced <= limit else {
                    throw LoupeError("gzip: '\(source)': decompressed data exceeds \(limit) bytes")
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return }
                    // Another gzip member follows.
                    guard inflateReset(&stream) == Z_OK else { throw LoupeError("gzip: '\(source)': corrupt stream") }
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 { throw LoupeError("gzip: '\(source)': file is truncated") }
                    continue
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "corrupt data"
                    throw LoupeError("gzip: '\(source)': \(reason)")
                }
            }
        }
        return output
    }
}
