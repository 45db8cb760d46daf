import Foundation
import XCTest
@testable import LoupeIO
import LoupeTensor

/// Loupe's safetensors writer against files Python's `safetensors` wrote for the same tensors and
/// metadata (Scripts/fixtures/safetensors_writer.py, which also checks that Python's reader loads
/// a file written by `loupe`).
final class SafeTensorsWriterTests: XCTestCase {
    /// The script's NAMES, in its order (the value formula uses the index).
    static let names: [(String, [Int])] = [("weight", [3, 4]), ("blocks.0.attn.qkv.bias", [6]), ("a.empty", [0, 3]),
                                           ("scalar", []), ("z/last", [2, 1, 2]), ("B_upper", [5])]
    static let metadata = ["loupe.config": "{\"note\": \"tab\there\\nnewline \\\\ back\", \"x\": \"\u{e9}\u{2713} \u{01}\"}\nend"]
    static let multi = ["format": "pt", "loupe.architecture": "vit", "loupe.classes": "[\"a\", \"b\"]"]

    /// v_i = float32(((i * 37 + k) % 101 - 50) / 7), computed in Double then rounded, as the script.
    static func tensors() throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for (k, (name, shape)) in names.enumerated() {
            let count = shape.reduce(1, *)
            let values = (0..<count).map { i in Float(Double((i * 37 + k) % 101 - 50) / 7) }
            result[name] = try Tensor(shape: shape, scalars: values)
        }
        return result
    }

    private func fixture(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: Fixtures.directory.appendingPathComponent("safetensors/\(name).safetensors")))
    }

    func testFilesWrittenByLoupeAreByteIdenticalToPythons() throws {
        let directory = TemporaryDirectory()
        let cases: [(String, SafeTensorsDType, [String: String])] = [
            ("writer_f32", .f32, Self.metadata), ("writer_f16", .f16, Self.metadata), ("writer_bf16", .bf16, Self.metadata),
            ("writer_plain", .f32, [:]),
        ]
        for (name, dtype, metadata) in cases {
            let path = directory.file(name + ".safetensors")
            try SafeTensors.write(try Self.tensors(), to: path, metadata: metadata, dtype: dtype)
            let written = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let expected = try fixture(name)
            XCTAssertEqual(written.count, expected.count, name)
            if written != expected {
                let first = (0..<min(written.count, expected.count)).first { written[$0] != expected[$0] } ?? min(written.count, expected.count)
                let headerLength = expected.count >= 8 ? Int(expected[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) : 0
                XCTFail("\(name): first differing byte \(first) (header ends at \(8 + headerLength)):\n"
                        + "loupe:  \(String(decoding: written[8..<min(written.count, 8 + headerLength)], as: UTF8.self))\n"
                        + "python: \(String(decoding: expected[8..<min(expected.count, 8 + headerLength)], as: UTF8.self))")
            }
        }
    }

    /// With several metadata entries Python orders them as its hash map iterates (differently from
    /// run to run), so this file's header is compared as JSON, its data section byte for byte.
    func testSeveralMetadataEntriesMatchPythonsHeaderAndData() throws {
        let expected = try fixture("writer_multi")
        let written = try SafeTensors.encode(try Self.tensors(), metadata: Self.multi)
        func split(_ bytes: [UInt8]) throws -> (header: NSDictionary, data: ArraySlice<UInt8>) {
            let length = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + length)])) as! NSDictionary
            return (header, bytes[(8 + length)...])
        }
        let (loupeHeader, loupeData) = try split(written)
        let (pythonHeader, pythonData) = try split(expected)
        XCTAssertEqual(written.count, expected.count)
        XCTAssertEqual(loupeHeader, pythonHeader)
        XCTAssertEqual(Array(loupeData), Array(pythonData))
        // And Loupe reads Python's file back to the same values and metadata.
        let file = try SafeTensorsFile(path: Fixtures.directory.appendingPathComponent("safetensors/writer_multi.safetensors").path)
        XCTAssertEqual(file.metadata, Self.multi)
        for (name, tensor) in try Self.tensors() {
            XCTAssertEqual(try file.tensor(named: name).scalars, tensor.scalars, name)
        }
    }
}
