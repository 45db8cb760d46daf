import Foundation
import LoupeModels
import LoupeTensor

enum Flow {
    case normal(Value?)
    case returned(Value)
    case broke
    case continued
}

/// The tree-walking interpreter: holds globals, the random generator, builtins and the record of
/// files read (for session headers).
public final class Interpreter {
    public let globals: Environment
    /// The builtins, methods, value types and architectures of the interpreter's cores.
    public let table: BuiltinTable
    /// All builtins by name.
    public var builtins: [String: Builtin] { table.builtins }
    /// The architectures `model(path)` rebuilds checkpoints through.
    public var architectures: ArchitectureCatalog { table.architectures }
    /// The generator every random builtin draws from (`seed(n)` resets it).
    public var rng = RandomGenerator(seed: 0)
    /// The last seed set with `seed(n)`, if any.
    public var seedValue: UInt64? = nil
    /// SHA-256 of every file read, by path, in the order first read.
    public var filesRead: [(path: String, sha256: String)] = []
    /// Where `print` and displays go.
    public var output: (String) -> Void = { print($0) }
    /// Images produced by `show` (for notebook export): encoded PNG bytes.
    public var shownImages: [[UInt8]] = []
    /// Called with every image `show` displays and its PNG bytes (the REPL draws it inline).
    public var imageSink: ((Tensor, [UInt8]) -> Void)? = nil
    /// When set, loops and calls may run at most this many steps (fuzzing), then fail.
    public var stepBudget: Int? = nil
    /// Whether builtins may read and write files (off when fuzzing).
    public var allowFileAccess = true
    var currentSource = SourceFile(name: "<input>", text: "")
    var callDepth = 0
    /// Where the running builtin was called (the call site of functions it calls back).
    public internal(set) var builtinCallPos = SourcePos(line: 0, column: 0)
    var loopDepth = 0
    static let maxCallDepth = 1000
    /// The environment of the innermost running user function call, linked to those of the calls
    /// it runs in (`Environment.callerFrame`).
    unowned(unsafe) var topFrame: Environment? = nil
    /// The environments of the running user function calls (roots of the cycle collector).
    var frames: [Environment] {
        var all: [Environment] = []
        var frame = topFrame
        while let f = frame {
            all.append(f)
            frame = f.callerFrame
        }
        return all
    }

    /// Makes `env` the innermost running call's environment.
    @inline(__always) func pushFrame(_ env: Environment) {
        env.callerFrame = topFrame
        topFrame = env
    }

    /// Ends the innermost running call's frame, `env` (without a reference count for it).
    @inline(__always) func popFrame(_ env: Environment) {
        topFrame = env.callerFrame
        env.callerFrame = nil
    }

    /// Ends the innermost running call's frame.
    @inline(__always) func popFrame() {
        let frame = topFrame
        topFrame = frame?.callerFrame
        frame?.callerFrame = nil
    }
    /// Values held while they are computed or used (roots of the cycle collector), see `pin`.
    var temporaries: [Value] = []
    var cycles = CycleCollector()
    /// The builtins that compiled calls run without binding their arguments (see `Compiled.swift`):
    /// the list method `append` and the function `len`, when the cores declare them.
    private(set) var appendMethod: Builtin? = nil
    private(set) var lenFunction: Builtin? = nil
    /// A number no other interpreter of the process has (keys the method caches of compiled calls).
    let serial: Int = Interpreter.nextSerial()
    nonisolated(unsafe) private static var serials = 0
    private static let serialLock = NSLock()
    private static func nextSerial() -> Int {
        serialLock.lock()
        defer { serialLock.unlock() }
        serials += 1
        return serials
    }

    /// An interpreter of the language made of the cores in `table`.
    public init(table: BuiltinTable) {
        self.table = table
        // The globals' first slots are the builtins' names, each answered by its builtin until a
        // variable of that name is assigned.
        let names = table.builtins.keys.sorted()
        globals = Environment(parent: nil, layout: ScopeLayout(names: names))
        globals.builtins = ContiguousArray(names.map { table.builtins[$0].map(Value.builtin) })
        if let b = table.methods["list"]?["append"], b.signature == "append(list, value)" { appendMethod = b }
        if let b = table.builtins["len"], b.signature == "len(x)", b.overloads.isEmpty { lenFunction = b }
    }

    /// An interpreter of the standard cores (`ScriptCores.standard`). Throws when two cores
    /// declare the same name.
    public convenience init() throws {
        self.init(table: try .standard)
    }

    /// Functions defined at top level reference the globals that hold them: break those cycles.
    deinit {
        globals.clear()
        cycles.clearAll()
    }

    /// Removes all user variables.
    public func reset() {
        globals.clear()
        collectCycles()
    }

    /// Names of user variables, sorted.
    public var variableNames: [String] {
        globals.layout.names.indices.compactMap { globals.slots[$0] == nil ? nil : globals.layout.names[$0] }.sorted()
    }

    /// A user variable's value.
    public func variable(_ name: String) -> Value? { globals.lookup(name) }

    /// Sets a user variable.
    public func setVariable(_ name: String, _ value: Value) {
        let slot = globals.layout.slot(adding: name)
        globals.fitLayout()
        globals.slots[slot] = value
    }

    /// Method names available on a value (builtins and record keys).
    public func methodNames(of value: Value) -> [String] {
        var names = Set(table.methods[value.typeName]?.keys ?? [:].keys)
        names.formUnion(table.valueTypes[value.typeName]?.attributeNames ?? [])
        if case .record(let r) = value { names.formUnion(r.keys) }
        if case .handle(let h) = value { names.formUnion(h.attributeNames) }
        return names.sorted()
    }

    /// Parses a source text, reporting syntax errors as `ScriptError`.
    public func parse(_ source: SourceFile) throws -> [Stmt] {
        do { return try Parser.parse(source) } catch let e as SyntaxError { throw ScriptError(e, source: source) }
    }

    /// Runs a source text; returns the value of its last expression statement (nil for none).
    @discardableResult
    public func run(_ source: SourceFile) throws -> Value? {
        let stmts = try parse(source)
        try check(stmts, source: source)
        return try execute(stmts, source: source)
    }

    /// Checks parsed statements before any of them runs (see `Resolver`): `return`, `break` and
    /// `continue` out of place, and names read at top level that nothing defines.
    public func check(_ stmts: [Stmt], source: SourceFile) throws {
        try Resolver.check(stmts, source: source, isDefined: { self.globals.lookup($0) != nil },
                           suggestion: { self.nearestName($0, self.globals, extra: Scope.assignedNames(in: stmts)) })
    }

    /// Runs parsed statements at top level, on a thread with a deep stack (see `DeepStack`).
    public func execute(_ stmts: [Stmt], source: SourceFile) throws -> Value? {
        try DeepStack.run { try executeHere(stmts, source: source) }
    }

    private func executeHere(_ stmts: [Stmt], source: SourceFile) throws -> Value? {
        var resolution = NameResolution(globals: globals.layout)
        resolution.resolve(stmts)
        globals.fitLayout()
        currentSource = source
        callDepth = 0
        loopDepth = 0
        let flow: Flow
        do {
            flow = try run(Compiler.block(stmts), globals)
        } catch {
            collectCycles()
            throw error
        }
        let result: Value?
        switch flow {
        case .normal(let v): result = v
        case .returned(let v): result = v
        case .broke, .continued: result = nil
        }
        collectCycles(keeping: result)
        return result
    }

    // MARK: Cycle collection

    /// Frees environments kept alive only by cycles with their closures (see `CycleCollector`);
    /// `keeping` stays usable as well as everything reachable from variables and running calls.
    public func collectCycles(keeping value: Value? = nil) {
        let mark = temporaries.count
        defer { unpin(to: mark) }
        if let value { pin(value) }
        cycles.collect(roots: [globals] + frames, temporaries: temporaries)
    }

    /// Keeps a value reachable for the cycle collector until the running builtin returns: builtins
    /// that hold Loupe values across calls into Loupe functions, other than their arguments (which
    /// are kept already), must keep them alive.
    public func keepAlive(_ value: Value) { pin(value) }

    /// Adds a value to the temporaries unless it cannot reach an environment other than the
    /// globals (always a root); returns how many values were added (0 or 1).
    @discardableResult
    func pin(_ value: Value) -> Int {
        switch value {
        case .null, .bool, .number, .string, .tensor, .builtin: return 0
        case .function(let closure) where closure.env === globals: return 0
        default: temporaries.append(value); return 1
        }
    }

    /// Drops the last `count` temporaries.
    func unpin(_ count: Int) {
        for _ in 0..<count { temporaries.removeLast() }
    }

    /// Drops the temporaries pinned since `mark` (a previous `temporaries.count`).
    func unpin(to mark: Int) {
        while temporaries.count > mark { temporaries.removeLast() }
    }

    /// Evaluates an expression and pins its value.
    func evalPinned(_ e: Expr, _ env: Environment) throws -> Value {
        let v = try eval(e, env)
        pin(v)
        return v
    }

    /// A closure over `env`, registered with the cycle collector.
    func makeClosure(_ decl: FunctionDecl, _ env: Environment) -> Closure {
        if env !== globals { cycles.register(env) }
        return Closure(decl: decl, env: env)
    }

    /// The variable name written at `pos` in the running source (`m` in `train(m, ...)`), or nil
    /// when something other than a plain name is there.
    func sourceName(at pos: SourcePos) -> String? {
        let line = Array(currentSource.line(pos.line))
        let start = pos.column - 1
        guard start >= 0, start < line.count, line[start].isLetter || line[start] == "_" else { return nil }
        var end = start
        while end < line.count, line[end].isLetter || line[end].isNumber || line[end] == "_" { end += 1 }
        if end < line.count, line[end] == "(" || line[end] == "[" { return nil }
        return String(line[start..<end])
    }

    func fail(_ message: String, _ pos: SourcePos) -> ScriptError {
        ScriptError(message, source: currentSource, pos: pos)
    }

    /// `checkInterrupt(pos)` with its common case (no step budget, no Ctrl-C) inline.
    @inline(__always)
    func checkInterruptInline(_ pos: SourcePos) throws {
        if stepBudget == nil && Interrupt.requested == 0 { return }
        try checkInterrupt(pos)
    }

    /// Throws when the step budget is spent or Ctrl-C was pressed; `progress` says how far the
    /// interrupted work got ("at step 18 of 79 ...").
    func checkInterrupt(_ pos: SourcePos, progress: (() -> String)? = nil) throws {
        if let budget = stepBudget {
            guard budget > 0 else { throw fail("step budget exhausted", pos) }
            stepBudget = budget - 1
        }
        if Interrupt.requested != 0 {
            Interrupt.requested = 0
            throw fail("interrupted" + (progress.map { " " + $0() } ?? ""), pos)
        }
    }

    // MARK: Statements

    /// Runs the statements the compiler leaves to the tree (`GenericStmtNode`: assignments to an
    /// attribute or an index, break, continue, global/nonlocal); every other statement runs as
    /// its compiled node, the one implementation of its semantics.
    func exec(_ stmt: Stmt, _ env: Environment) throws -> Flow {
        switch stmt {
        case .assign(let target, let valueExpr, let pos):
            let mark = temporaries.count
            defer { unpin(to: mark) }
            let value = try evalPinned(valueExpr, env)
            try assign(target, value, env, pos)
            return .normal(nil)
        case .expr, .function, .ifChain, .forIn, .whileLoop, .returnStmt:
            return try Compiler.statement(stmt).exec(self, env)
        case .breakStmt(let pos):
            guard loopDepth > 0 else { throw fail("'break' outside a loop", pos) }
            return .broke
        case .continueStmt(let pos):
            guard loopDepth > 0 else { throw fail("'continue' outside a loop", pos) }
            return .continued
        case .declare(let kind, _, let pos):
            guard callDepth > 0 else { throw fail("'\(kind.rawValue)' outside a function (names at top level are global already)", pos) }
            return .normal(nil)
        }
    }

    func assign(_ target: Expr, _ value: Value, _ env: Environment, _ pos: SourcePos) throws {
        switch target {
        case .name(let ref):
            // Assignment binds in the current scope (a function's locals, or the globals), and may
            // hide a builtin of the same name there, as in Python.
            try store(ref, value, env)
        case .attribute(let objExpr, let key, let p):
            let obj = try eval(objExpr, env)
            guard case .record(let r) = obj else { throw fail("cannot set attribute '\(key)' on a \(obj.typeName)", p) }
            do { try r.assign(key, value) } catch let error as LoupeError { throw fail(error.message, p) }
        case .index(let objExpr, let items, let p):
            let obj = try evalPinned(objExpr, env)
            if case .tensor(let t) = obj {
                // Tensors are values: x[...] = v builds the updated tensor (differentiable in x
                // and v) and assigns it back to the indexed expression.
                let region = try tensorIndices(try subscripts(items, env), p)
                let updated: Tensor
                do {
                    switch value {
                    case .tensor(let v): updated = try t.replacing(region, with: v)
                    case .number(let n): updated = try t.replacing(region, with: Tensor(Float(n)))
                    case .bool(let b): updated = try t.replacing(region, with: Tensor(b ? 1 : 0))
                    default: throw fail("cannot assign a \(value.typeName) into a tensor (use a number or a tensor)", p)
                    }
                } catch let error as LoupeError {
                    throw fail(error.message, p)
                }
                try assign(objExpr, .tensor(updated), env, p)
                return
            }
            guard items.count == 1, case .single(let ie) = items[0] else {
                throw fail("assignment supports a single index (x[i] = v)", p)
            }
            let key = try eval(ie, env)
            switch (obj, key) {
            case (.list(let l), .number(let n)):
                let i = try listIndex(n, count: l.items.count, p)
                l.items[i] = value
            case (.record(let r), .string(let k)):
                do { try r.assign(k, value) } catch let error as LoupeError { throw fail(error.message, p) }
            default:
                throw fail("cannot assign to index \(key.typeName) of a \(obj.typeName)", p)
            }
        default:
            throw fail("cannot assign to this expression", pos)
        }
    }

    /// Assigns the variable `ref` names, in the slot its resolution gave it: the running
    /// function's local, an enclosing function's (`nonlocal`), or a global.
    func store(_ ref: NameRef, _ value: Value, _ env: Environment) throws {
        switch ref.place {
        case .local(let i):
            env.slots[i] = value
        case .enclosing(let depth, let i):
            guard let scope = env.ancestor(depth) else { throw fail("internal error: no scope \(depth) out for '\(ref.name)'", ref.pos) }
            scope.slots[i] = value
        case .global(let i):
            if i >= globals.slots.count { globals.fitLayout() }
            globals.slots[i] = value
        case .missingNonlocal:
            throw fail("nonlocal '\(ref.name)': no enclosing function has a variable of that name", ref.pos)
        case .unresolved:
            setVariable(ref.name, value)
        }
    }

    /// Reads the variable `ref` names from its slot; throws the messages of an unassigned local
    /// and of an undefined name.
    @inline(__always)
    func read(_ ref: NameRef, _ env: Environment) throws -> Value {
        switch ref.place {
        case .local(let i):
            if let v = env.slots[i] { return v }
        case .enclosing(let depth, let i):
            if let v = env.ancestor(depth)?.slots[i] { return v }
        case .global(let i):
            if i < globals.slots.count, let v = globals.value(at: i) { return v }
            throw undefined(ref, env)
        case .unresolved, .missingNonlocal:
            if let v = env.lookup(ref.name) { return v }
            throw undefined(ref, env)
        }
        throw unassigned(ref)
    }

    /// The error for a function's local read before it is assigned.
    func unassigned(_ ref: NameRef) -> ScriptError {
        fail("local variable '\(ref.name)' is used before it is assigned (assigning to a name inside a function makes it local to the function)", ref.pos)
    }

    /// The error for a name nothing defines, with the nearest defined name as a hint.
    func undefined(_ ref: NameRef, _ env: Environment) -> ScriptError {
        let near = nearestName(ref.name, env)
        return fail("undefined variable '\(ref.name)'" + (near.map { " (did you mean '\($0)'?)" } ?? ""), ref.pos)
    }

    /// Evaluates subscript items (indices and slices with integer bounds).
    func subscripts(_ items: [IndexItem], _ env: Environment) throws -> [Subscript] {
        try items.map { item in
            switch item {
            case .single(let x): return .value(try evalPinned(x, env))
            case .slice(let a, let b, let c):
                func bound(_ x: Expr?) throws -> Int? {
                    guard let x else { return nil }
                    let v = try eval(x, env)
                    guard case .number(let n) = v, n == n.rounded(), abs(n) < 1e15 else {
                        throw fail("slice bounds must be integers, got \(v.display)", x.pos)
                    }
                    return Int(n)
                }
                return .slice(try bound(a), try bound(b), try bound(c))
            }
        }
    }

    func listIndex(_ n: Double, count: Int, _ pos: SourcePos) throws -> Int {
        guard n == n.rounded(), abs(n) < 1e15 else { throw fail("index: list index must be an integer, got \(Value.number(n).display)", pos) }
        let i = Int(n) < 0 ? Int(n) + count : Int(n)
        guard i >= 0 && i < count else { throw fail("index: index \(Int(n)) is out of range for a list of length \(count)", pos) }
        return i
    }

    // MARK: Expressions

    func eval(_ e: Expr, _ env: Environment) throws -> Value {
        do {
            return try evalInner(e, env)
        } catch let error as LoupeError {
            throw fail(error.message, e.pos)
        }
    }

    private func evalInner(_ e: Expr, _ env: Environment) throws -> Value {
        switch e {
        case .number(let n, _): return .number(n)
        case .string(let s, _): return .string(s)
        case .interpolated(let pieces, _):
            var s = ""
            for piece in pieces {
                switch piece {
                case .text(let t): s += t
                case .expr(let x): s += try eval(x, env).text
                }
            }
            try ScriptLimits.checkString(s.utf8.count, "string interpolation")
            return .string(s)
        case .bool(let b, _): return .bool(b)
        case .null: return .null
        case .list(let items, _):
            let mark = temporaries.count
            defer { unpin(to: mark) }
            return .list(ListBox(try items.map { try evalPinned($0, env) }))
        case .record(let fields, _):
            let mark = temporaries.count
            defer { unpin(to: mark) }
            return .record(RecordBox(try fields.map { ($0.0, try evalPinned($0.1, env)) }))
        case .name(let ref):
            return try read(ref, env)
        case .unary(let op, let x, _):
            let v = try eval(x, env)
            return op == "not" ? .bool(!v.isTruthy) : try Operators.negate(v)
        case .logical(let op, let a, let b, _):
            let l = try eval(a, env)
            if op == "and" { return l.isTruthy ? try eval(b, env) : l }
            return l.isTruthy ? l : try eval(b, env)
        case .binary(let op, let a, let b, _):
            let lhs = try eval(a, env)
            let pinned = pin(lhs)
            defer { unpin(pinned) }
            return try Operators.binary(op, lhs, try eval(b, env))
        case .call(let calleeExpr, let args, let p):
            var pinned = 0
            defer { unpin(pinned) }
            var positional: [Value] = []
            positional.reserveCapacity(args.count)
            var named: [(String, Value)] = []
            let callee: Value
            var receiver: SourcePos? = nil
            if case .attribute(let objExpr, let name, let ap) = calleeExpr {
                let obj = try eval(objExpr, env)
                callee = try method(obj, name, ap)
                receiver = objExpr.pos
            } else {
                callee = try eval(calleeExpr, env)
                if case .function(let closure) = callee, args.count <= closure.decl.params.count,
                   !args.contains(where: { $0.label != nil }) {
                    return try callUser(closure, arguments: args, from: env, at: p)
                }
            }
            pinned += pin(callee)
            for a in args {
                let v = try eval(a.value, env)
                pinned += pin(v)
                if let l = a.label { named.append((l, v)) } else { positional.append(v) }
            }
            return try call(callee, positional, named, at: p, site: CallSite(receiver: receiver, arguments: args))
        case .attribute(let objExpr, let name, let p):
            let obj = try eval(objExpr, env)
            return try attribute(obj, name, p)
        case .index(let objExpr, let items, let p):
            let mark = temporaries.count
            defer { unpin(to: mark) }
            let obj = try evalPinned(objExpr, env)
            return try index(obj, try subscripts(items, env), p)
        case .function(let decl):
            return .function(makeClosure(decl, env))
        }
    }

    func nearestName(_ n: String, _ env: Environment, extra: Set<String> = []) -> String? {
        var candidates: [String] = Array(extra)
        var e: Environment? = env
        while let x = e { candidates += x.boundNames; e = x.parent }
        return candidates.filter { editDistance($0, n) <= (n.count <= 3 ? 1 : 2) }.min { editDistance($0, n) < editDistance($1, n) }
    }

    func attribute(_ obj: Value, _ name: String, _ p: SourcePos) throws -> Value {
        switch obj {
        case .record(let r):
            if let v = r[name] { return v }
            throw fail(missingKeyMessage(name, keys: r.keys), p)
        case .handle(let h):
            if let v = try h.attribute(name) { return v }
        default:
            if let read = table.valueTypes[obj.typeName]?.attribute, let v = try read(obj, name) { return v }
        }
        if let m = table.methods[obj.typeName]?[name] { return .boundMethod(m, obj) }
        throw fail("\(obj.typeName) has no attribute '\(name)'", p)
    }

    func method(_ obj: Value, _ name: String, _ p: SourcePos) throws -> Value {
        if case .record(let r) = obj, let v = r[name] { return v }
        if let m = table.methods[obj.typeName]?[name] { return .boundMethod(m, obj) }
        if case .record = obj { return try attribute(obj, name, p) }
        throw fail("\(obj.typeName) has no method '\(name)'", p)
    }

    /// Calls a function value with positional and named arguments.
    public func call(_ callee: Value, _ positional: [Value], _ named: [(String, Value)] = [], at p: SourcePos) throws -> Value {
        try call(callee, positional, named, at: p, site: nil)
    }

    /// Calls a function value; `site` locates the arguments in the source (nil when the call
    /// comes from Swift) so that errors about an argument point at it.
    func call(_ callee: Value, _ positional: [Value], _ named: [(String, Value)], at p: SourcePos, site: CallSite?) throws -> Value {
        try checkInterrupt(p)
        if case .function(let closure) = callee { return try callUser(closure, positional, named, at: p) }
        // Builtins and handles run with their arguments kept reachable (user functions keep
        // theirs in their environment); whatever they keep alive is dropped when they return.
        let mark = temporaries.count
        let saved = builtinCallPos
        defer { unpin(to: mark); builtinCallPos = saved }
        switch callee {
        case .builtin(let builtin):
            let b: Builtin
            do { b = try builtin.overload(for: positional.first) } catch let error as LoupeError { throw fail(error.message, p) }
            var args = try b.bind(positional, named, isMethod: false, site: site, at: p, interpreter: self)
            args.pinValues()
            builtinCallPos = p
            return try b.body(&args)
        case .boundMethod(let b, let receiver):
            var args = try b.bind([receiver] + positional, named, isMethod: true, site: site, at: p, interpreter: self)
            args.pinValues()
            builtinCallPos = p
            return try b.body(&args)
        case .handle(let handle as CallableHandle):
            pin(callee)
            positional.forEach { pin($0) }
            named.forEach { pin($0.1) }
            builtinCallPos = p
            return try handle.call(positional, named, interpreter: self)
        default:
            throw fail("a \(callee.typeName) is not callable", p)
        }
    }

    func callUser(_ closure: Closure, _ positional: [Value], _ named: [(String, Value)], at p: SourcePos) throws -> Value {
        let decl = closure.decl
        try checkDepth(decl, at: p)
        let env = Environment(parent: closure.env, layout: decl.layout)
        guard positional.count <= decl.params.count else {
            throw fail("\(decl.name): takes \(decl.params.count) arguments, got \(positional.count)", p)
        }
        // The parameters are the first slots, in order.
        for (i, v) in positional.enumerated() { env.slots[i] = v }
        for (label, v) in named {
            guard let j = decl.params.firstIndex(where: { $0.name == label }) else {
                throw fail("\(decl.name): unknown argument '\(label)' (parameters: \(decl.params.map(\.name).joined(separator: ", ")))", p)
            }
            if j < positional.count { throw fail("\(decl.name): argument '\(label)' given twice", p) }
            env.slots[j] = v
        }
        return try enter(decl, env, at: p)
    }

    /// Calls a user function with positional arguments only, computing them straight into the
    /// call's slots (no argument arrays): the common call `f(a, b)`.
    func callUser(_ closure: Closure, arguments: [CallArgument], from callerEnv: Environment, at p: SourcePos) throws -> Value {
        let decl = closure.decl
        let env = Environment(parent: closure.env, layout: decl.layout)
        // The call's scope is a root while its arguments are computed (they may run Loupe code
        // that collects cycles), which also keeps the closure's own scope, its parent, alive.
        pushFrame(env)
        do {
            for i in arguments.indices { env.slots[i] = try eval(arguments[i].value, callerEnv) }
        } catch {
            popFrame()
            throw error
        }
        popFrame()
        try checkInterrupt(p)
        try checkDepth(decl, at: p)
        return try enter(decl, env, at: p)
    }

    /// Throws when one more nested call would pass `maxCallDepth`.
    @inline(__always)
    func checkDepth(_ decl: FunctionDecl, at p: SourcePos) throws {
        guard callDepth < Interpreter.maxCallDepth else { throw tooDeep(decl, at: p) }
    }

    private func tooDeep(_ decl: FunctionDecl, at p: SourcePos) -> ScriptError {
        fail("\(decl.name): too much recursion (over \(Interpreter.maxCallDepth) nested calls)", p)
    }

    /// Runs a call whose given arguments are bound in `env`: the defaults, then the body.
    /// `framePushed`: the caller put `env` on `frames` already (it is taken off at the end).
    func enter(_ decl: FunctionDecl, _ env: Environment, at p: SourcePos, framePushed: Bool = false) throws -> Value {
        // A call into the running file (the common case) leaves `currentSource` as it is.
        if currentSource === decl.source {
            return try enterBody(decl, env, at: p, callerSource: decl.source, framePushed: framePushed)
        }
        let callerSource = currentSource
        currentSource = decl.source
        defer { currentSource = callerSource }
        return try enterBody(decl, env, at: p, callerSource: callerSource, framePushed: framePushed)
    }

    /// `enter` once `currentSource` is the function's.
    private func enterBody(_ decl: FunctionDecl, _ env: Environment, at p: SourcePos, callerSource: SourceFile,
                           framePushed: Bool) throws -> Value {
        callDepth += 1
        let callerLoops = loopDepth
        loopDepth = 0
        if !framePushed { pushFrame(env) }
        defer { callDepth -= 1; loopDepth = callerLoops; popFrame() }
        if cycles.isDue { collectCycles() }
        for j in 0..<decl.params.count where env.slots[j] == nil {
            guard let d = decl.params[j].defaultValue else {
                currentSource = callerSource
                throw fail("\(decl.name): missing argument '\(decl.params[j].name)'", p)
            }
            env.slots[j] = try eval(d, env)
        }
        do {
            switch try decl.compiledBody.exec(self, env) {
            case .returned(let v): return v
            case .normal(let v): return v ?? .null
            case .broke, .continued: return .null
            }
        } catch var error as ScriptError {
            if error.frames.count < 12 { error.frames.append((decl.name, callerSource, p)) }
            throw error
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a), y = Array(b)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var prev = Array(0...y.count)
    for i in 1...x.count {
        var cur = [i] + [Int](repeating: 0, count: y.count)
        for j in 1...y.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[y.count]
}
