
/// A call argument, positional (`label == nil`) or named.
public struct CallArgument: Sendable {
    public var label: String?
    public var value: Expr
    public var pos: SourcePos
}

/// One item of a subscript: a single index or a `start:stop:step` slice.
public enum IndexItem: Sendable {
    case single(Expr)
    case slice(Expr?, Expr?, Expr?)
}

/// A parameter of a user function, with an optional default expression.
public struct Parameter: Sendable {
    public var name: String
    public var defaultValue: Expr?
}

/// A user function's declaration (named or anonymous).
public final class FunctionDecl: @unchecked Sendable {
    public let name: String
    public let params: [Parameter]
    public let body: [Stmt]
    public let pos: SourcePos
    public let source: SourceFile
    /// Where a `fn name()` statement binds the function (resolved like an assignment to `name`).
    let binding: NameRef
    /// The names local to a call (Python's rule): the parameters and every name the body assigns,
    /// loops over or declares a function as, except those declared `global` or `nonlocal`.
    let locals: Set<String>
    /// The names the body declares `global` and `nonlocal`.
    let declared: [String: ScopeDeclaration]
    /// The slots of a call's scope: the parameters first, in order, then the other locals.
    let layout: ScopeLayout
    /// The body compiled for running (`compiledBody`), made after its names were resolved.
    var compiled: StmtNode? = nil
    /// `compiled`, unretained.
    var compiledRef: Unmanaged<StmtNode>? = nil
    /// Scopes of finished calls that nothing references any more, reused by the next calls: the
    /// first, linked to the others by `Environment.nextSpare`, and how many there are.
    var spareScope: Environment? = nil
    var spareCount = 0
    init(name: String, params: [Parameter], body: [Stmt], pos: SourcePos, source: SourceFile) {
        self.name = name; self.params = params; self.body = body; self.pos = pos; self.source = source
        binding = NameRef(name, pos)
        declared = Scope.declarations(in: body)
        locals = Scope.assignedNames(in: body).union(params.map(\.name)).subtracting(declared.keys)
        layout = ScopeLayout(names: params.map(\.name) + locals.subtracting(params.map(\.name)).sorted())
    }
}

/// A use of a variable name in the source, resolved before the code runs (`NameResolution`) to
/// the slot that holds it, so that reading or assigning it indexes an array instead of hashing.
public final class NameRef: @unchecked Sendable {
    public let name: String
    public let pos: SourcePos
    var place: Place = .unresolved
    init(_ name: String, _ pos: SourcePos) { self.name = name; self.pos = pos }

    /// Where a name lives.
    enum Place {
        case unresolved
        /// A slot of the running function's scope.
        case local(Int)
        /// A slot of the scope `depth` functions out (1: the function the running one is in).
        case enclosing(depth: Int, slot: Int)
        /// A slot of the globals (whose builtin, if any, answers while the slot is empty).
        case global(Int)
        /// A `nonlocal` name that no enclosing function has: assigning it is an error.
        case missingNonlocal
    }
}

/// Binary operators (arithmetic, comparison, matrix product); `rawValue` is the symbol.
public enum BinaryOperator: String, Sendable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%", power = "**", matmul = "@"
    case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
}

/// Expressions.
public indirect enum Expr: Sendable {
    case number(Double, SourcePos)
    case string(String, SourcePos)
    case interpolated([InterpolatedPiece], SourcePos)
    case bool(Bool, SourcePos)
    case null(SourcePos)
    case list([Expr], SourcePos)
    case record([(String, Expr)], SourcePos)
    case name(NameRef)
    case unary(String, Expr, SourcePos)
    case binary(BinaryOperator, Expr, Expr, SourcePos)
    case logical(String, Expr, Expr, SourcePos)
    case call(Expr, [CallArgument], SourcePos)
    case attribute(Expr, String, SourcePos)
    case index(Expr, [IndexItem], SourcePos)
    case function(FunctionDecl)

    public var pos: SourcePos {
        switch self {
        case .number(_, let p), .string(_, let p), .interpolated(_, let p), .bool(_, let p), .null(let p),
             .list(_, let p), .record(_, let p), .unary(_, _, let p),
             .binary(_, _, _, let p), .logical(_, _, _, let p), .call(_, _, let p),
             .attribute(_, _, let p), .index(_, _, let p):
            return p
        case .function(let d): return d.pos
        case .name(let n): return n.pos
        }
    }
}

/// A piece of an interpolated string literal.
public enum InterpolatedPiece: Sendable {
    case text(String)
    case expr(Expr)
}

/// Statements. A block's value is the value of its last expression statement.
public indirect enum Stmt: Sendable {
    case expr(Expr)
    case assign(Expr, Expr, SourcePos)
    case function(FunctionDecl)
    case ifChain([(Expr, [Stmt])], [Stmt]?, SourcePos)
    case forIn(NameRef, Expr, [Stmt], SourcePos)
    case whileLoop(Expr, [Stmt], SourcePos)
    case returnStmt(Expr?, SourcePos)
    case breakStmt(SourcePos)
    case continueStmt(SourcePos)
    /// `global a, b` or `nonlocal a`: assignments to these names inside the function bind in the
    /// globals, or in the nearest enclosing function that has them (Python's declarations).
    case declare(ScopeDeclaration, [String], SourcePos)
}

/// Where a function's assignments to a declared name bind.
public enum ScopeDeclaration: String, Sendable {
    case global
    case nonlocal
}
