import CZlib
import LoupeTensor

/// gzip decompression through zlib's inflate.
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
        var hint = input.count * 4
        if input.count >= 18 {
            // The trailer's ISIZE (size mod 2^32) is a good first guess for one member.
            let n = input.count
            let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
            // Deflate expands at most ~1032:1, so a larger ISIZE is corrupt: don't trust it.
            if isize <= input.count * 1040 + 1024 { hint = max(hint, isize + 1) }
        }
        // Inflate straight into the output buffer, doubling it when full.
        var output = [UInt8](repeating: 0, count: max(1024, min(hint, limit)))
        var written = 0
        try input.withUnsafeBytes { raw in
            stream.next_in = UnsafeMutablePointer(mutating: raw.baseAddress?.assumingMemoryBound(to: UInt8.self))
            stream.avail_in = UInt32(raw.count)
            while true {
                if written == output.count {
                    guard output.count < limit else {
                        throw LoupeError("gzip: '\(source)': decompressed data exceeds \(limit) bytes")
                    }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, limit - output.count)))
                }
                let room = min(output.count - written, Int(UInt32.max))
                let status: Int32 = output.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress! + written
                    stream.avail_out = UInt32(room)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                written += room - Int(stream.avail_out)
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
        output.removeLast(output.count - written)
        return output
    }
}
