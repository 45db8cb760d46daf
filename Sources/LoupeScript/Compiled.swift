import Foundation
import LoupeTensor

// The interpreter's fast form of the syntax tree: every statement and expression is compiled once
// (after `NameResolution` gave names their slots) into a tree of node objects whose `exec`/`eval`
// run it, so that running code does not switch over the syntax tree's enums (copying their
// payloads) nor re-decide at every step what was known before it ran: a name's slot, whether a call
// has named arguments, an operator's kind. Each node does exactly what `Interpreter.exec` and
// `Interpreter.eval` do for its syntax (the same order of evaluation, values pinned for the cycle
// collector, errors and their positions); syntax without a node of its own runs through them.

/// A compiled expression. `eval` behaves like `Interpreter.eval` of the expression it was made from:
/// a `LoupeError` thrown by the expression's own operation becomes a `ScriptError` at `pos`.
class ExprNode {
    let pos: SourcePos
    init(_ pos: SourcePos) { self.pos = pos }
    func eval(_ I: Interpreter, _ env: Environment) throws -> Value { fatalError("ExprNode.eval") }
    /// Whether the value is true (`eval(...).isTruthy`), for conditions; comparisons of numbers
    /// answer without making a boolean value.
    func isTrue(_ I: Interpreter, _ env: Environment) throws -> Bool { try eval(I, env).isTruthy }
}

/// A compiled statement; `exec` behaves like `Interpreter.exec` of the statement it was made from.
class StmtNode {
    func exec(_ I: Interpreter, _ env: Environment) throws -> Flow { fatalError("StmtNode.exec") }
}

typealias Block = ContiguousArray<StmtNode>

extension FunctionDecl {
    /// The compiled body, made at the first call after the function's names were resolved.
    @inline(__always) var compiledBody: StmtNode {
        if let body = compiled { return body }
        let body = Compiler.body(self.body)
        compiled = body
        compiledRef = Unmanaged.passUnretained(body)
        return body
    }

    /// `compiledBody` without a reference count (the declaration keeps it).
    @inline(__always) var compiledBodyRef: Unmanaged<StmtNode> {
        if let ref = compiledRef { return ref }
        return Unmanaged.passUnretained(compiledBody)
    }
}

// MARK: Compiler

enum Compiler {
    static func block(_ stmts: [Stmt]) -> Block { Block(stmts.map(statement)) }

    /// A function's body as one node (running it is running the block).
    static func body(_ stmts: [Stmt]) -> StmtNode {
        let statements = block(stmts)
        switch statements.count {
        case 1: return statements[0]
        case 2: return Sequence2Node(statements[0], statements[1])
        default: return SequenceNode(statements)
        }
    }

    static func statement(_ stmt: Stmt) -> StmtNode {
        switch stmt {
        case .expr(let e):
            return ExprStmtNode(expr(e))
        case .assign(.name(let ref), let value, _):
            switch ref.place {
            case .local(let i): return AssignLocalNode(i, expr(value))
            case .global(let i): return AssignGlobalNode(i, expr(value))
            default: return AssignNameNode(ref, expr(value))
            }
        case .function(let decl):
            return FunctionStmtNode(decl)
        case .ifChain(let branches, let elseBody, _) where branches.count == 1:
            return IfElseNode(expr(branches[0].0), block(branches[0].1), elseBody.map(block))
        case .ifChain(let branches, let elseBody, _):
            return IfNode(branches.map { (expr($0.0), block($0.1)) }, elseBody.map(block))
        case .forIn(let variable, let sequence, let body, let pos):
            return ForNode(variable, expr(sequence), block(body), pos)
        case .whileLoop(let condition, let body, let pos):
            return WhileNode(expr(condition), block(body), pos)
        case .returnStmt(let value, let pos):
            if let value { return ReturnNode(expr(value), pos) }
            return ReturnNothingNode(pos)
        default:
            return GenericStmtNode(stmt)
        }
    }

    static func expr(_ e: Expr) -> ExprNode {
        switch e {
        case .number(let n, let p): return ConstNode(.number(n), p)
        case .string(let s, let p): return ConstNode(.string(s), p)
        case .bool(let b, let p): return ConstNode(.bool(b), p)
        case .null(let p): return ConstNode(.null, p)
        case .interpolated(let pieces, let p):
            return InterpolatedNode(pieces.map {
                switch $0 {
                case .text(let t): return .text(Array(t.utf8))
                case .expr(let x): return .expr(expr(x))
                }
            }, p)
        case .list(let items, let p): return ListNode(ContiguousArray(items.map(expr)), p)
        case .record(let fields, let p): return RecordNode(fields.map(\.0), ContiguousArray(fields.map { expr($0.1) }), p)
        case .name(let ref):
            switch ref.place {
            case .local(let i): return LocalNode(ref, i)
            case .global(let i): return GlobalNode(ref, i)
            default: return NameNode(ref)
            }
        case .unary(let op, let x, let p): return UnaryNode(op == "not", expr(x), p)
        case .logical(let op, let a, let b, let p): return LogicalNode(op == "and", expr(a), expr(b), p)
        case .binary(let op, let a, let b, let p):
            if case .number(let n, _) = b { return BinaryConstNode(op, expr(a), n, p) }
            return BinaryNode(op, expr(a), expr(b), p)
        case .call(.attribute(let object, let name, let ap), let args, let p):
            return MethodCallNode(expr(object), name, ap, object.pos, args, p)
        case .call(let callee, let args, let p):
            return CallNode(expr(callee), args, p)
        case .attribute(let object, let name, let p): return AttributeNode(expr(object), name, p)
        case .function(let decl): return FunctionNode(decl)
        case .index: return GenericExprNode(e)
        }
    }
}

// MARK: Statements

extension Interpreter {
    /// Runs a loop's body like `run`, whose value the loop does not use.
    @inline(__always)
    func runLoopBody(_ block: Block, _ env: Environment) throws -> Flow {
        for i in block.indices {
            switch try block[i].exec(self, env) {
            case .normal: continue
            case let other: return other
            }
        }
        return .normal(nil)
    }

    /// Runs compiled statements; the flow of the first that is not normal, else the last value.
    @inline(__always)
    func run(_ block: Block, _ env: Environment) throws -> Flow {
        if block.count == 1 { return try block[0].exec(self, env) }
        var last: Value? = nil
        for i in block.indices {
            switch try block[i].exec(self, env) {
            case .normal(let v): last = v
            case let other: return other
            }
        }
        return .normal(last)
    }
}

/// Statements run in order (`Interpreter.run`).
final class SequenceNode: StmtNode {
    let block: Block
    init(_ block: Block) { self.block = block }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow { try I.run(block, env) }
}

/// Two statements run in order: `Interpreter.run` of a block of two.
final class Sequence2Node: StmtNode {
    let first: StmtNode, second: StmtNode
    init(_ first: StmtNode, _ second: StmtNode) { self.first = first; self.second = second }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        switch try first.exec(I, env) {
        case .normal: return try second.exec(I, env)
        case let other: return other
        }
    }
}

final class GenericStmtNode: StmtNode {
    let stmt: Stmt
    init(_ stmt: Stmt) { self.stmt = stmt }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow { try I.exec(stmt, env) }
}

final class ExprStmtNode: StmtNode {
    let e: ExprNode
    init(_ e: ExprNode) { self.e = e }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow { .normal(try e.eval(I, env)) }
}

// An assignment to a name pins the value while it is stored (`exec`); storing runs no code, so the
// nodes below store it at once.

final class AssignLocalNode: StmtNode {
    let slot: Int
    let value: ExprNode
    init(_ slot: Int, _ value: ExprNode) { self.slot = slot; self.value = value }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        env.slots[slot] = try value.eval(I, env)
        return .normal(nil)
    }
}

final class AssignGlobalNode: StmtNode {
    let slot: Int
    let value: ExprNode
    init(_ slot: Int, _ value: ExprNode) { self.slot = slot; self.value = value }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        let v = try value.eval(I, env)
        let globals = I.globals
        if slot >= globals.slots.count { globals.fitLayout() }
        globals.slots[slot] = v
        return .normal(nil)
    }
}

final class AssignNameNode: StmtNode {
    let ref: NameRef
    let value: ExprNode
    init(_ ref: NameRef, _ value: ExprNode) { self.ref = ref; self.value = value }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        let v = try value.eval(I, env)
        try I.store(ref, v, env)
        return .normal(nil)
    }
}

final class FunctionStmtNode: StmtNode {
    let decl: FunctionDecl
    init(_ decl: FunctionDecl) { self.decl = decl }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        try I.store(decl.binding, .function(I.makeClosure(decl, env)), env)
        return .normal(nil)
    }
}

final class IfNode: StmtNode {
    let conditions: ContiguousArray<ExprNode>
    let bodies: ContiguousArray<Block>
    let elseBody: Block?
    init(_ branches: [(ExprNode, Block)], _ elseBody: Block?) {
        conditions = ContiguousArray(branches.map(\.0))
        bodies = ContiguousArray(branches.map(\.1))
        self.elseBody = elseBody
    }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        for k in conditions.indices where try conditions[k].isTrue(I, env) {
            return try I.run(bodies[k], env)
        }
        if let elseBody { return try I.run(elseBody, env) }
        return .normal(nil)
    }
}

/// `if` with one condition (and maybe `else`).
final class IfElseNode: StmtNode {
    let condition: ExprNode
    let body: Block
    let elseBody: Block?
    init(_ condition: ExprNode, _ body: Block, _ elseBody: Block?) { self.condition = condition; self.body = body; self.elseBody = elseBody }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        if try condition.isTrue(I, env) { return try I.run(body, env) }
        if let elseBody { return try I.run(elseBody, env) }
        return .normal(nil)
    }
}

final class ForNode: StmtNode {
    let variable: NameRef
    let sequence: ExprNode
    let body: Block
    let pos: SourcePos
    init(_ variable: NameRef, _ sequence: ExprNode, _ body: Block, _ pos: SourcePos) {
        self.variable = variable; self.sequence = sequence; self.body = body; self.pos = pos
    }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        let seq = try sequence.eval(I, env)
        let items: [Value]
        switch seq {
        case .list(let l): items = l.items
        case .string(let s): items = s.map { .string(String($0)) }
        case .record(let r): items = r.keys.map { .string($0) }
        case .tensor(let t):
            guard t.rank > 0 else { throw I.fail("for: cannot iterate over a rank-0 tensor", sequence.pos) }
            items = try (0..<t.shape[0]).map { .tensor(try t.indexed([.index($0)])) }
        default: throw I.fail("for: cannot iterate over a \(seq.typeName)", sequence.pos)
        }
        let mark = I.temporaries.count
        if case .list = seq, items.contains(where: \.canReachEnvironment) { I.pin(.list(ListBox(items))) }
        I.loopDepth += 1
        defer { I.loopDepth -= 1; I.unpin(to: mark) }
        // The loop variable's slot, as `store` finds it.
        let target: Environment?
        let slot: Int
        switch variable.place {
        case .local(let i): target = env; slot = i
        case .global(let i): target = I.globals; slot = i
        default: target = nil; slot = 0
        }
        for item in items {
            try I.checkInterruptInline(pos)
            if let target {
                if slot >= target.slots.count { target.fitLayout() }
                target.slots[slot] = item
            } else {
                try I.store(variable, item, env)
            }
            switch try I.runLoopBody(body, env) {
            case .broke: return .normal(nil)
            case .returned(let v): return .returned(v)
            default: break
            }
        }
        return .normal(nil)
    }
}

final class WhileNode: StmtNode {
    let condition: ExprNode
    let body: Block
    let pos: SourcePos
    init(_ condition: ExprNode, _ body: Block, _ pos: SourcePos) { self.condition = condition; self.body = body; self.pos = pos }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        I.loopDepth += 1
        defer { I.loopDepth -= 1 }
        while try condition.isTrue(I, env) {
            try I.checkInterruptInline(pos)
            switch try I.runLoopBody(body, env) {
            case .broke: return .normal(nil)
            case .returned(let v): return .returned(v)
            default: break
            }
        }
        return .normal(nil)
    }
}

final class ReturnNode: StmtNode {
    let value: ExprNode
    let pos: SourcePos
    init(_ value: ExprNode, _ pos: SourcePos) { self.value = value; self.pos = pos }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        guard I.callDepth > 0 else { throw I.fail("'return' outside a function", pos) }
        return .returned(try value.eval(I, env))
    }
}

/// `return` without a value.
final class ReturnNothingNode: StmtNode {
    let pos: SourcePos
    init(_ pos: SourcePos) { self.pos = pos }
    override func exec(_ I: Interpreter, _ env: Environment) throws -> Flow {
        guard I.callDepth > 0 else { throw I.fail("'return' outside a function", pos) }
        return .returned(.null)
    }
}

// MARK: Expressions

final class GenericExprNode: ExprNode {
    let e: Expr
    init(_ e: Expr) { self.e = e; super.init(e.pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value { try I.eval(e, env) }
}

final class ConstNode: ExprNode {
    let value: Value
    init(_ value: Value, _ pos: SourcePos) { self.value = value; super.init(pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value { value }
}

final class InterpolatedNode: ExprNode {
    enum Piece {
        case text([UInt8])
        case expr(ExprNode)
    }
    let pieces: ContiguousArray<Piece>
    /// The literal text's length, reserved up front.
    let textLength: Int
    init(_ pieces: [Piece], _ pos: SourcePos) {
        self.pieces = ContiguousArray(pieces)
        textLength = pieces.reduce(0) { if case .text(let t) = $1 { return $0 + t.count }; return $0 }
        super.init(pos)
    }
    /// Builds the string's UTF-8 bytes (the pieces' bytes one after another are the bytes of the
    /// pieces' concatenation) and makes the string once.
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(textLength + 16 * pieces.count)
        for piece in pieces {
            switch piece {
            case .text(let t): bytes.append(contentsOf: t)
            case .expr(let x):
                switch try x.eval(I, env) {
                case .string(let t):
                    if t.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
                        bytes.append(contentsOf: t.utf8)
                    }
                case .number(let n) where n == n.rounded() && abs(n) < 1e15: appendDecimal(Int64(n), to: &bytes)
                case let v: bytes.append(contentsOf: v.text.utf8)
                }
            }
        }
        do { try ScriptLimits.checkString(bytes.count, "string interpolation") } catch let error as LoupeError { throw I.fail(error.message, pos) }
        return .string(String(decoding: bytes, as: UTF8.self))
    }
}

/// The number of characters of `s` (`len`).
func stringLength(_ s: String) -> Int {
    // ASCII without carriage returns ("\r\n" is one character): a character per byte.
    let simple = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
        guard let base = bytes.baseAddress else { return true }
        var i = 0
        // Eight bytes at a time: none with its high bit set, none equal to 13.
        while i + 8 <= bytes.count {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let cr = w ^ 0x0d0d_0d0d_0d0d_0d0d
            if w & 0x8080_8080_8080_8080 != 0 || (cr &- 0x0101_0101_0101_0101) & ~cr & 0x8080_8080_8080_8080 != 0 {
                return false
            }
            i += 8
        }
        while i < bytes.count {
            if bytes[i] >= 128 || bytes[i] == 13 { return false }
            i += 1
        }
        return true
    }
    return simple == true ? s.utf8.count : s.count
}

/// Appends the decimal digits of `v` (with a minus sign when negative): `Display.number`'s text of
/// an integral number below 1e15 in magnitude.
@inline(__always)
func appendDecimal(_ v: Int64, to bytes: inout [UInt8]) {
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
    withUnsafeMutableBytes(of: &digits) { raw in
        var i = raw.count
        var m = v.magnitude
        repeat {
            i -= 1
            raw[i] = UInt8(truncatingIfNeeded: 48 + m % 10)
            m /= 10
        } while m > 0
        if v < 0 {
            i -= 1
            raw[i] = 45
        }
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[i...]))
    }
}

final class ListNode: ExprNode {
    let items: ContiguousArray<ExprNode>
    init(_ items: ContiguousArray<ExprNode>, _ pos: SourcePos) { self.items = items; super.init(pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let mark = I.temporaries.count
        defer { I.unpin(to: mark) }
        var values: [Value] = []
        values.reserveCapacity(items.count)
        for item in items { values.append(try I.pinned(item.eval(I, env))) }
        return .list(ListBox(values))
    }
}

final class RecordNode: ExprNode {
    let keys: [String]
    let values: ContiguousArray<ExprNode>
    /// Whether no key is written twice (`{a: 1, a: 2}` keeps the first key's place, the last value).
    let distinctKeys: Bool
    init(_ keys: [String], _ values: ContiguousArray<ExprNode>, _ pos: SourcePos) {
        self.keys = keys; self.values = values
        distinctKeys = Set(keys).count == keys.count
        super.init(pos)
    }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let mark = I.temporaries.count
        defer { I.unpin(to: mark) }
        if distinctKeys {
            var items: [Value] = []
            items.reserveCapacity(keys.count)
            for k in keys.indices { items.append(try I.pinned(values[k].eval(I, env))) }
            return .record(RecordBox(distinctKeys: keys, items: items))
        }
        var pairs: [(String, Value)] = []
        pairs.reserveCapacity(keys.count)
        for k in keys.indices { pairs.append((keys[k], try I.pinned(values[k].eval(I, env)))) }
        return .record(RecordBox(pairs))
    }
}

final class LocalNode: ExprNode {
    let ref: NameRef
    let slot: Int
    init(_ ref: NameRef, _ slot: Int) { self.ref = ref; self.slot = slot; super.init(ref.pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let p = env.slots.base + slot
        // A number is read from the slot in place, without copying the whole optional value.
        if case .number(let x)? = p.pointee { return .number(x) }
        if let v = p.pointee { return v }
        throw I.unassigned(ref)
    }
}

final class GlobalNode: ExprNode {
    let ref: NameRef
    let slot: Int
    init(_ ref: NameRef, _ slot: Int) { self.ref = ref; self.slot = slot; super.init(ref.pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let globals = I.globals
        if slot < globals.slots.count {
            let p = globals.slots.base + slot
            if case .number(let x)? = p.pointee { return .number(x) }
            if let v = p.pointee { return v }
            if slot < globals.builtins.count, let b = globals.builtins[slot] { return b }
        }
        throw I.undefined(ref, env)
    }
}

final class NameNode: ExprNode {
    let ref: NameRef
    init(_ ref: NameRef) { self.ref = ref; super.init(ref.pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value { try I.read(ref, env) }
}

final class UnaryNode: ExprNode {
    let isNot: Bool
    let operand: ExprNode
    init(_ isNot: Bool, _ operand: ExprNode, _ pos: SourcePos) { self.isNot = isNot; self.operand = operand; super.init(pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let v = try operand.eval(I, env)
        if isNot { return .bool(!v.isTruthy) }
        do {
            return try Operators.negate(v)
        } catch let error as LoupeError {
            throw I.fail(error.message, pos)
        }
    }
}

final class LogicalNode: ExprNode {
    let isAnd: Bool
    let a: ExprNode, b: ExprNode
    init(_ isAnd: Bool, _ a: ExprNode, _ b: ExprNode, _ pos: SourcePos) { self.isAnd = isAnd; self.a = a; self.b = b; super.init(pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let l = try a.eval(I, env)
        if isAnd { return l.isTruthy ? try b.eval(I, env) : l }
        return l.isTruthy ? l : try b.eval(I, env)
    }
}

/// `x op y` on two numbers, as `Operators.binary` computes it; nil for the operators that need
/// more (division and remainder by zero, `@`).
@inline(__always)
func numberBinary(_ op: BinaryOperator, _ x: Double, _ y: Double) -> Value? {
    switch op {
    case .add: return .number(x + y)
    case .subtract: return .number(x - y)
    case .multiply: return .number(x * y)
    case .divide: return y != 0 ? .number(x / y) : nil
    case .remainder:
        guard y != 0 else { return nil }
        return .number(Operators.remainder(x, y))
    case .less: return .bool(x < y)
    case .lessOrEqual: return .bool(x <= y)
    case .greater: return .bool(x > y)
    case .greaterOrEqual: return .bool(x >= y)
    case .equal: return .bool(x == y)
    case .notEqual: return .bool(!(x == y))
    case .power, .matmul: return nil
    }
}

final class BinaryNode: ExprNode {
    let op: BinaryOperator
    let a: ExprNode, b: ExprNode
    init(_ op: BinaryOperator, _ a: ExprNode, _ b: ExprNode, _ pos: SourcePos) { self.op = op; self.a = a; self.b = b; super.init(pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let lhs = try a.eval(I, env)
        if case .number(let x) = lhs {
            let rhs = try b.eval(I, env)
            if case .number(let y) = rhs, let v = numberBinary(op, x, y) { return v }
            return try I.binary(op, lhs, rhs, pos)
        }
        let pinned = I.pin(lhs)
        defer { I.unpin(pinned) }
        return try I.binary(op, lhs, try b.eval(I, env), pos)
    }
    override func isTrue(_ I: Interpreter, _ env: Environment) throws -> Bool {
        let lhs = try a.eval(I, env)
        if case .number(let x) = lhs {
            let rhs = try b.eval(I, env)
            if case .number(let y) = rhs {
                switch op {
                case .less: return x < y
                case .lessOrEqual: return x <= y
                case .greater: return x > y
                case .greaterOrEqual: return x >= y
                case .equal: return x == y
                case .notEqual: return !(x == y)
                default: if let v = numberBinary(op, x, y) { return v.isTruthy }
                }
            }
            return try I.binary(op, lhs, rhs, pos).isTruthy
        }
        let pinned = I.pin(lhs)
        defer { I.unpin(pinned) }
        return try I.binary(op, lhs, try b.eval(I, env), pos).isTruthy
    }
}

/// `x op n` with a number literal on the right.
final class BinaryConstNode: ExprNode {
    let op: BinaryOperator
    let a: ExprNode
    let y: Double
    /// For a local variable on the left: its slot, read here rather than by `a`.
    let local: LocalNode?
    init(_ op: BinaryOperator, _ a: ExprNode, _ y: Double, _ pos: SourcePos) {
        self.op = op; self.a = a; self.y = y
        local = a as? LocalNode
        super.init(pos)
    }
    @inline(__always)
    private func left(_ I: Interpreter, _ env: Environment) throws -> Value {
        if let local {
            let p = env.slots.base + local.slot
            if case .number(let x)? = p.pointee { return .number(x) }
            if let v = p.pointee { return v }
            throw I.unassigned(local.ref)
        }
        return try a.eval(I, env)
    }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let lhs = try left(I, env)
        if case .number(let x) = lhs, let v = numberBinary(op, x, y) { return v }
        return try I.binary(op, lhs, .number(y), pos)
    }
    override func isTrue(_ I: Interpreter, _ env: Environment) throws -> Bool {
        let lhs = try left(I, env)
        if case .number(let x) = lhs {
            switch op {
            case .less: return x < y
            case .lessOrEqual: return x <= y
            case .greater: return x > y
            case .greaterOrEqual: return x >= y
            case .equal: return x == y
            case .notEqual: return !(x == y)
            default: if let v = numberBinary(op, x, y) { return v.isTruthy }
            }
        }
        return try I.binary(op, lhs, .number(y), pos).isTruthy
    }
}

final class AttributeNode: ExprNode {
    let object: ExprNode
    let name: String
    init(_ object: ExprNode, _ name: String, _ pos: SourcePos) { self.object = object; self.name = name; super.init(pos) }
    /// Where the key was in the last record read (see `RecordBox.value(_:hint:)`).
    private var hint = 0
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let obj = try object.eval(I, env)
        if case .record(let r) = obj, let v = r.value(name, hint: &hint) { return v }
        do { return try I.attribute(obj, name, pos) } catch let error as LoupeError { throw I.fail(error.message, pos) }
    }
}

final class FunctionNode: ExprNode {
    let decl: FunctionDecl
    init(_ decl: FunctionDecl) { self.decl = decl; super.init(decl.pos) }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value { .function(I.makeClosure(decl, env)) }
}

/// A call `f(args)` (not a method call): a user function with positional arguments only computes
/// them straight into its scope; other calls go through `Interpreter.call`.
final class CallNode: ExprNode {
    let callee: ExprNode
    let args: ContiguousArray<ExprNode>
    let labels: [String?]
    let hasLabels: Bool
    let site: CallSite
    /// For a global name as the callee (`f(x)` of a function defined at top level): the name's node.
    let global: GlobalNode?
    init(_ callee: ExprNode, _ arguments: [CallArgument], _ pos: SourcePos) {
        self.callee = callee
        global = callee as? GlobalNode
        args = ContiguousArray(arguments.map { Compiler.expr($0.value) })
        labels = arguments.map(\.label)
        hasLabels = arguments.contains { $0.label != nil }
        site = CallSite(receiver: nil, arguments: arguments)
        super.init(pos)
    }
    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        if let global, !hasLabels {
            // A user function in a global variable: read in place (what `callee.eval` answers,
            // without copying the whole value), then the call below.
            let globals = I.globals
            if global.slot < globals.slots.count, case .function(let closure)? = globals.slots.base[global.slot],
               args.count <= closure.decl.params.count {
                do {
                    return try I.callUser(closure, args, from: env, at: pos)
                } catch let error as LoupeError {
                    throw I.fail(error.message, pos)
                }
            }
        }
        let f = try callee.eval(I, env)
        do {
            if case .function(let closure) = f, !hasLabels, args.count <= closure.decl.params.count {
                return try I.callUser(closure, args, from: env, at: pos)
            }
            if case .builtin(let builtin) = f, builtin === I.lenFunction, !hasLabels, args.count == 1 {
                // `len`'s body for lists, strings and records (other arguments take the call below).
                let x = try args[0].eval(I, env)
                switch x {
                case .list(let l):
                    try I.checkInterruptInline(pos)
                    return .number(Double(l.items.count))
                case .record(let r):
                    try I.checkInterruptInline(pos)
                    return .number(Double(r.count))
                case .string(let s):
                    try I.checkInterruptInline(pos)
                    return .number(Double(stringLength(s)))
                default:
                    let pinned = I.pin(x)
                    defer { I.unpin(pinned) }
                    return try I.callBuiltin(builtin, [x], at: pos, site: site)
                }
            }
            if case .builtin(let builtin) = f, !hasLabels {
                // The arguments stay pinned from when they are computed until the builtin returns.
                let mark = I.temporaries.count
                defer { I.unpin(to: mark) }
                var positional: [Value] = []
                positional.reserveCapacity(Swift.max(args.count, builtin.params.count))
                for k in args.indices { positional.append(try I.pinned(args[k].eval(I, env))) }
                return try I.callBuiltin(builtin, positional, at: pos, site: site)
            }
            var pinned = I.pin(f)
            defer { I.unpin(pinned) }
            var positional: [Value] = []
            positional.reserveCapacity(args.count)
            var named: [(String, Value)] = []
            for k in args.indices {
                let v = try args[k].eval(I, env)
                pinned += I.pin(v)
                if let l = labels[k] { named.append((l, v)) } else { positional.append(v) }
            }
            return try I.call(f, positional, named, at: pos, site: site)
        } catch let error as LoupeError {
            throw I.fail(error.message, pos)
        }
    }
}

/// A method call `x.name(args)`: a builtin method of the receiver's type, or a record's function.
final class MethodCallNode: ExprNode {
    let object: ExprNode
    let name: String
    let namePos: SourcePos
    let args: ContiguousArray<ExprNode>
    let labels: [String?]
    let hasLabels: Bool
    let site: CallSite
    init(_ object: ExprNode, _ name: String, _ namePos: SourcePos, _ receiverPos: SourcePos, _ arguments: [CallArgument], _ pos: SourcePos) {
        self.object = object
        self.name = name
        self.namePos = namePos
        args = ContiguousArray(arguments.map { Compiler.expr($0.value) })
        labels = arguments.map(\.label)
        hasLabels = arguments.contains { $0.label != nil }
        site = CallSite(receiver: receiverPos, arguments: arguments)
        super.init(pos)
    }
    /// The builtin method last found for a receiver of kind `cachedKind` in interpreter
    /// `cachedInterpreter` (`Interpreter.serial`); methods of a type never change.
    private var cachedKind = -1
    private var cachedInterpreter = -1
    private var cachedMethod: Builtin? = nil

    /// The builtin method `name` of `obj`'s type, as `Interpreter.method` finds it, for receivers
    /// other than records (whose own keys come first) and handles (whose type names vary).
    @inline(__always)
    private func builtinMethod(_ I: Interpreter, _ obj: Value) -> Builtin? {
        let kind: Int
        switch obj {
        case .null: kind = 0
        case .bool: kind = 1
        case .number: kind = 2
        case .string: kind = 3
        case .list: kind = 4
        case .tensor: kind = 5
        case .function, .builtin, .boundMethod: kind = 6
        case .record, .handle: return nil
        }
        if kind == cachedKind && I.serial == cachedInterpreter { return cachedMethod }
        cachedMethod = I.table.methods[obj.typeName]?[name]
        cachedKind = kind
        cachedInterpreter = I.serial
        return cachedMethod
    }

    override func eval(_ I: Interpreter, _ env: Environment) throws -> Value {
        let obj = try object.eval(I, env)
        do {
            if !hasLabels, let b = builtinMethod(I, obj) {
                if b === I.appendMethod, args.count == 1, case .list(let l) = obj {
                    // `append`'s body: the receiver is a list and the one argument its value.
                    let pinned = I.pin(obj)
                    defer { I.unpin(pinned) }
                    let v = try args[0].eval(I, env)
                    try I.checkInterruptInline(pos)
                    l.items.append(v)
                    return obj
                }
                // `call` of the bound method `b` of `obj`, without making it: the receiver is kept
                // reachable instead of the bound method holding it.
                let pinned = I.pin(obj)
                let mark = I.temporaries.count
                defer { I.unpin(to: mark); I.unpin(pinned) }
                var values: [Value] = []
                values.reserveCapacity(Swift.max(args.count + 1, b.params.count))
                values.append(obj)
                for k in args.indices { values.append(try I.pinned(args[k].eval(I, env))) }
                return try I.callMethod(b, values, at: pos, site: site)
            }
            let f = try I.method(obj, name, namePos)
            var pinned = I.pin(f)
            defer { I.unpin(pinned) }
            var positional: [Value] = []
            positional.reserveCapacity(args.count)
            var named: [(String, Value)] = []
            for k in args.indices {
                let v = try args[k].eval(I, env)
                pinned += I.pin(v)
                if let l = labels[k] { named.append((l, v)) } else { positional.append(v) }
            }
            return try I.call(f, positional, named, at: pos, site: site)
        } catch let error as LoupeError {
            throw I.fail(error.message, pos)
        }
    }
}

extension Interpreter {
    /// Pins a value and returns it.
    @inline(__always)
    func pinned(_ v: Value) -> Value {
        pin(v)
        return v
    }

    /// Calls `builtin` with positional arguments as `call` does; the caller keeps them pinned.
    func callBuiltin(_ builtin: Builtin, _ positional: [Value], at p: SourcePos, site: CallSite) throws -> Value {
        try checkInterruptInline(p)
        let mark = temporaries.count
        let saved = builtinCallPos
        defer { unpin(to: mark); builtinCallPos = saved }
        let b: Builtin
        do { b = try builtin.overload(for: positional.first) } catch let error as LoupeError { throw fail(error.message, p) }
        var args = try b.bind(positional, [], isMethod: false, site: site, at: p, interpreter: self)
        builtinCallPos = p
        return try b.body(&args)
    }

    /// Calls the builtin method `b` with the receiver and positional arguments `values`, as `call`
    /// calls a bound method; the caller keeps `values` pinned while it runs (so they are not pinned
    /// a second time; the defaults bound besides them are constants).
    func callMethod(_ b: Builtin, _ values: [Value], at p: SourcePos, site: CallSite) throws -> Value {
        try checkInterruptInline(p)
        let mark = temporaries.count
        let saved = builtinCallPos
        defer { unpin(to: mark); builtinCallPos = saved }
        var args = try b.bind(values, [], isMethod: true, site: site, at: p, interpreter: self)
        builtinCallPos = p
        return try b.body(&args)
    }

    /// `Operators.binary` with its errors at `pos`.
    func binary(_ op: BinaryOperator, _ lhs: Value, _ rhs: Value, _ pos: SourcePos) throws -> Value {
        do { return try Operators.binary(op, lhs, rhs) } catch let error as LoupeError { throw fail(error.message, pos) }
    }

    /// `callUser(_:arguments:from:at:)` with compiled arguments. The call's scope is a finished
    /// call's when one is spare: a scope that no closure captured and nothing references once its
    /// call returned is emptied and kept for the function's next call (instead of being freed).
    func callUser(_ closure: Closure, _ arguments: ContiguousArray<ExprNode>, from callerEnv: Environment, at p: SourcePos) throws -> Value {
        let decl = closure.decl
        var env: Environment
        // (`take` moves the references: `env` is the only one when the call returns.)
        if let spare = decl.spareScope.take() {
            decl.spareScope = spare.nextSpare.take()
            decl.spareCount -= 1
            if spare.parent !== closure.env { spare.parent = closure.env }
            env = spare
        } else {
            env = Environment(parent: closure.env, layout: decl.layout)
        }
        // The call's scope is a root from here (its arguments may run code that collects cycles,
        // which also keeps the closure's own scope, its parent, alive) until the call returns.
        pushFrame(env)
        do {
            // The slots are empty (a new or a recycled scope): the arguments are put in without
            // releasing what was there.
            let slots = env.slots
            for i in arguments.indices { (slots.base + i).initialize(to: try arguments[i].eval(self, callerEnv)) }
            try checkInterruptInline(p)
            try checkDepth(decl, at: p)
        } catch {
            popFrame(env)
            throw error
        }
        let result: Value
        if arguments.count == decl.params.count, currentSource === decl.source, !cycles.isDue {
            // `enter` when only the body is left to run: every parameter is given, the function
            // is in the running file and no cycle collection is due.
            callDepth += 1
            let callerLoops = loopDepth
            loopDepth = 0
            defer { callDepth -= 1; loopDepth = callerLoops; popFrame(env) }
            do {
                // The closure holds the declaration, which holds its body, for the whole call.
                switch try decl.compiledBodyRef._withUnsafeGuaranteedRef({ try $0.exec(self, env) }) {
                case .returned(let v): result = v
                case .normal(let v): result = v ?? .null
                case .broke, .continued: result = .null
                }
            } catch var error as ScriptError {
                if error.frames.count < 12 { error.frames.append((decl.name, decl.source, p)) }
                throw error
            }
        } else {
            result = try enter(decl, env, at: p, framePushed: true)
        }
        if decl.spareCount < 64, !env.isCaptured, isKnownUniquelyReferenced(&env) {
            env.recycle(globals: globals)
            env.nextSpare = decl.spareScope.take()
            decl.spareScope = consume env
            decl.spareCount += 1
        }
        return result
    }
}
