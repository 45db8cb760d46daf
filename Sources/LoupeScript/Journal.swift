import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An append-only session journal: every completed cell is appended and fsync'ed, so a crash
/// or `kill -9` loses no completed cell. The journal is itself a replayable session file.
public final class Journal {
    public let path: String
    private let fd: Int32

    /// The directory of journals: `$LOUPE_HOME/sessions` or `~/.loupe/sessions`.
    public static var directory: String {
        let env = ProcessInfo.processInfo.environment
        let home = env["LOUPE_HOME"] ?? ((env["HOME"] ?? NSHomeDirectory()) + "/.loupe")
        return home + "/sessions"
    }

    /// Creates a new journal file named by date and process id.
    public init(directory: String = Journal.directory) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        path = "\(directory)/\(f.string(from: Date()))-\(getpid()).loupe"
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { throw LoupeErrorBox("journal: cannot create \(path)") }
        append("# Loupe session journal\n# loupe-version: \(loupeVersion)\n# date: \(ISO8601DateFormatter().string(from: Date()))\n\n")
    }

    deinit { close(fd) }

    /// Appends a completed cell and flushes it to disk.
    public func record(_ cell: Cell) {
        var text = "# [\(cell.number)]\n" + (cell.code.hasSuffix("\n") ? cell.code : cell.code + "\n")
        for line in cell.output { text += SessionFile.outputPrefix + line + "\n" }
        append(text)
    }

    private func append(_ text: String) {
        let bytes = Array(text.utf8)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            written += n
        }
        fsync(fd)
    }

    /// Journal files, newest first.
    public static func list(directory: String = Journal.directory) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".loupe") }.sorted(by: >).map { directory + "/" + $0 }
    }
}

/// A plain error carrying a message (for non-tensor failures such as files).
public struct LoupeErrorBox: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}
