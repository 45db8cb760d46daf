import Foundation
import Glibc
import LoupeScript

/// The interactive loop: libedit on a terminal, plain line reading otherwise.
enum REPL {
    static var historyPath: String {
        let env = ProcessInfo.processInfo.environment
        if let home = env["LOUPE_HOME"] { return home + "/history" }
        return (env["HOME"] ?? NSHomeDirectory()) + "/.loupe_history"
    }

    static func run(session: ReplSession, banner: Bool) {
        installInterruptHandler()
        if session.journal == nil { session.journal = try? Journal() }
        session.write = { text in
            FileHandle.standardOutput.write((text + "\n").data(using: .utf8)!)
        }
        let interactive = isatty(0) != 0
        if isatty(1) != 0 {
            let kind = TerminalImage.detect()
            session.interpreter.imageSink = { image, png in
                FileHandle.standardOutput.write(TerminalImage.render(image, png: png, protocol: kind).data(using: .utf8)!)
            }
        }
        if banner && interactive {
            print("Loupe \(loupeVersion) — :help for commands, help() for builtins, Ctrl-D to exit")
        }
        fflush(stdout)
        if interactive {
            completionSession = session
            let editor = LineEditor(historyPath: historyPath)
            var cellLines: [String] = []
            loop: while true {
                switch editor.read(prompt: session.prompt) {
                case .endOfFile:
                    print("")
                    break loop
                case .interrupted:
                    session.cancelInput()
                    cellLines = []
                case .line(let line):
                    cellLines.append(line)
                    let next = session.feed(line)
                    if next != .more {
                        let entry = cellLines.joined(separator: "\n")
                        if !entry.trimmingCharacters(in: .whitespaces).isEmpty { editor.remember(entry) }
                        cellLines = []
                    }
                    if next == .quit { break loop }
                }
            }
        } else {
            while let line = readLine(strippingNewline: true) {
                if session.feed(line) == .quit { break }
            }
        }
    }
}
