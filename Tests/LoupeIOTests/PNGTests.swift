import Foundation
import XCTest
@testable import LoupeIO
import LoupeTensor
import LoupeTestSupport

final class PNGTests: XCTestCase {
    func testFixturesOfEveryColourTypeAndDepthDecode() throws {
        let cases = try Fixtures.load("png")
        XCTAssertGreaterThanOrEqual(cases.count, 14)
        for fixture in cases {
            let path = Fixtures.directory.appendingPathComponent("png/" + fixture.string("file")!).path
            let image = try PNG.read(path: path)
            XCTAssertEqual(image.shape, try fixture.tensor("output").shape, fixture.name)
            XCTAssertEqual(image.scalars, try fixture.tensor("output").scalars, fixture.name)
        }
    }

    func testDropAlpha() throws {
        let path = Fixtures.directory.appendingPathComponent("png/ct6_d8.png").path
        let rgba = try PNG.read(path: path)
        let rgb = try PNG.read(path: path, dropAlpha: true)
        XCTAssertEqual(rgba.shape[0], 4)
        XCTAssertEqual(rgb.shape, [3] + Array(rgba.shape.dropFirst()))
        XCTAssertEqual(rgb.scalars, Array(rgba.scalars.prefix(rgb.count)))
        let ga = try PNG.read(path: Fixtures.directory.appendingPathComponent("png/ct4_d16.png").path, dropAlpha: true)
        XCTAssertEqual(ga.shape[0], 1)
        let palette = try PNG.read(path: Fixtures.directory.appendingPathComponent("png/ct3_d8_trns.png").path, dropAlpha: true)
        XCTAssertEqual(palette.shape[0], 3)
    }

    func testRoundTripEveryChannelCountAndDepth() throws {
        let directory = TemporaryDirectory()
        for channels in 1...4 {
            for depth in [8, 16] {
                let levels = Float(depth == 8 ? 255 : 65535)
                // Values on the quantisation grid read back exactly.
                var generator = RandomGenerator(seed: UInt64(channels * 100 + depth))
                let values = (0..<(channels * 5 * 7)).map { _ in Float(generator.nextInt(below: Int(levels) + 1)) / levels }
                let image = try Tensor(shape: [channels, 5, 7], scalars: values)
                let path = directory.file("rt_\(channels)_\(depth).png")
                try PNG.write(image, to: path, bitDepth: depth)
                let back = try PNG.read(path: path)
                assertClose(back, image, rtol: 0, atol: 1e-7, "channels \(channels) depth \(depth)")
                let header = try PNG.header(of: try Data(contentsOf: URL(fileURLWithPath: path)))
                XCTAssertEqual(header.bitDepth, depth)
                XCTAssertEqual(header.colorType, [0, 4, 2, 6][channels - 1])
                // In-memory decode of encoded bytes matches too.
                let memory = try PNG.decode(try PNG.encode(image, bitDepth: depth))
                XCTAssertEqual(memory.scalars, back.scalars)
            }
        }
    }

    func testWriteClampsAndQuantises() throws {
        let image = try Tensor(shape: [3, 3], scalars: [-1, 0, 0.25, 0.5, 1, 2, .nan, .infinity, -.infinity])
        let back = try PNG.decode(try PNG.encode(image))
        XCTAssertEqual(back.shape, [1, 3, 3])
        let expected: [Float] = [0, 0, 64.0 / 255, 128.0 / 255, 1, 1, 0, 1, 0]
        assertClose(back, try Tensor(shape: [1, 3, 3], scalars: expected), rtol: 0, atol: 1e-7)
    }

    func testAtomicWriteReplacesAndLeavesNoTemporaries() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("a.png")
        try PNG.write(try Tensor.zeros([1, 2, 2]), to: path)
        try PNG.write(try Tensor.ones([3, 4, 4]), to: path)
        XCTAssertEqual(try PNG.read(path: path).shape, [3, 4, 4])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["a.png"])
    }

    func testEncodeErrorsNameShape() {
        assertThrowsLoupeError(["png.encode", "[5, 2, 2]"]) { try PNG.encode(try Tensor.zeros([5, 2, 2])) }
        assertThrowsLoupeError(["png.encode", "[2]"]) { try PNG.encode(try Tensor.zeros([2])) }
        assertThrowsLoupeError(["png.encode", "[1, 0, 3]"]) { try PNG.encode(try Tensor.zeros([1, 0, 3])) }
        assertThrowsLoupeError(["png.encode", "bit depth 12"]) { try PNG.encode(try Tensor.zeros([1, 2, 2]), bitDepth: 12) }
        assertThrowsLoupeError(["png.write", "/nonexistent-dir/x.png"]) {
            try PNG.write(try Tensor.zeros([1, 2, 2]), to: "/nonexistent-dir/x.png")
        }
    }

    func testReadErrorsNameFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("not.png")
        try Data("hello, this is not a png".utf8).write(to: URL(fileURLWithPath: path))
        assertThrowsLoupeError(["png.read", path, "not a PNG"]) { try PNG.read(path: path) }
        assertThrowsLoupeError(["png.read", directory.file("missing.png")]) { try PNG.read(path: directory.file("missing.png")) }
        assertThrowsLoupeError(["png.read", "not a regular file"]) { try PNG.read(path: directory.path) }
    }

    /// A header claiming 100000 x 100000 pixels is refused before allocation.
    func testAbsurdDimensionsAreRefused() throws {
        let png = MalformedPNG.withHeader(width: 100_000, height: 100_000)
        assertThrowsLoupeError(["png.read", "huge.png", "100000 x 100000", "exceeds"]) {
            try PNG.decode(png, source: "huge.png")
        }
        // Zero width is invalid PNG.
        assertThrowsLoupeError(["png.read", "zero.png"]) { try PNG.decode(MalformedPNG.withHeader(width: 0, height: 4), source: "zero.png") }
    }

    func testCRCErrorIsReported() throws {
        var bytes = [UInt8](try PNG.encode(randomTensor([3, 4, 4], seed: 1)))
        // Flip a byte inside the IDAT payload (after signature 8 + IHDR 25 + IDAT length/type 8).
        bytes[8 + 25 + 8 + 2] ^= 0x40
        assertThrowsLoupeError(["png.read", "crc.png"]) { try PNG.decode(Data(bytes), source: "crc.png") }
        var header = [UInt8](try PNG.encode(randomTensor([1, 2, 2], seed: 2)))
        header[16 + 3] ^= 0x01  // width byte inside IHDR: CRC no longer matches
        assertThrowsLoupeError(["png.read", "crc2.png", "CRC"]) { try PNG.decode(Data(header), source: "crc2.png") }
    }
}

/// Builders of malformed PNG data.
enum MalformedPNG {
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var table = [UInt32](repeating: 0, count: 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1 }
            table[n] = c
        }
        var c: UInt32 = 0xFFFFFFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFFFFFF
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be(UInt32(data.count)) + body + be(crc(body))
    }

    static func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    /// A PNG with a valid IHDR for `width` x `height` 8-bit RGB, a tiny IDAT and IEND.
    static func withHeader(width: UInt32, height: UInt32) -> Data {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        let ihdr = be(width) + be(height) + [8, 2, 0, 0, 0]
        let idat: [UInt8] = [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        return Data(signature + chunk("IHDR", ihdr) + chunk("IDAT", idat) + chunk("IEND", []))
    }
}
