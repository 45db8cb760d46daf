import CEditLine
import Foundation
import Glibc
import LoupeScript
import LoupeTensor

/// The prompt text libedit shows; a global because libedit's prompt callback is a plain C
/// function pointer without context.
nonisolated(unsafe) var currentPrompt: [CChar] = Array("> ".utf8CString)
/// The session whose completions libedit's tab callback uses.
nonisolated(unsafe) var completionSession: ReplSession?

private func promptCallback(_ el: OpaquePointer?) -> UnsafeMutablePointer<CChar>? {
    currentPrompt.withUnsafeMutableBufferPointer { $0.baseAddress }
}

private func completeCallback(_ el: OpaquePointer?, _ ch: Int32) -> UInt8 {
    guard let el, let info = el_line(el)?.pointee, let session = completionSession else { return UInt8(CC_ERROR) }
    let length = info.lastchar - info.buffer
    let cursor = info.cursor - info.buffer
    let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(info.buffer).assumingMemoryBound(to: UInt8.self), count: length)
    let line = String(decoding: bytes, as: UTF8.self)
    let cursorChars = String(decoding: bytes.prefix(cursor), as: UTF8.self).count
    let (prefix, candidates) = session.completions(line: line, cursor: cursorChars)
    guard !candidates.isEmpty else { return UInt8(CC_REFRESH_BEEP) }
    // Insert the longest common prefix; list the candidates when ambiguous.
    var common = candidates[0]
    for c in candidates.dropFirst() { while !c.hasPrefix(common) { common.removeLast() } }
    if common.count > prefix.count {
        let insert = String(common.dropFirst(prefix.count))
        el_insertstr(el, insert)
        return UInt8(CC_REFRESH)
    }
    if candidates.count == 1 { return UInt8(CC_REFRESH) }
    FileHandle.standardOutput.write(("\n" + candidates.prefix(60).joined(separator: "  ") + "\n").data(using: .utf8)!)
    return UInt8(CC_REDISPLAY)
}

private func interruptKey(_ el: OpaquePointer?, _ ch: Int32) -> UInt8 {
    Interrupt.requested = 1
    return UInt8(CC_EOF)
}

/// SIGINT handler: sets the interrupt flag that running cells check and that cancels input.
private func interruptHandler(_ signal: Int32) { Interrupt.requested = 1 }

/// Installs the SIGINT handler without SA_RESTART, so a read at the prompt is interrupted.
func installInterruptHandler() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = interruptHandler
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(SIGINT, &action, nil)
}

/// A libedit line reader with persistent history.
final class LineEditor {
    private let el: OpaquePointer
    private let history: OpaquePointer
    private let historyPath: String

    init(historyPath: String) {
        self.historyPath = historyPath
        el = el_init("loupe", stdin, stdout, stderr)
        history = history_init()
        loupe_history_setsize(history, 5000)
        loupe_history_setunique(history, 1)
        _ = loupe_history_load(history, historyPath)
        loupe_el_set_editor(el, "emacs")
        loupe_el_set_history(el, history)
        loupe_el_set_prompt(el, promptCallback)
        loupe_el_bind_complete(el, completeCallback)
        loupe_el_bind_interrupt(el, interruptKey)
        loupe_el_source_default(el)
    }

    deinit {
        history_end(history)
        el_end(el)
    }

    enum Input { case line(String), interrupted, endOfFile }

    /// Reads one line with the given prompt.
    func read(prompt: String) -> Input {
        currentPrompt = Array(prompt.utf8CString)
        var count: Int32 = 0
        guard let raw = el_gets(el, &count) else {
            if Interrupt.requested != 0 || count < 0 {
                Interrupt.requested = 0
                FileHandle.standardOutput.write("^C\n".data(using: .utf8)!)
                return .interrupted
            }
            return .endOfFile
        }
        var line = String(cString: raw)
        if line.hasSuffix("\n") { line.removeLast() }
        if Interrupt.requested != 0 { Interrupt.requested = 0 }
        return .line(line)
    }

    /// Adds a cell to history and saves the history file.
    func remember(_ entry: String) {
        loupe_history_enter(history, entry)
        _ = loupe_history_save(history, historyPath)
    }
}
