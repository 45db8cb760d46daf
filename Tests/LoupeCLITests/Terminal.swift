import Foundation
import Glibc

/// Runs the `loupe` executable under a pseudo-terminal (as the controlling terminal of a new
/// session, so typed Ctrl-C becomes SIGINT) and reads what it writes.
final class Terminal {
    let pid: pid_t
    let master: Int32
    private(set) var bytes: [UInt8] = []
    var output: String { String(decoding: bytes, as: UTF8.self) }

    static var loupeBinary: String {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [dir.appendingPathComponent("loupe").path,
                          dir.deletingLastPathComponent().appendingPathComponent("loupe").path]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    init(arguments: [String] = [], environment: [String: String]) throws {
        // posix_openpt/unlockpt/ptsname are hidden by Glibc's module map: use the Linux ioctls.
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0, ioctl(master, 0x4004_5431 /* TIOCSPTLCK */, &unlock) == 0,
              ioctl(master, 0x8004_5430 /* TIOCGPTN */, &number) == 0 else {
            throw NSError(domain: "pty", code: 1)
        }
        let slavePath = "/dev/pts/\(number)"
        var size = winsize(ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, slavePath, O_RDWR, 0) }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        posix_spawnattr_setflags(&attr, Int16(0x80) /* POSIX_SPAWN_SETSID */)
        let binary = Terminal.loupeBinary
        let argv: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        var child: pid_t = 0
        let rc = posix_spawn(&child, binary, &actions, &attr, argv, envp)
        posix_spawn_file_actions_destroy(&actions)
        posix_spawnattr_destroy(&attr)
        guard rc == 0 else { throw NSError(domain: "spawn \(binary)", code: Int(rc)) }
        pid = child
    }

    deinit { close(master) }

    func type(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
    }

    /// Reads until `text` appears after the current mark, or the timeout passes.
    @discardableResult
    func waitFor(_ text: String, after mark: Int = 0, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if String(decoding: bytes[mark...], as: UTF8.self).contains(text) { return true }
            pump(0.05)
        }
        return String(decoding: bytes[mark...], as: UTF8.self).contains(text)
    }

    /// The current end of the output, to wait for text written after it.
    var mark: Int { bytes.count }

    func pump(_ seconds: Double) {
        var fds = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
        if poll(&fds, 1, Int32(seconds * 1000)) > 0 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = read(master, &buffer, buffer.count)
            if n > 0 { bytes += buffer[..<n] }
        }
    }

    /// Waits for the process to exit and returns its status (nil on timeout).
    func wait(timeout: Double = 10) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while Date() < deadline {
            pump(0.02)
            if waitpid(pid, &status, WNOHANG) == pid { return (status >> 8) & 0xff }
        }
        kill(pid, SIGKILL)
        return nil
    }
}
