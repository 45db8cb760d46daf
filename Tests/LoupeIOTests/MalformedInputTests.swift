import Foundation
import XCTest
@testable import LoupeIO
import LoupeTensor

/// A corpus of malformed inputs generated here: every case must throw a LoupeError naming the
/// source, none may crash.
final class MalformedInputTests: XCTestCase {
    func testEveryTruncationOfAPNGThrows() throws {
        for channels in [1, 3, 4] {
            let bytes = [UInt8](try PNG.encode(randomTensor([channels, 6, 5], seed: UInt64(channels)), bitDepth: channels == 3 ? 16 : 8))
            XCTAssertNoThrow(try PNG.decode(Data(bytes)))
            for length in 0..<bytes.count {
                assertThrowsLoupeError(["png.read", "cut-\(length)"]) { try PNG.decode(Data(bytes[0..<length]), source: "cut-\(length)") }
            }
        }
    }

    func testFlippedBytesInAPNGNeverCrash() throws {
        let bytes = [UInt8](try PNG.encode(randomTensor([3, 4, 4], seed: 5)))
        var failures = 0
        for position in 0..<bytes.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var copy = bytes
                copy[position] ^= mask
                // Chunk CRCs cover every byte after the signature, so each flip must be detected
                // (bytes of the signature and chunk lengths included).
                do { _ = try PNG.decode(Data(copy), source: "flip") } catch let error as LoupeError {
                    XCTAssertTrue(error.message.contains("flip"))
                    failures += 1
                }
            }
        }
        XCTAssertEqual(failures, bytes.count * 3)
    }

    // MARK: safetensors

    /// A small valid file: two tensors, metadata.
    func sampleFile() throws -> [UInt8] {
        try SafeTensors.encode(["a": Tensor([1, 2, 3]), "b": try Tensor.ones([2, 2])], metadata: ["k": "v"])
    }

    func open(_ bytes: [UInt8], _ name: String = "bad.safetensors") throws -> SafeTensorsFile {
        try bytes.withUnsafeBytes { try SafeTensorsFile(bytes: $0, name: name) }
    }

    /// Builds a file from a header text and a data buffer, with the length field given or true.
    func build(_ header: String, data: [UInt8], length: UInt64? = nil) -> [UInt8] {
        let h = Array(header.utf8)
        let n = length ?? UInt64(h.count)
        return (0..<8).map { UInt8((n >> (8 * UInt64($0))) & 0xFF) } + h + data
    }

    func testEveryTruncationOfASafeTensorsFileThrows() throws {
        let bytes = try sampleFile()
        XCTAssertNoThrow(try open(bytes))
        for length in 0..<bytes.count {
            assertThrowsLoupeError(["safetensors", "cut-\(length)"]) { try open(Array(bytes[0..<length]), "cut-\(length)") }
        }
        // Extra trailing bytes are an uncovered buffer.
        assertThrowsLoupeError(["safetensors", "cover"]) { try open(bytes + [0]) }
    }

    func testFlippedHeaderBytesNeverCrash() throws {
        let bytes = try sampleFile()
        let headerEnd = 8 + Int(bytes[0]) + Int(bytes[1]) << 8
        var thrown = 0, accepted = 0
        for position in 0..<headerEnd {
            for mask: UInt8 in [0x01, 0x20, 0x80] {
                var copy = bytes
                copy[position] ^= mask
                do {
                    let file = try open(copy, "flip")
                    // A flip that still validates (e.g. inside a name or metadata) must read.
                    for name in file.names { _ = try file.tensor(named: name) }
                    accepted += 1
                } catch let error as LoupeError {
                    XCTAssertTrue(error.message.contains("flip"), error.message)
                    thrown += 1
                }
            }
        }
        XCTAssertGreaterThan(thrown, 0)
        XCTAssertGreaterThan(accepted, 0)
    }

    func testStructuralViolationsThrowNamingFileAndTensor() throws {
        let eight = [UInt8](repeating: 0, count: 8)
        let twelve = [UInt8](repeating: 0, count: 12)
        // Overlapping offsets.
        assertThrowsLoupeError(["bad.safetensors", "overlap"]) {
            try open(build(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: eight))
        }
        // Gap between tensors.
        assertThrowsLoupeError(["bad.safetensors", "tensor 'b'", "gap"]) {
            try open(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, data: twelve))
        }
        // Offsets beyond the buffer.
        assertThrowsLoupeError(["bad.safetensors", "tensor 'a'", "outside"]) {
            try open(build(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: eight))
        }
        // Shape/size mismatch.
        assertThrowsLoupeError(["bad.safetensors", "tensor 'a'", "needs 12"]) {
            try open(build(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: eight))
        }
        // Unknown dtype.
        assertThrowsLoupeError(["bad.safetensors", "tensor 'a'", "unknown dtype 'F128'"]) {
            try open(build(#"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,8]}}"#, data: eight))
        }
        // Shape product overflow.
        assertThrowsLoupeError(["bad.safetensors", "tensor 'a'", "overflow"]) {
            try open(build(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}"#, data: eight))
        }
        assertThrowsLoupeError(["bad.safetensors", "tensor 'a'", "overflow"]) {
            try open(build(#"{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}"#, data: eight))
        }
        // Negative, fractional or boolean dimensions; bad offsets.
        for shape in ["[-1]", "[1.5]", "[true]", "\"2\""] {
            assertThrowsLoupeError(["bad.safetensors", "tensor 'a'", "shape"]) {
                try open(build(#"{"a":{"dtype":"F32","shape":\#(shape),"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            }
        }
        for offsets in ["[0]", "[0,4,8]", "[-4,0]", "[4,0]", "null"] {
            assertThrowsLoupeError(["bad.safetensors", "tensor 'a'"]) {
                try open(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":\#(offsets)}}"#, data: [0, 0, 0, 0]))
            }
        }
        // Header length larger than the file, absurd header length, tiny files.
        assertThrowsLoupeError(["bad.safetensors", "header length 1000"]) { try open(build("{}", data: [], length: 1000)) }
        assertThrowsLoupeError(["bad.safetensors", "limit"]) { try open(build("{}", data: [], length: 1 << 40)) }
        assertThrowsLoupeError(["bad.safetensors", "limit"]) { try open(build("{}", data: [], length: UInt64.max)) }
        assertThrowsLoupeError(["bad.safetensors", "too small"]) { try open([1, 2, 3]) }
        // Not an object / not JSON / bad metadata / duplicate keys.
        assertThrowsLoupeError(["bad.safetensors", "'{'"]) { try open(build("[1,2]   ", data: [])) }
        assertThrowsLoupeError(["bad.safetensors", "invalid JSON"]) { try open(build("{\"a\":", data: [])) }
        assertThrowsLoupeError(["bad.safetensors", "__metadata__"]) { try open(build(#"{"__metadata__":{"k":1}}"#, data: [])) }
        assertThrowsLoupeError(["bad.safetensors", "__metadata__"]) { try open(build(#"{"__metadata__":[]}"#, data: [])) }
        assertThrowsLoupeError(["bad.safetensors", "duplicate"]) {
            try open(build(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        }
        assertThrowsLoupeError(["bad.safetensors", "tensor 'a'", "object"]) { try open(build(#"{"a":3}"#, data: [])) }
        // Valid edge cases: empty header object with trailing spaces, empty tensors.
        XCTAssertEqual(try open(build("{}      ", data: [])).names, [])
        XCTAssertEqual(try open(build(#"{"e":{"dtype":"I64","shape":[0,5],"data_offsets":[0,0]}}"#, data: [])).tensor(named: "e").shape, [0, 5])
    }

    func testMalformedFilesOnDiskNameTheFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("broken.safetensors")
        try Data([9, 0, 0, 0, 0, 0, 0, 0, 0x7B]).write(to: URL(fileURLWithPath: path))
        assertThrowsLoupeError(["safetensors", path]) { try SafeTensorsFile(path: path) }
        let empty = directory.file("empty.safetensors")
        try Data().write(to: URL(fileURLWithPath: empty))
        assertThrowsLoupeError(["safetensors", empty, "too small"]) { try SafeTensorsFile(path: empty) }
    }
}
