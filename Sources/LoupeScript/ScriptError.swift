import Foundation
import LoupeTensor

/// A syntax or runtime error with its source position and, inside user functions, a traceback.
public struct ScriptError: Error, CustomStringConvertible {
    public var message: String
    public var source: SourceFile?
    public var pos: SourcePos?
    /// Call sites from innermost to outermost: function name, file and position of the call.
    public var frames: [(function: String, source: SourceFile, pos: SourcePos)] = []
    /// True when the input ended too early (the REPL asks for another line).
    public var incomplete = false

    public init(_ message: String, source: SourceFile? = nil, pos: SourcePos? = nil) {
        self.message = message
        self.source = source
        self.pos = pos
    }

    init(_ syntax: SyntaxError, source: SourceFile) {
        self.init("syntax error: " + syntax.message, source: source, pos: syntax.pos)
        incomplete = syntax.incomplete
    }

    /// The message with `file:line:column`, the source line, a caret, and the traceback.
    public var description: String {
        var out = ""
        if let source, let pos {
            out += "\(source.name):\(pos.line):\(pos.column): error: \(message)\n"
            let line = source.line(pos.line)
            let gutter = String(pos.line)
            out += " \(gutter) | \(line)\n"
            let prefix = String(line.prefix(max(0, pos.column - 1)).map { $0 == "\t" ? "\t" : " " })
            out += " \(String(repeating: " ", count: gutter.count)) | \(prefix)^"
        } else {
            out += "error: \(message)"
        }
        if !frames.isEmpty {
            out += "\ntraceback (most recent call first):"
            for frame in frames {
                let code = frame.source.line(frame.pos.line).trimmingCharacters(in: .whitespaces)
                out += "\n  in \(frame.function), called at \(frame.source.name):\(frame.pos.line):\(frame.pos.column): \(code)"
            }
        }
        return out
    }
}

