import Foundation
import XCTest
@testable import LoupeIO

/// SHA-256 of bytes and files (FIPS 180-2 / NIST example vectors) and the file hash cache.
final class FileDigestTests: XCTestCase {
    func testVectors() {
        XCTAssertEqual(FileDigest.sha256Hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(FileDigest.sha256Hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(FileDigest.sha256Hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(FileDigest.sha256Hex([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// A file longer than one read chunk hashes as its bytes do in one piece.
    func testFileHashStreamsAcrossChunks() throws {
        let bytes = (0..<(FileDigest.chunkSize + 12_345)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let path = temporaryPath("stream")
        try FileIO.writeAtomically(bytes, to: path, op: "test")
        XCTAssertEqual(try FileDigest.sha256Hex(ofFile: path, op: "test"), FileDigest.sha256Hex(bytes))
        XCTAssertThrowsError(try FileDigest.sha256Hex(ofFile: path + ".missing", op: "model")) { error in
            XCTAssertTrue("\(error)".hasPrefix("model: cannot open '\(path).missing'"), "\(error)")
        }
    }

    /// An unchanged file's digest comes from its entry; any change of content (even with the same
    /// size and modification time), a corrupt entry or a just-written file means hashing again.
    func testCacheRemembersOnlyUnchangedFiles() throws {
        let directory = temporaryPath("cache")
        let cache = FileHashCache(directory: directory, racyInterval: 0)
        let path = temporaryPath("cached")
        try FileIO.writeAtomically(Array("hello".utf8), to: path, op: "test")
        let hello = FileDigest.sha256Hex(Array("hello".utf8))
        XCTAssertEqual(try cache.sha256Hex(ofFile: path, op: "test"), hello)
        let entry = cache.entryPath(for: path)
        XCTAssertTrue(FileManager.default.fileExists(atPath: entry))

        // The entry is what answers: a forged digest in it is returned while the file is unchanged.
        let forged = String(repeating: "ab", count: 32)
        let text = try String(contentsOfFile: entry, encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        try FileIO.writeAtomically(Array((lines[0..<3] + [forged]).joined(separator: "\n").utf8), to: entry, op: "test")
        XCTAssertEqual(try cache.sha256Hex(ofFile: path, op: "test"), forged)

        // Same size, same modification time, new content: the change time gives it away.
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        let fd = open(path, O_WRONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertEqual(Array("jello".utf8).withUnsafeBytes { pwrite(fd, $0.baseAddress, 5, 0) }, 5)
        var times = [info.st_atim, info.st_mtim]
        XCTAssertEqual(futimens(fd, &times), 0)
        close(fd)
        XCTAssertEqual(try cache.sha256Hex(ofFile: path, op: "test"), FileDigest.sha256Hex(Array("jello".utf8)))

        // A corrupt entry is ignored and replaced.
        try FileIO.writeAtomically(Array("garbage\u{0}\n".utf8), to: entry, op: "test")
        XCTAssertEqual(try cache.sha256Hex(ofFile: path, op: "test"), FileDigest.sha256Hex(Array("jello".utf8)))
        XCTAssertTrue(try String(contentsOfFile: entry, encoding: .utf8).hasPrefix("loupe-sha256-cache 1\n"))

        // A file changed within the racy interval is hashed but not remembered.
        let strict = FileHashCache(directory: temporaryPath("cache2"))
        XCTAssertEqual(try strict.sha256Hex(ofFile: path, op: "test"), FileDigest.sha256Hex(Array("jello".utf8)))
        XCTAssertFalse(FileManager.default.fileExists(atPath: strict.entryPath(for: path)))
    }

    /// An unwritable cache directory costs only the saving.
    func testUnwritableCacheStillHashes() throws {
        let blocker = temporaryPath("blocker")
        try FileIO.writeAtomically(Array("x".utf8), to: blocker, op: "test")
        let cache = FileHashCache(directory: blocker + "/sub", racyInterval: 0)
        XCTAssertEqual(try cache.sha256Hex(ofFile: blocker, op: "test"), FileDigest.sha256Hex(Array("x".utf8)))
    }

    private func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "loupe-digest-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }
}
