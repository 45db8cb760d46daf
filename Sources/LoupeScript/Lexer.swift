import Foundation

/// A position in a source text: 1-based line and column.
public struct SourcePos: Equatable, Sendable {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
}

/// A named source text (a file or a REPL cell) that positions refer to.
public final class SourceFile: @unchecked Sendable {
    public let name: String
    public let text: String
    public let lines: [Substring]
    public init(name: String, text: String) {
        self.name = name
        self.text = text
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    }
    /// The text of 1-based line `n`, or "" when out of range.
    public func line(_ n: Int) -> String {
        n >= 1 && n <= lines.count ? String(lines[n - 1]) : ""
    }
}

/// One piece of an interpolated string: literal text or tokens of an embedded expression.
public enum StringPiece: Sendable {
    case text(String)
    case code([Token], SourcePos)
}

/// The kinds of tokens.
public enum TokenKind: Equatable, Sendable {
    case number(Double)
    case string(String)
    case interpolated
    case name(String)
    case keyword(String)
    case symbol(String)
    case newline
    case end
}

/// A lexical token with its position; interpolated strings carry their pieces.
public struct Token: Sendable {
    public var kind: TokenKind
    public var pos: SourcePos
    public var pieces: [StringPiece] = []
}

/// A syntax error. `incomplete` marks input that ends too early (the REPL then asks for more).
public struct SyntaxError: Error, Sendable {
    public var message: String
    public var pos: SourcePos
    public var incomplete: Bool
}

let keywords: Set<String> = ["fn", "end", "if", "elif", "else", "for", "in", "while", "return",
                             "true", "false", "nil", "and", "or", "not", "break", "continue", "global", "nonlocal"]

/// Splits source text into tokens. Newlines inside brackets are skipped; `#` starts a comment.
public struct Lexer {
    private let chars: [Character]
    private var i = 0
    private var nesting = 0
    private var line: Int
    private var column: Int
    /// Open brackets and blocks: newlines count only outside brackets or directly inside a block.
    private var stack: [Character] = []
    private var tokens: [Token] = []

    public init(_ text: String, start: SourcePos = SourcePos(line: 1, column: 1)) {
        chars = Array(text)
        line = start.line
        column = start.column
    }

    /// Tokenizes the whole text, ending with an `.end` token.
    public static func tokenize(_ text: String, start: SourcePos = SourcePos(line: 1, column: 1), nesting: Int = 0) throws -> [Token] {
        guard nesting < 16 else {
            throw SyntaxError(message: "string interpolation nested too deeply", pos: start, incomplete: false)
        }
        var lexer = Lexer(text, start: start)
        lexer.nesting = nesting
        return try lexer.run()
    }

    private var pos: SourcePos { SourcePos(line: line, column: column) }
    private func peek(_ k: Int = 0) -> Character? { i + k < chars.count ? chars[i + k] : nil }

    private mutating func advance() -> Character {
        let c = chars[i]
        i += 1
        if c == "\n" { line += 1; column = 1 } else { column += 1 }
        return c
    }

    private mutating func add(_ kind: TokenKind, _ at: SourcePos) { tokens.append(Token(kind: kind, pos: at)) }

    mutating func run() throws -> [Token] {
        while let c = peek() {
            let start = pos
            if c == "\n" {
                _ = advance()
                if stack.isEmpty || stack.last == "b", let last = tokens.last, last.kind != .newline { add(.newline, start) }
            } else if c == " " || c == "\t" || c == "\r" {
                _ = advance()
            } else if c == "#" {
                while let d = peek(), d != "\n" { _ = advance() }
            } else if c == ";" {
                _ = advance()
                if let last = tokens.last, last.kind != .newline { add(.newline, start) }
            } else if c.isNumber {
                try lexNumber(start)
            } else if c.isLetter || c == "_" {
                var word = ""
                while let d = peek(), d.isLetter || d.isNumber || d == "_" { word.append(advance()) }
                if keywords.contains(word) {
                    if ["fn", "if", "for", "while"].contains(word) { stack.append("b") }
                    if word == "end", stack.last == "b" { stack.removeLast() }
                    add(.keyword(word), start)
                } else {
                    add(.name(word), start)
                }
            } else if c == "\"" {
                try lexString(start)
            } else {
                try lexSymbol(start)
            }
        }
        if stack.isEmpty || stack.last == "b", let last = tokens.last, last.kind != .newline { add(.newline, pos) }
        add(.end, pos)
        return tokens
    }

    private mutating func lexNumber(_ start: SourcePos) throws {
        var text = ""
        while let d = peek(), d.isNumber || d == "_" { let ch = advance(); if ch != "_" { text.append(ch) } }
        if peek() == ".", let n = peek(1), n.isNumber {
            text.append(advance())
            while let d = peek(), d.isNumber || d == "_" { let ch = advance(); if ch != "_" { text.append(ch) } }
        }
        if let e = peek(), e == "e" || e == "E" {
            let sign = peek(1)
            if let s = sign, s.isNumber || ((s == "+" || s == "-") && (peek(2)?.isNumber ?? false)) {
                text.append(advance())
                if s == "+" || s == "-" { text.append(advance()) }
                while let d = peek(), d.isNumber { text.append(advance()) }
            }
        }
        if let d = peek(), d.isLetter || d == "_" {
            throw SyntaxError(message: "invalid number literal '\(text)\(d)'", pos: start, incomplete: false)
        }
        guard let value = Double(text), value.isFinite else {
            throw SyntaxError(message: "number literal '\(text.prefix(40))' is out of range", pos: start, incomplete: false)
        }
        add(.number(value), start)
    }

    private mutating func lexString(_ start: SourcePos) throws {
        _ = advance()  // opening quote
        var pieces: [StringPiece] = []
        var text = ""
        while true {
            guard let c = peek() else {
                throw SyntaxError(message: "unterminated string", pos: start, incomplete: true)
            }
            if c == "\"" { _ = advance(); break }
            if c == "\n" {
                throw SyntaxError(message: "unterminated string (strings end on the same line)", pos: start, incomplete: false)
            }
            if c == "\\" {
                let escPos = pos
                _ = advance()
                guard let e = peek() else { throw SyntaxError(message: "unterminated string", pos: start, incomplete: true) }
                _ = advance()
                switch e {
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "r": text.append("\r")
                case "0": text.append("\0")
                case "\\": text.append("\\")
                case "\"": text.append("\"")
                case "{": text.append("{")
                case "}": text.append("}")
                default:
                    throw SyntaxError(message: "unknown escape '\\\(e)' in string", pos: escPos, incomplete: false)
                }
                continue
            }
            if c == "{" {
                let open = pos
                _ = advance()
                let codeStart = pos
                var code = ""
                var braces = 0
                var inString = false
                while true {
                    guard let d = peek(), d != "\n" else {
                        throw SyntaxError(message: "unterminated '{' in string interpolation", pos: open, incomplete: peek() == nil)
                    }
                    if d == "\"" { inString.toggle() }
                    if !inString {
                        if d == "{" { braces += 1 }
                        if d == "}" { if braces == 0 { _ = advance(); break }; braces -= 1 }
                    }
                    code.append(advance())
                }
                if code.trimmingCharacters(in: .whitespaces).isEmpty {
                    throw SyntaxError(message: "empty '{}' in string interpolation (write \\{ for a brace)", pos: open, incomplete: false)
                }
                if !text.isEmpty { pieces.append(.text(text)); text = "" }
                var sub = try Lexer.tokenize(code, start: codeStart, nesting: nesting + 1)
                sub.removeAll { $0.kind == .newline }
                sub[sub.count - 1].kind = .end
                pieces.append(.code(sub, codeStart))
                continue
            }
            text.append(advance())
        }
        if pieces.isEmpty {
            add(.string(text), start)
        } else {
            if !text.isEmpty { pieces.append(.text(text)) }
            tokens.append(Token(kind: .interpolated, pos: start, pieces: pieces))
        }
    }

    private mutating func lexSymbol(_ start: SourcePos) throws {
        let c = advance()
        let two = peek().map { String(c) + String($0) }
        let pairs: Set<String> = ["**", "==", "!=", "<=", ">=", "|>"]
        if let t = two, pairs.contains(t) {
            _ = advance()
            add(.symbol(t), start)
            return
        }
        switch c {
        case "(", "[", "{": stack.append(c)
        case ")", "]", "}":
            let open: Character = c == ")" ? "(" : c == "]" ? "[" : "{"
            if let k = stack.lastIndex(of: open) { stack.removeSubrange(k...) }
        default: break
        }
        let singles: Set<Character> = ["+", "-", "*", "/", "%", "@", "=", "<", ">", "(", ")", "[", "]", "{", "}", ",", ":", "."]
        guard singles.contains(c) else {
            throw SyntaxError(message: "unexpected character '\(c)'", pos: start, incomplete: false)
        }
        add(.symbol(String(c)), start)
    }
}
