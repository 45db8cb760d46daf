import Foundation
import LoupeTensor

/// Reading a script file's text: a binary or non-UTF-8 file is refused with a message saying so.
public enum ScriptText {
    /// The UTF-8 text of the script at `path`; throws naming the file when it cannot be read,
    /// holds NUL bytes (a binary file) or is not valid UTF-8 (with the offset of the first bad byte).
    public static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoupeError("cannot read '\(path)' (no such file, or not readable)")
        }
        return try decode([UInt8](data), path: path)
    }

    /// `read(_:)` for bytes already in memory.
    public static func decode(_ bytes: [UInt8], path: String) throws -> String {
        if let nul = bytes.firstIndex(of: 0) {
            throw LoupeError("'\(path)' is a binary file, not a Loupe script (a NUL byte at offset \(nul))")
        }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        var text = String.UnicodeScalarView()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                text.append(scalar)
                offset += UTF8.width(scalar)
            case .emptyInput:
                return String(text)
            case .error:
                throw LoupeError("'\(path)' is not UTF-8 text, so not a Loupe script (an invalid byte at offset \(offset))")
            }
        }
    }
}
