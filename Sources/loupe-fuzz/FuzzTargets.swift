import Foundation
import LoupeIO
import LoupeTensor

/// The fuzz targets: each takes arbitrary bytes and must either succeed or throw a LoupeError,
/// never crash, hang or allocate without bound.
enum FuzzTargets {
    /// Target names, as given to `Scripts/fuzz` and the replay mode.
    static let names = ["safetensors", "png", "idx", "script"]

    /// Runs target `name` on `bytes`; returns a one-line outcome.
    @discardableResult
    static func run(_ name: String, _ bytes: UnsafeRawBufferPointer) -> String {
        do {
            switch name {
            case "safetensors":
                let file = try SafeTensorsFile(bytes: bytes, name: "fuzz")
                var total = 0
                for tensorName in file.names {
                    let tensor = try file.tensor(named: tensorName)
                    total += tensor.count
                }
                return "ok: \(file.names.count) tensors, \(total) elements"
            case "png":
                // libpng is not instrumented and rejects almost every mutation on its chunk CRCs;
                // decode the input as given and also with every chunk CRC repaired, so mutations
                // reach the chunk parsers and the decompressor.
                var repaired = [UInt8](bytes)
                if PNGChunks.repairCRCs(&repaired) {
                    _ = try? repaired.withUnsafeBytes { try PNG.decode($0, source: "fuzz") }
                }
                let image = try PNG.decode(bytes, source: "fuzz")
                // A successful decode must encode and decode again to the same shape.
                let again = try PNG.decode(try PNG.encode(image, bitDepth: 16))
                precondition(again.shape == image.shape, "png round trip changed the shape")
                return "ok: \(describe(shape: image.shape))"
            case "script":
                return ScriptFuzz.run(bytes)
            case "idx":
                var raw = [UInt8](bytes)
                if Gzip.isGzip(raw) { raw = try Gzip.decompress(raw, limit: 1 << 26, source: "fuzz") }
                let tensor = try IDX.decode(raw, source: "fuzz")
                _ = try? IDX.decodeImages(raw, source: "fuzz")
                _ = try? IDX.decodeLabels(raw, source: "fuzz")
                return "ok: \(describe(shape: tensor.shape))"
            default:
                return "unknown target \(name)"
            }
        } catch {
            return "error: \(error)"
        }
    }
}

/// Walks PNG chunks and rewrites each chunk's CRC (so mutated chunks pass libpng's check).
enum PNGChunks {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// Returns whether any CRC was rewritten.
    static func repairCRCs(_ bytes: inout [UInt8]) -> Bool {
        var position = 8
        var changed = false
        while position + 12 <= bytes.count {
            let length = Int(bytes[position]) << 24 | Int(bytes[position + 1]) << 16 | Int(bytes[position + 2]) << 8 | Int(bytes[position + 3])
            let end = position + 8 + length
            guard length >= 0, end + 4 <= bytes.count else { break }
            var c: UInt32 = 0xFFFFFFFF
            for i in (position + 4)..<end { c = table[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8) }
            c ^= 0xFFFFFFFF
            let crc: [UInt8] = [UInt8(c >> 24), UInt8((c >> 16) & 0xFF), UInt8((c >> 8) & 0xFF), UInt8(c & 0xFF)]
            if Array(bytes[end..<(end + 4)]) != crc {
                bytes.replaceSubrange(end..<(end + 4), with: crc)
                changed = true
            }
            position = end + 4
        }
        return changed
    }
}
