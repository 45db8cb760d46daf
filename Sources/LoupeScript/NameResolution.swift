/// Gives every name in a cell its slot before the cell runs (Python's scoping, decided from the
/// source): inside a function, its parameters and the names it assigns are its locals, unless
/// declared `global` or `nonlocal`; other names are read from the nearest enclosing function that
/// has them, else from the globals (or builtins). Top-level names are globals; the globals'
/// layout grows with every new name a cell mentions.
struct NameResolution {
    let globals: ScopeLayout
    /// The functions being resolved, innermost last.
    private var functions: [FunctionDecl] = []

    init(globals: ScopeLayout) { self.globals = globals }

    mutating func resolve(_ stmts: [Stmt]) {
        for stmt in stmts { statement(stmt) }
    }

    private func reading(_ name: String) -> NameRef.Place {
        guard let function = functions.last else { return .global(globals.slot(adding: name)) }
        if let i = function.layout.slot(of: name) { return .local(i) }
        if function.declared[name] == .global { return .global(globals.slot(adding: name)) }
        return enclosing(name) ?? .global(globals.slot(adding: name))
    }

    private func assigning(_ name: String) -> NameRef.Place {
        guard let function = functions.last else { return .global(globals.slot(adding: name)) }
        switch function.declared[name] {
        case .global?: return .global(globals.slot(adding: name))
        case .nonlocal?: return enclosing(name) ?? .missingNonlocal
        case nil: return function.layout.slot(of: name).map { .local($0) } ?? .global(globals.slot(adding: name))
        }
    }

    /// The slot of `name` in the nearest enclosing function that has it.
    private func enclosing(_ name: String) -> NameRef.Place? {
        for depth in 1..<max(functions.count, 1) {
            if let i = functions[functions.count - 1 - depth].layout.slot(of: name) {
                return .enclosing(depth: depth, slot: i)
            }
        }
        return nil
    }

    private mutating func statement(_ stmt: Stmt) {
        switch stmt {
        case .expr(let e):
            expr(e)
        case .assign(let target, let value, _):
            expr(value)
            if case .name(let ref) = target { ref.place = assigning(ref.name) } else { expr(target) }
        case .function(let decl):
            decl.binding.place = assigning(decl.name)
            function(decl)
        case .ifChain(let branches, let elseBody, _):
            for (condition, body) in branches {
                expr(condition)
                resolve(body)
            }
            if let elseBody { resolve(elseBody) }
        case .forIn(let variable, let sequence, let body, _):
            expr(sequence)
            variable.place = assigning(variable.name)
            resolve(body)
        case .whileLoop(let condition, let body, _):
            expr(condition)
            resolve(body)
        case .returnStmt(let value, _):
            if let value { expr(value) }
        case .breakStmt, .continueStmt, .declare:
            break
        }
    }

    private mutating func function(_ decl: FunctionDecl) {
        decl.compiled = nil
        functions.append(decl)
        for parameter in decl.params {
            if let value = parameter.defaultValue { expr(value) }
        }
        resolve(decl.body)
        functions.removeLast()
    }

    private mutating func expr(_ e: Expr) {
        switch e {
        case .number, .string, .bool, .null:
            break
        case .interpolated(let pieces, _):
            for case .expr(let x) in pieces { expr(x) }
        case .list(let items, _):
            for item in items { expr(item) }
        case .record(let fields, _):
            for (_, value) in fields { expr(value) }
        case .name(let ref):
            ref.place = reading(ref.name)
        case .unary(_, let x, _):
            expr(x)
        case .binary(_, let a, let b, _), .logical(_, let a, let b, _):
            expr(a)
            expr(b)
        case .call(let callee, let arguments, _):
            expr(callee)
            for argument in arguments { expr(argument.value) }
        case .attribute(let object, _, _):
            expr(object)
        case .index(let object, let items, _):
            expr(object)
            for item in items {
                switch item {
                case .single(let x): expr(x)
                case .slice(let a, let b, let c):
                    for bound in [a, b, c] { if let bound { expr(bound) } }
                }
            }
        case .function(let decl):
            function(decl)
        }
    }
}
