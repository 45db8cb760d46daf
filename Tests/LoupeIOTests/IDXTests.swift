import Foundation
import XCTest
@testable import LoupeIO

final class IDXTests: XCTestCase {
    func idx(type: UInt8, dims: [UInt32], payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, type, UInt8(dims.count)]
        for d in dims { bytes += [UInt8(d >> 24), UInt8((d >> 16) & 0xFF), UInt8((d >> 8) & 0xFF), UInt8(d & 0xFF)] }
        return bytes + payload
    }

    func gzip(_ bytes: [UInt8], at path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path + ".raw"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "gzip -c '\(path).raw' > '\(path)'"]
        try process.run()
        process.waitUntilExit()
    }

    func testDecodesSmallFilesPlainAndGzipped() throws {
        let images = idx(type: 0x08, dims: [2, 2, 3], payload: Array(0..<12).map { UInt8($0 * 20) })
        let decoded = try IDX.decodeImages(images)
        XCTAssertEqual(decoded.shape, [2, 1, 2, 3])
        XCTAssertEqual(decoded.scalars[11], 220.0 / 255, accuracy: 1e-7)
        let labels = idx(type: 0x08, dims: [3], payload: [9, 2, 1])
        XCTAssertEqual(try IDX.decodeLabels(labels).scalars, [9, 2, 1])
        let ints = idx(type: 0x0C, dims: [2], payload: [0xFF, 0xFF, 0xFF, 0xFE, 0, 0, 1, 0])
        XCTAssertEqual(try IDX.decode(ints).scalars, [-2, 256])

        let directory = TemporaryDirectory()
        try gzip(images, at: directory.file("img.gz"))
        XCTAssertEqual(try IDX.readImages(path: directory.file("img.gz")).scalars, decoded.scalars)
        try Data(labels).write(to: URL(fileURLWithPath: directory.file("labels")))
        XCTAssertEqual(try IDX.readLabels(path: directory.file("labels")).scalars, [9, 2, 1])
    }

    func testMalformedIDXThrowsNamingFile() throws {
        let good = idx(type: 0x08, dims: [2, 2, 2], payload: Array(repeating: 1, count: 8))
        for length in 0..<good.count {
            assertThrowsLoupeError(["idx", "cut"]) { try IDX.decodeImages(Array(good[0..<length]), source: "cut") }
        }
        assertThrowsLoupeError(["idx", "f", "magic"]) { try IDX.decode([1, 0, 8, 1, 0, 0, 0, 0], source: "f") }
        assertThrowsLoupeError(["idx", "f", "element type"]) { try IDX.decode([0, 0, 0x42, 1, 0, 0, 0, 0], source: "f") }
        assertThrowsLoupeError(["idx", "f", "0x00000803"]) { try IDX.decodeImages(idx(type: 0x08, dims: [2], payload: [0, 0]), source: "f") }
        assertThrowsLoupeError(["idx", "f", "0x00000801"]) { try IDX.decodeLabels(good, source: "f") }
        assertThrowsLoupeError(["idx", "f", "need"]) { try IDX.decode(good + [0], source: "f") }
        assertThrowsLoupeError(["idx", "f", "too large"]) {
            try IDX.decode(idx(type: 0x08, dims: [0xFFFFFFFF, 0xFFFFFFFF, 0xFFFF], payload: []), source: "f")
        }

        let directory = TemporaryDirectory()
        try gzip(good, at: directory.file("t.gz"))
        var compressed = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory.file("t.gz"))))
        let truncated = directory.file("truncated.gz")
        try Data(compressed.prefix(compressed.count - 6)).write(to: URL(fileURLWithPath: truncated))
        assertThrowsLoupeError(["truncated.gz"]) { try IDX.readImages(path: truncated) }
        compressed[compressed.count - 8] ^= 0xFF  // CRC32 in the trailer
        let corrupt = directory.file("corrupt.gz")
        try Data(compressed).write(to: URL(fileURLWithPath: corrupt))
        assertThrowsLoupeError(["corrupt.gz"]) { try IDX.readImages(path: corrupt) }
    }

    func testFashionMNISTTestSplit() throws {
        guard FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory) else {
            throw XCTSkip("dataset-fashion-mnist is not installed")
        }
        let dataset = try FashionMNIST()
        let test = try dataset.load("test")
        XCTAssertEqual(test.images.shape, [10000, 1, 28, 28])
        XCTAssertEqual(test.labels.shape, [10000])
        XCTAssertEqual(Array(test.labels.scalars.prefix(5)), [9, 2, 1, 1, 6])
        XCTAssertEqual(FashionMNIST.classNames[9], "Ankle boot")
        let pixels = test.images.scalars
        XCTAssertEqual(pixels.min(), 0)
        XCTAssertEqual(pixels.max(), 1)
        // Second load comes from the cache (same storage).
        XCTAssertTrue(try dataset.load(.test).images.storage === test.images.storage)
        assertThrowsLoupeError(["fashion-mnist", "validation"]) { try dataset.load("validation") }
        let train = try dataset.load(.train)
        XCTAssertEqual(train.images.shape, [60000, 1, 28, 28])
        XCTAssertEqual(Set(train.labels.scalars), Set((0..<10).map(Float.init)))
    }

    func testFashionMNISTMissingDirectoryExplainsInstall() {
        assertThrowsLoupeError(["fashion-mnist", "/no/such/dir", "apt-get install dataset-fashion-mnist"]) {
            try FashionMNIST(directory: "/no/such/dir")
        }
    }
}
