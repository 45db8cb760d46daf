import Foundation
#if canImport(Glibc)
import Glibc
import LoupeTensor
#endif

/// Low-level file helpers shared by the readers and writers: whole-file reads, read-only memory
/// maps and atomic writes (temporary file in the same directory, fsync, rename).
public enum FileIO {
    /// Reads a whole file. `op` prefixes error messages.
    public static func readAll(_ path: String, op: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LoupeError("\(op): cannot open '\(path)': \(errnoText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LoupeError("\(op): cannot stat '\(path)': \(errnoText())") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw LoupeError("\(op): '\(path)' is not a regular file") }
        let size = Int(info.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { buffer in read(fd, buffer.baseAddress! + done, size - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LoupeError("\(op): cannot read '\(path)': \(errnoText())")
            }
            if n == 0 { break }
            done += n
        }
        if done < size { bytes.removeLast(size - done) }
        return bytes
    }

    /// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
    /// flushed with fsync, then renamed over `path`; the directory is synced afterwards.
    public static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to path: String, op: String) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LoupeError("\(op): cannot create a temporary file for '\(path)' (\(temporary)): \(errnoText())") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                let text = errnoText()
                close(fd)
                throw LoupeError("\(op): cannot write '\(path)': \(text)")
            }
            done += n
        }
        guard fsync(fd) == 0 else {
            let text = errnoText()
            close(fd)
            throw LoupeError("\(op): cannot sync '\(path)': \(text)")
        }
        guard close(fd) == 0 else { throw LoupeError("\(op): cannot close '\(path)': \(errnoText())") }
        guard rename(temporary, path) == 0 else {
            throw LoupeError("\(op): cannot rename onto '\(path)': \(errnoText())")
        }
        ok = true
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Writes `bytes` atomically (see `writeAtomically(_:to:op:)`).
    public static func writeAtomically(_ bytes: [UInt8], to path: String, op: String) throws {
        try bytes.withUnsafeBytes { buffer in
            if buffer.baseAddress == nil {
                var empty: UInt8 = 0
                try withUnsafeBytes(of: &empty) { try writeAtomically(UnsafeRawBufferPointer(rebasing: $0[0..<0]), to: path, op: op) }
            } else {
                try writeAtomically(buffer, to: path, op: op)
            }
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// A read-only memory map of a whole file, unmapped when released. (As with any mmap, a file
/// truncated by another process while mapped faults on access; Loupe never writes in place.)
public final class MappedFile: @unchecked Sendable {
    /// The mapped bytes.
    public let bytes: UnsafeRawBufferPointer
    /// The file's path.
    public let path: String
    private let mapped: Bool

    /// Maps `path` read-only. `op` prefixes error messages.
    public init(path: String, op: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LoupeError("\(op): cannot open '\(path)': \(FileIO.errnoText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw LoupeError("\(op): cannot stat '\(path)': \(FileIO.errnoText())") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw LoupeError("\(op): '\(path)' is not a regular file") }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            mapped = false
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else {
            throw LoupeError("\(op): cannot map '\(path)': \(FileIO.errnoText())")
        }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        mapped = true
    }

    deinit {
        if mapped, let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    /// The mapped bytes as `Data`, without copying; the mapping lives as long as the `Data`.
    public var data: Data {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return Data() }
        return Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count,
                    deallocator: .custom { _, _ in withExtendedLifetime(self) {} })
    }

    /// Tells the kernel the pages wholly inside `range` (byte offsets) are not needed for now:
    /// they leave this process's resident memory (the page cache keeps them) and are read
    /// again on the next access. Loading a checkpoint tensor by tensor thus holds about one
    /// tensor's worth of the file in memory rather than the whole file.
    public func release(_ range: Range<Int>) {
        guard mapped, let base = bytes.baseAddress else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lower = min(bytes.count, max(0, range.lowerBound))
        let upper = min(bytes.count, max(lower, range.upperBound))
        // The mapping starts on a page boundary: round the start up and the end down.
        let start = (lower + page - 1) / page * page
        let end = upper == bytes.count ? upper : upper / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }
}
