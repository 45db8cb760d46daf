/// The checks a cell passes before any of it runs, so that a typo on the last line of a long
/// script fails before the first line does: `return` outside a function, `break` or `continue`
/// outside a loop (of the same function), and names read at top level that nothing defines (not
/// a builtin, not a variable of the session, and not assigned, looped over or declared anywhere
/// at the cell's top level). Names inside function bodies are resolved when the function runs.
enum Resolver {
    /// Throws the first problem in source order, as a `ScriptError` at its position.
    static func check(_ stmts: [Stmt], source: SourceFile, isDefined: @escaping (String) -> Bool,
                      suggestion: @escaping (String) -> String?) throws {
        let defined = Scope.assignedNames(in: stmts)
        var checker = Checker(source: source, isDefined: { defined.contains($0) || isDefined($0) }, suggestion: suggestion)
        try checker.block(stmts, inFunction: false, inLoop: false, topLevel: true)
    }

    private struct Checker {
        let source: SourceFile
        let isDefined: (String) -> Bool
        let suggestion: (String) -> String?

        func fail(_ message: String, _ pos: SourcePos) -> ScriptError {
            ScriptError(message, source: source, pos: pos)
        }

        mutating func block(_ stmts: [Stmt], inFunction: Bool, inLoop: Bool, topLevel: Bool) throws {
            for stmt in stmts { try statement(stmt, inFunction: inFunction, inLoop: inLoop, topLevel: topLevel) }
        }

        mutating func statement(_ stmt: Stmt, inFunction: Bool, inLoop: Bool, topLevel: Bool) throws {
            switch stmt {
            case .expr(let e):
                try expr(e, topLevel: topLevel)
            case .assign(let target, let value, _):
                try expr(value, topLevel: topLevel)
                // The target's own name is being defined; what it indexes or reads is used.
                switch target {
                case .name: break
                case .attribute(let object, _, _): try expr(object, topLevel: topLevel)
                case .index(let object, let items, _):
                    try expr(object, topLevel: topLevel)
                    try indexItems(items, topLevel: topLevel)
                default: try expr(target, topLevel: topLevel)
                }
            case .function(let decl):
                try function(decl)
            case .ifChain(let branches, let elseBody, _):
                for (condition, body) in branches {
                    try expr(condition, topLevel: topLevel)
                    try block(body, inFunction: inFunction, inLoop: inLoop, topLevel: topLevel)
                }
                if let elseBody { try block(elseBody, inFunction: inFunction, inLoop: inLoop, topLevel: topLevel) }
            case .forIn(_, let sequence, let body, _):
                try expr(sequence, topLevel: topLevel)
                try block(body, inFunction: inFunction, inLoop: true, topLevel: topLevel)
            case .whileLoop(let condition, let body, _):
                try expr(condition, topLevel: topLevel)
                try block(body, inFunction: inFunction, inLoop: true, topLevel: topLevel)
            case .returnStmt(let value, let pos):
                guard inFunction else { throw fail("'return' outside a function", pos) }
                if let value { try expr(value, topLevel: topLevel) }
            case .breakStmt(let pos):
                guard inLoop else { throw fail("'break' outside a loop", pos) }
            case .continueStmt(let pos):
                guard inLoop else { throw fail("'continue' outside a loop", pos) }
            case .declare(let kind, _, let pos):
                guard inFunction else { throw fail("'\(kind.rawValue)' outside a function (names at top level are global already)", pos) }
            }
        }

        mutating func function(_ decl: FunctionDecl) throws {
            for parameter in decl.params {
                if let value = parameter.defaultValue { try expr(value, topLevel: false) }
            }
            try block(decl.body, inFunction: true, inLoop: false, topLevel: false)
        }

        mutating func indexItems(_ items: [IndexItem], topLevel: Bool) throws {
            for item in items {
                switch item {
                case .single(let e): try expr(e, topLevel: topLevel)
                case .slice(let a, let b, let c):
                    for bound in [a, b, c] { if let bound { try expr(bound, topLevel: topLevel) } }
                }
            }
        }

        mutating func expr(_ e: Expr, topLevel: Bool) throws {
            switch e {
            case .number, .string, .bool, .null:
                break
            case .interpolated(let pieces, _):
                for case .expr(let x) in pieces { try expr(x, topLevel: topLevel) }
            case .list(let items, _):
                for item in items { try expr(item, topLevel: topLevel) }
            case .record(let fields, _):
                for (_, value) in fields { try expr(value, topLevel: topLevel) }
            case .name(let ref):
                if topLevel, !isDefined(ref.name) {
                    throw fail("undefined variable '\(ref.name)'" + (suggestion(ref.name).map { " (did you mean '\($0)'?)" } ?? ""), ref.pos)
                }
            case .unary(_, let x, _):
                try expr(x, topLevel: topLevel)
            case .binary(_, let a, let b, _), .logical(_, let a, let b, _):
                try expr(a, topLevel: topLevel)
                try expr(b, topLevel: topLevel)
            case .call(let callee, let arguments, _):
                try expr(callee, topLevel: topLevel)
                for argument in arguments { try expr(argument.value, topLevel: topLevel) }
            case .attribute(let object, _, _):
                try expr(object, topLevel: topLevel)
            case .index(let object, let items, _):
                try expr(object, topLevel: topLevel)
                try indexItems(items, topLevel: topLevel)
            case .function(let decl):
                try function(decl)
            }
        }
    }
}

/// Which names a block of statements defines in its own scope (Python's rule): every name it
/// assigns, loops over or declares a function as, anywhere in the block and its nested `if`,
/// `for` and `while` bodies, but not inside the functions it defines.
enum Scope {
    /// The `global` and `nonlocal` declarations of a function body (not of functions inside it).
    static func declarations(in stmts: [Stmt]) -> [String: ScopeDeclaration] {
        var result: [String: ScopeDeclaration] = [:]
        visit(stmts) { stmt in
            if case .declare(let kind, let names, _) = stmt { for name in names { result[name] = kind } }
        }
        return result
    }

    static func assignedNames(in stmts: [Stmt]) -> Set<String> {
        var names = Set<String>()
        visit(stmts) { stmt in
            switch stmt {
            case .assign(.name(let ref), _, _): names.insert(ref.name)
            case .function(let decl): names.insert(decl.name)
            case .forIn(let ref, _, _, _): names.insert(ref.name)
            default: break
            }
        }
        return names
    }

    /// Calls `body` on every statement of a block and of its nested `if`, `for` and `while`
    /// bodies, but not of the functions it defines.
    static func visit(_ stmts: [Stmt], _ body: (Stmt) -> Void) {
        for stmt in stmts {
            body(stmt)
            switch stmt {
            case .forIn(_, _, let block, _), .whileLoop(_, let block, _):
                visit(block, body)
            case .ifChain(let branches, let elseBody, _):
                for (_, block) in branches { visit(block, body) }
                if let elseBody { visit(elseBody, body) }
            default:
                break
            }
        }
    }
}
