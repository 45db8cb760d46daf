
/// Recursive-descent parser from tokens to statements.
///
/// Precedence, loosest first: `|>`, `or`, `and`, `not`, comparisons, `+ -`, `* / % @`,
/// unary `-`, `**` (right-associative), then calls, attributes and subscripts.
public struct Parser {
    private var tokens: [Token]
    private var i = 0
    private let source: SourceFile
    private var depth = 0
    private static let maxDepth = 256

    public init(tokens: [Token], source: SourceFile) {
        self.tokens = tokens
        self.source = source
    }

    /// Parses a whole source file.
    public static func parse(_ source: SourceFile) throws -> [Stmt] {
        var parser = Parser(tokens: try Lexer.tokenize(source.text), source: source)
        return try parser.program()
    }

    private var current: Token { tokens[i] }
    private var kind: TokenKind { tokens[i].kind }

    private mutating func advance() -> Token {
        let t = tokens[i]
        if i < tokens.count - 1 { i += 1 }
        return t
    }

    private func isSymbol(_ s: String) -> Bool { kind == .symbol(s) }
    private func isKeyword(_ s: String) -> Bool { kind == .keyword(s) }

    private func describeToken(_ t: Token) -> String {
        switch t.kind {
        case .number(let v): return "number \(Value.number(v).display)"
        case .string, .interpolated: return "string"
        case .name(let n): return "name '\(n)'"
        case .keyword(let k): return "'\(k)'"
        case .symbol(let s): return "'\(s)'"
        case .newline: return "end of line"
        case .end: return "end of input"
        }
    }

    private func error(_ message: String, at t: Token? = nil) -> SyntaxError {
        let tok = t ?? current
        return SyntaxError(message: message, pos: tok.pos, incomplete: tok.kind == .end)
    }

    private mutating func expectSymbol(_ s: String, _ context: String) throws {
        guard isSymbol(s) else { throw error("expected '\(s)' \(context), found \(describeToken(current))") }
        _ = advance()
    }

    private mutating func skipNewlines() { while kind == .newline { _ = advance() } }

    mutating func program() throws -> [Stmt] {
        var stmts: [Stmt] = []
        skipNewlines()
        while kind != .end {
            stmts.append(try statement())
            try endOfStatement()
        }
        return stmts
    }

    private mutating func endOfStatement() throws {
        if kind == .newline { skipNewlines(); return }
        if kind == .end { return }
        throw error("unexpected \(describeToken(current)) after statement")
    }

    /// Statements until one of `terminators` (keywords); does not consume the terminator.
    private mutating func block(until terminators: Set<String>, opener: Token) throws -> [Stmt] {
        var stmts: [Stmt] = []
        skipNewlines()
        while true {
            if case .keyword(let k) = kind, terminators.contains(k) { return stmts }
            if kind == .end {
                throw SyntaxError(message: "'\(keywordName(opener))' block starting at line \(opener.pos.line) is missing 'end'",
                                  pos: current.pos, incomplete: true)
            }
            stmts.append(try statement())
            if case .keyword(let k) = kind, terminators.contains(k) { continue }
            try endOfStatement()
        }
    }

    private func keywordName(_ t: Token) -> String {
        if case .keyword(let k) = t.kind { return k }
        return "block"
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Parser.maxDepth { throw error("expression nested too deeply (over \(Parser.maxDepth) levels)") }
    }

    mutating func statement() throws -> Stmt {
        try enter(); defer { depth -= 1 }
        let t = current
        switch t.kind {
        case .keyword("fn"):
            if case .name = tokens[min(i + 1, tokens.count - 1)].kind {
                return .function(try functionDecl())
            }
        case .keyword("if"):
            _ = advance()
            var branches: [(Expr, [Stmt])] = []
            var cond = try expression()
            var elseBody: [Stmt]? = nil
            while true {
                let body = try block(until: ["elif", "else", "end"], opener: t)
                branches.append((cond, body))
                if isKeyword("elif") { _ = advance(); cond = try expression(); continue }
                if isKeyword("else") { _ = advance(); elseBody = try block(until: ["end"], opener: t) }
                break
            }
            _ = advance()  // end
            return .ifChain(branches, elseBody, t.pos)
        case .keyword("for"):
            _ = advance()
            guard case .name(let variable) = kind else { throw error("expected a variable name after 'for', found \(describeToken(current))") }
            let variableToken = advance()
            guard isKeyword("in") else { throw error("expected 'in' after 'for \(variable)', found \(describeToken(current))") }
            _ = advance()
            let sequence = try expression()
            let body = try block(until: ["end"], opener: t)
            _ = advance()
            return .forIn(NameRef(variable, variableToken.pos), sequence, body, t.pos)
        case .keyword("while"):
            _ = advance()
            let cond = try expression()
            let body = try block(until: ["end"], opener: t)
            _ = advance()
            return .whileLoop(cond, body, t.pos)
        case .keyword("return"):
            _ = advance()
            if kind == .newline || kind == .end || isKeyword("end") { return .returnStmt(nil, t.pos) }
            return .returnStmt(try expression(), t.pos)
        case .keyword("global"), .keyword("nonlocal"):
            _ = advance()
            var names: [String] = []
            repeat {
                if !names.isEmpty { _ = advance() }
                guard case .name(let name) = kind else { throw error("expected a variable name after '\(keywordName(t))', found \(describeToken(current))") }
                names.append(name)
                _ = advance()
            } while isSymbol(",")
            return .declare(keywordName(t) == "global" ? .global : .nonlocal, names, t.pos)
        case .keyword("break"): _ = advance(); return .breakStmt(t.pos)
        case .keyword("continue"): _ = advance(); return .continueStmt(t.pos)
        case .keyword("end"), .keyword("elif"), .keyword("else"):
            throw error("'\(keywordName(t))' without a matching block")
        default: break
        }
        let target = try expression()
        if isSymbol("=") {
            let eq = advance()
            switch target {
            case .name, .index, .attribute: break
            default: throw error("cannot assign to this expression", at: eq)
            }
            let value = try expression()
            return .assign(target, value, eq.pos)
        }
        return .expr(target)
    }

    private mutating func functionDecl() throws -> FunctionDecl {
        let fnToken = advance()
        var name = "<fn>"
        if case .name(let n) = kind { name = n; _ = advance() }
        try expectSymbol("(", "after 'fn \(name == "<fn>" ? "" : name)'")
        var params: [Parameter] = []
        var seen = Set<String>()
        while !isSymbol(")") {
            guard case .name(let p) = kind else { throw error("expected a parameter name, found \(describeToken(current))") }
            let pt = advance()
            guard seen.insert(p).inserted else { throw error("duplicate parameter '\(p)'", at: pt) }
            var def: Expr? = nil
            if isSymbol(":") || isSymbol("=") { _ = advance(); def = try expression() }
            else if params.contains(where: { $0.defaultValue != nil }) {
                throw error("parameter '\(p)' without a default follows one with a default", at: pt)
            }
            params.append(Parameter(name: p, defaultValue: def))
            if isSymbol(",") { _ = advance() } else if !isSymbol(")") {
                throw error("expected ',' or ')' in parameter list, found \(describeToken(current))")
            }
        }
        _ = advance()
        let body = try block(until: ["end"], opener: fnToken)
        _ = advance()
        return FunctionDecl(name: name, params: params, body: body, pos: fnToken.pos, source: source)
    }

    // MARK: Expressions

    mutating func expression() throws -> Expr {
        try enter(); defer { depth -= 1 }
        var chain = 0
        defer { depth -= chain }
        var left = try orExpr()
        while isSymbol("|>") {
            try enter(); chain += 1
            let op = advance()
            let right = try orExpr()
            guard case .call(let callee, let args, let p) = right else {
                if case .name = right { left = .call(right, [CallArgument(label: nil, value: left, pos: op.pos)], op.pos); continue }
                throw error("the right side of '|>' must be a call like f(a) or a function name", at: op)
            }
            left = .call(callee, [CallArgument(label: nil, value: left, pos: op.pos)] + args, p)
        }
        return left
    }

    private mutating func orExpr() throws -> Expr {
        var chain = 0
        defer { depth -= chain }
        var left = try andExpr()
        while isKeyword("or") {
            try enter(); chain += 1; let t = advance(); left = .logical("or", left, try andExpr(), t.pos) }
        return left
    }

    private mutating func andExpr() throws -> Expr {
        var chain = 0
        defer { depth -= chain }
        var left = try notExpr()
        while isKeyword("and") {
            try enter(); chain += 1; let t = advance(); left = .logical("and", left, try notExpr(), t.pos) }
        return left
    }

    private mutating func notExpr() throws -> Expr {
        if isKeyword("not") {
            let t = advance()
            try enter(); defer { depth -= 1 }
            return .unary("not", try notExpr(), t.pos)
        }
        return try comparison()
    }

    private mutating func comparison() throws -> Expr {
        var chain = 0
        defer { depth -= chain }
        var left = try additive()
        while case .symbol(let s) = kind, let op = BinaryOperator(rawValue: s), [.equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual].contains(op) {
            try enter(); chain += 1
            let t = advance()
            left = .binary(op, left, try additive(), t.pos)
        }
        return left
    }

    private mutating func additive() throws -> Expr {
        var chain = 0
        defer { depth -= chain }
        var left = try multiplicative()
        while case .symbol(let s) = kind, let op = BinaryOperator(rawValue: s), op == .add || op == .subtract {
            try enter(); chain += 1
            let t = advance()
            left = .binary(op, left, try multiplicative(), t.pos)
        }
        return left
    }

    private mutating func multiplicative() throws -> Expr {
        var chain = 0
        defer { depth -= chain }
        var left = try unary()
        while case .symbol(let s) = kind, let op = BinaryOperator(rawValue: s), [.multiply, .divide, .remainder, .matmul].contains(op) {
            try enter(); chain += 1
            let t = advance()
            left = .binary(op, left, try unary(), t.pos)
        }
        return left
    }

    private mutating func unary() throws -> Expr {
        if isSymbol("-") {
            let t = advance()
            try enter(); defer { depth -= 1 }
            return .unary("-", try unary(), t.pos)
        }
        return try power()
    }

    private mutating func power() throws -> Expr {
        let base = try postfix()
        if isSymbol("**") {
            let t = advance()
            try enter(); defer { depth -= 1 }
            return .binary(.power, base, try unary(), t.pos)
        }
        return base
    }

    private mutating func postfix() throws -> Expr {
        var e = try primary()
        var chain = 0
        defer { depth -= chain }
        while true {
            if isSymbol("(") || isSymbol(".") || isSymbol("[") { try enter(); chain += 1 }
            if isSymbol("(") {
                let t = advance()
                _ = t
                e = .call(e, try arguments(), e.pos)
            } else if isSymbol(".") {
                let t = advance()
                guard case .name(let n) = kind else { throw error("expected a name after '.', found \(describeToken(current))") }
                _ = advance()
                e = .attribute(e, n, t.pos)
            } else if isSymbol("[") {
                let t = advance()
                e = .index(e, try subscripts(), t.pos)
            } else {
                return e
            }
        }
    }

    private mutating func arguments() throws -> [CallArgument] {
        var args: [CallArgument] = []
        var named = Set<String>()
        while !isSymbol(")") {
            let start = current
            if case .name(let label) = kind, tokens[i + 1].kind == .symbol(":") {
                _ = advance(); _ = advance()
                guard named.insert(label).inserted else { throw error("argument '\(label)' given twice", at: start) }
                args.append(CallArgument(label: label, value: try expression(), pos: start.pos))
            } else {
                if !named.isEmpty { throw error("positional argument after named arguments") }
                args.append(CallArgument(label: nil, value: try expression(), pos: start.pos))
            }
            if isSymbol(",") { _ = advance() } else if !isSymbol(")") {
                throw error("expected ',' or ')' in arguments, found \(describeToken(current))")
            }
        }
        _ = advance()
        return args
    }

    private mutating func subscripts() throws -> [IndexItem] {
        var items: [IndexItem] = []
        while !isSymbol("]") {
            var parts: [Expr?] = []
            var current: Expr? = nil
            var isSlice = false
            while true {
                if isSymbol(":") {
                    _ = advance(); isSlice = true
                    parts.append(current); current = nil
                    if parts.count > 2 { throw error("a slice has at most start:stop:step") }
                    continue
                }
                if isSymbol(",") || isSymbol("]") { break }
                if current != nil { throw error("expected ',' or ']' in subscript, found \(describeToken(self.current))") }
                current = try expression()
            }
            parts.append(current)
            if isSlice {
                items.append(.slice(parts[0], parts.count > 1 ? parts[1] : nil, parts.count > 2 ? parts[2] : nil))
            } else if let e = current {
                items.append(.single(e))
            } else {
                throw error("empty subscript")
            }
            if isSymbol(",") { _ = advance() }
        }
        _ = advance()
        if items.isEmpty { throw error("empty subscript []") }
        return items
    }

    private mutating func primary() throws -> Expr {
        let t = current
        switch t.kind {
        case .number(let v): _ = advance(); return .number(v, t.pos)
        case .string(let s): _ = advance(); return .string(s, t.pos)
        case .interpolated:
            _ = advance()
            var pieces: [InterpolatedPiece] = []
            for piece in t.pieces {
                switch piece {
                case .text(let s): pieces.append(.text(s))
                case .code(let toks, _):
                    var sub = Parser(tokens: toks, source: source)
                    sub.depth = depth
                    let e = try sub.expression()
                    if sub.kind != .end { throw sub.error("unexpected \(sub.describeToken(sub.current)) in string interpolation (write \\{ for a brace)") }
                    pieces.append(.expr(e))
                }
            }
            return .interpolated(pieces, t.pos)
        case .keyword("true"): _ = advance(); return .bool(true, t.pos)
        case .keyword("false"): _ = advance(); return .bool(false, t.pos)
        case .keyword("nil"): _ = advance(); return .null(t.pos)
        case .keyword("fn"): return .function(try functionDecl())
        case .name(let n): _ = advance(); return .name(NameRef(n, t.pos))
        case .symbol("("):
            _ = advance()
            let e = try expression()
            try expectSymbol(")", "to close '(' from line \(t.pos.line)")
            return e
        case .symbol("["):
            _ = advance()
            var items: [Expr] = []
            while !isSymbol("]") {
                items.append(try expression())
                if isSymbol(",") { _ = advance() } else if !isSymbol("]") {
                    throw error("expected ',' or ']' in list, found \(describeToken(current))")
                }
            }
            _ = advance()
            return .list(items, t.pos)
        case .symbol("{"):
            _ = advance()
            var fields: [(String, Expr)] = []
            var seen = Set<String>()
            while !isSymbol("}") {
                let keyToken = current
                let key: String
                switch kind {
                case .name(let n): key = n
                case .string(let s): key = s
                case .keyword(let k): key = k
                case .number(let v): key = Value.number(v).display
                case .interpolated:
                    throw error("a record key must be a name or a plain string, not an interpolated one (assign it instead: r = {}; r[\"key {i}\"] = value)")
                default: throw error("expected a record key (name or string), found \(describeToken(current))")
                }
                _ = advance()
                guard seen.insert(key).inserted else { throw error("duplicate record key '\(key)'", at: keyToken) }
                try expectSymbol(":", "after record key '\(key)'")
                fields.append((key, try expression()))
                if isSymbol(",") { _ = advance() } else if !isSymbol("}") {
                    throw error("expected ',' or '}' in record, found \(describeToken(current))")
                }
            }
            _ = advance()
            return .record(fields, t.pos)
        default:
            throw error("expected an expression, found \(describeToken(t))")
        }
    }
}
