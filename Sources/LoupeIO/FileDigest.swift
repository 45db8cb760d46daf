import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
import LoupeTensor
#endif

/// SHA-256 digests (swift-crypto's `SHA256`) of bytes and of files, the latter read in chunks so
/// that hashing a large file holds no copy of it.
public enum FileDigest {
    /// Bytes read per `read` call when hashing a file.
    static let chunkSize = 4 << 20

    /// The SHA-256 of `bytes` as 64 lowercase hex digits.
    public static func sha256Hex(_ bytes: UnsafeRawBufferPointer) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// The SHA-256 of `bytes` as 64 lowercase hex digits.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes { sha256Hex($0) }
    }

    /// The SHA-256 of the file at `path`, streamed, as 64 lowercase hex digits. `op` prefixes
    /// error messages.
    public static func sha256Hex(ofFile path: String, op: String) throws -> String {
        try hashFile(path, op: op).hash
    }

    /// Hashes the file at `path` and returns its digest with the file's status before and after
    /// reading (equal unless the file changed meanwhile).
    static func hashFile(_ path: String, op: String) throws -> (hash: String, before: FileStatus, after: FileStatus) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LoupeError("\(op): cannot open '\(path)': \(FileIO.errnoText())") }
        defer { close(fd) }
        let before = try FileStatus(fd: fd, path: path, op: op)
        guard before.isRegularFile else { throw LoupeError("\(op): '\(path)' is not a regular file") }
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw LoupeError("\(op): cannot read '\(path)': \(FileIO.errnoText())")
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        let after = try FileStatus(fd: fd, path: path, op: op)
        return (hex(hasher.finalize()), before, after)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// What identifies one version of a file without reading it: device, inode, size, and
/// modification and status-change times in nanoseconds.
struct FileStatus: Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int64
    var changed: Int64
    var isRegularFile: Bool

    init(fd: Int32, path: String, op: String) throws {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LoupeError("\(op): cannot stat '\(path)': \(FileIO.errnoText())") }
        self.init(info)
    }

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        self.init(info)
    }

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        isRegularFile = (info.st_mode & S_IFMT) == S_IFREG
    }

    /// The fields in the order a cache entry stores them.
    var fields: [String] { [device, inode].map(String.init) + [size, modified, changed].map(String.init) }
}

/// File SHA-256 digests remembered across runs, so an unchanged file is not read again.
///
/// One small entry file per hashed path (named by the SHA-256 of the absolute path) holds the
/// path, device, inode, size, modification and status-change times (ns) and the digest; an entry
/// is used only when all of them still match the file, and is written atomically. Unreadable or
/// malformed entries are ignored and replaced; a cache directory that cannot be written only
/// costs the saving. A file whose modification time is within `racyInterval` of the moment it was
/// hashed is not remembered: a later write in the same clock tick could keep its times and size.
/// `loupe run --verify` does not use the cache: it hashes every recorded file afresh.
public final class FileHashCache: @unchecked Sendable {
    /// The directory holding the entries.
    public let directory: String
    /// Files modified or changed this recently (ns) when hashed are not remembered.
    public let racyInterval: Int64
    private static let version = "loupe-sha256-cache 1"

    /// The default cache: `$LOUPE_HOME/cache/sha256` or `~/.loupe/cache/sha256`.
    public static let shared = FileHashCache(directory: defaultDirectory)

    /// `$LOUPE_HOME/cache/sha256`, or `~/.loupe/cache/sha256`.
    public static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        let home = env["LOUPE_HOME"] ?? ((env["HOME"] ?? NSHomeDirectory()) + "/.loupe")
        return home + "/cache/sha256"
    }

    /// A cache keeping its entries in `directory` (created when first needed). Files modified
    /// or changed less than `racyInterval` nanoseconds (default 2 s) before they are hashed are
    /// not remembered.
    public init(directory: String, racyInterval: Int64 = 2_000_000_000) {
        self.directory = directory
        self.racyInterval = racyInterval
    }

    /// The SHA-256 of the file at `path` (64 lowercase hex digits): remembered when the file is
    /// unchanged since it was last hashed, else computed by streaming and remembered. `op`
    /// prefixes error messages.
    public func sha256Hex(ofFile path: String, op: String) throws -> String {
        let absolute = FileHashCache.absolute(path)
        let entry = entryPath(for: absolute)
        if let status = FileStatus(path: absolute), status.isRegularFile,
           let remembered = lookUp(entry: entry, path: absolute, status: status) {
            return remembered
        }
        let result = try FileDigest.hashFile(path, op: op)
        remember(result.hash, status: result.before, after: result.after, path: absolute, entry: entry)
        return result.hash
    }

    /// The remembered digest of `path` if its entry matches `status`, else nil.
    func lookUp(entry: String, path: String, status: FileStatus) -> String? {
        guard let data = FileManager.default.contents(atPath: entry), data.count < 65_536 else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count >= 4, lines[0] == FileHashCache.version, lines[1] == path,
              lines[2] == status.fields.joined(separator: " ") else { return nil }
        let hash = String(lines[3])
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return hash
    }

    private func remember(_ hash: String, status: FileStatus, after: FileStatus, path: String, entry: String) {
        guard status == after else { return }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let nowNanoseconds = Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
        guard nowNanoseconds - status.modified >= racyInterval, nowNanoseconds - status.changed >= racyInterval else { return }
        let text = [FileHashCache.version, path, status.fields.joined(separator: " "), hash].joined(separator: "\n") + "\n"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileIO.writeAtomically(Array(text.utf8), to: entry, op: "sha256 cache")
        } catch {
            // A cache that cannot be written only loses the saving.
        }
    }

    /// The entry file for an absolute path.
    func entryPath(for absolute: String) -> String {
        directory + "/" + FileDigest.sha256Hex(Array(absolute.utf8))
    }

    /// `path` made absolute (against the current directory), without resolving links.
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }
}
