import Foundation
import XCTest
@testable import LoupeIO
import LoupeTensor
import LoupeTestSupport

final class SafeTensorsTests: XCTestCase {
    func testReadsPythonWrittenFileExactly() throws {
        let path = Fixtures.directory.appendingPathComponent("safetensors/reference.safetensors").path
        let file = try SafeTensorsFile(path: path)
        let cases = try Fixtures.load("safetensors_reference")
        XCTAssertEqual(Set(file.names), Set(cases.map(\.name)))
        XCTAssertEqual(file.metadata, ["format": "pt", "note": "written by safetensors_fixture.py"])
        for fixture in cases {
            let tensor = try file.tensor(named: fixture.name)
            let expected = try fixture.tensor("value")
            XCTAssertEqual(tensor.shape, expected.shape, fixture.name)
            XCTAssertEqual(tensor.scalars, expected.scalars, fixture.name)
        }
        XCTAssertEqual(try file.info("bf16").dtype, .bf16)
        XCTAssertEqual(try file.info("scalar").shape, [])
        XCTAssertEqual(try file.info("empty").shape, [0, 3])
        XCTAssertEqual(try file.allTensors().count, cases.count)
        let collection = try SafeTensors.open(path)
        XCTAssertEqual(collection.names, file.names)
        XCTAssertEqual(try collection.tensor(named: "i32").scalars, try file.tensor(named: "i32").scalars)
    }

    func testRoundTripEveryWritableDTypeWithMetadata() throws {
        let directory = TemporaryDirectory()
        let tensors: [String: Tensor] = [
            "weight": randomTensor([3, 4], seed: 3),
            "bias": Tensor([1.5, -2, 0.1]),
            "scalar": Tensor(7.25),
            "empty": try Tensor.zeros([2, 0, 3]),
            "name with \"quotes\" and \\ and \u{e9}": randomTensor([2], seed: 4),
        ]
        let metadata = ["format": "pt", "quote\"key": "line\nbreak"]
        for dtype in [SafeTensorsDType.f32, .f16, .bf16] {
            let path = directory.file("rt-\(dtype.rawValue).safetensors")
            try SafeTensors.write(tensors, to: path, metadata: metadata, dtype: dtype)
            let raw = try Data(contentsOf: URL(fileURLWithPath: path))
            let headerLength = raw.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            XCTAssertEqual(headerLength % 8, 0)
            let file = try SafeTensorsFile(path: path)
            XCTAssertEqual(file.names, tensors.keys.sorted())
            XCTAssertEqual(file.metadata, metadata)
            for (name, tensor) in tensors {
                let back = try file.tensor(named: name)
                XCTAssertEqual(try file.info(name).dtype, dtype)
                switch dtype {
                case .f32: XCTAssertEqual(back.scalars, tensor.scalars, name)
                case .f16: XCTAssertEqual(back.scalars, tensor.scalars.map { Float(Float16($0)) }, name)
                default: assertClose(back, tensor, rtol: 1.0 / 128, atol: 0, name)
                }
                XCTAssertEqual(back.shape, tensor.shape)
            }
        }
    }

    func testBFloat16RoundsToNearestEven() {
        XCTAssertEqual(SafeTensorsDType.bfloat16Bits(1), 0x3F80)
        XCTAssertEqual(SafeTensorsDType.bfloat16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)  // tie -> even
        XCTAssertEqual(SafeTensorsDType.bfloat16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)  // tie -> even
        XCTAssertEqual(SafeTensorsDType.bfloat16Bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(SafeTensorsDType.bfloat16Bits(.nan) & 0x7FC0, 0x7FC0)
    }

    func testWriterRejectsBadRequests() {
        assertThrowsLoupeError(["safetensors.write", "I8"]) { try SafeTensors.encode(["a": Tensor(1)], dtype: .i8) }
        assertThrowsLoupeError(["safetensors.write", "__metadata__"]) { try SafeTensors.encode(["__metadata__": Tensor(1)]) }
    }

    func testShardedCheckpointOpensAsOneCollection() throws {
        let directory = TemporaryDirectory()
        try SafeTensors.write(["a": Tensor([1, 2]), "b": Tensor(3)], to: directory.file("model-00001-of-00002.safetensors"))
        try SafeTensors.write(["c": try Tensor.ones([2, 2])], to: directory.file("model-00002-of-00002.safetensors"))
        let index = """
        {"metadata": {"total_size": 28}, "weight_map": {"a": "model-00001-of-00002.safetensors",
         "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}}
        """
        try Data(index.utf8).write(to: URL(fileURLWithPath: directory.file("model.safetensors.index.json")))
        let collection = try SafeTensors.open(directory.file("model.safetensors.index.json"))
        XCTAssertEqual(collection.names, ["a", "b", "c"])
        XCTAssertEqual(collection.metadata["total_size"], "28")
        XCTAssertEqual(collection.shardFiles.count, 2)
        XCTAssertEqual(try collection.tensor(named: "c").scalars, [1, 1, 1, 1])
        XCTAssertEqual(try collection.allTensors()["a"]?.scalars, [1, 2])
        XCTAssertEqual(try collection.info("b").shape, [])
        assertThrowsLoupeError(["model.safetensors.index.json", "no tensor named 'zzz'"]) { try collection.tensor(named: "zzz") }

        // Index naming a missing shard, a tensor absent from its shard, a path escaping the directory.
        let bad = """
        {"weight_map": {"a": "missing.safetensors", "c": "model-00001-of-00002.safetensors"}}
        """
        try Data(bad.utf8).write(to: URL(fileURLWithPath: directory.file("bad.index.json")))
        let broken = try SafeTensors.open(directory.file("bad.index.json"))
        assertThrowsLoupeError(["missing.safetensors"]) { try broken.tensor(named: "a") }
        assertThrowsLoupeError(["does not hold tensor 'c'"]) { try broken.tensor(named: "c") }
        try Data(#"{"weight_map": {"a": "../x.safetensors"}}"#.utf8).write(to: URL(fileURLWithPath: directory.file("escape.index.json")))
        assertThrowsLoupeError(["escape.index.json", "outside"]) { try SafeTensors.open(directory.file("escape.index.json")) }
        try Data(#"{"metadata": {}}"#.utf8).write(to: URL(fileURLWithPath: directory.file("nomap.index.json")))
        assertThrowsLoupeError(["nomap.index.json", "weight_map"]) { try SafeTensors.open(directory.file("nomap.index.json")) }
    }

    func testMissingTensorAndFileErrors() throws {
        let bytes = try SafeTensors.encode(["x": Tensor(1)])
        let file = try bytes.withUnsafeBytes { try SafeTensorsFile(bytes: $0, name: "mem") }
        assertThrowsLoupeError(["safetensors", "mem", "no tensor named 'y'"]) { try file.tensor(named: "y") }
        assertThrowsLoupeError(["safetensors", "/no/such/file.safetensors"]) { try SafeTensorsFile(path: "/no/such/file.safetensors") }
    }

    func testLargeTensorUsesParallelConversion() throws {
        let big = randomTensor([1 << 19], seed: 9)
        let bytes = try SafeTensors.encode(["big": big], dtype: .f16)
        let file = try bytes.withUnsafeBytes { try SafeTensorsFile(bytes: $0) }
        XCTAssertEqual(try file.tensor(named: "big").scalars, big.scalars.map { Float(Float16($0)) })
    }
}
