/// The names of a scope's slots: a function call's parameters and locals (fixed by its
/// declaration), or the globals (growing as cells define names; builtins first).
final class ScopeLayout {
    private(set) var names: [String]
    private var index: [String: Int]

    init(names: [String]) {
        self.names = names
        index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    var count: Int { names.count }

    /// The slot of `name`, if the scope has one.
    func slot(of name: String) -> Int? { index[name] }

    /// The slot of `name`, added at the end when the scope has none yet.
    func slot(adding name: String) -> Int {
        if let i = index[name] { return i }
        names.append(name)
        index[name] = names.count - 1
        return names.count - 1
    }
}

/// A scope's variables by slot, in memory its `Environment` owns (allocated with the scope, moved
/// when the globals grow, freed with it): reading and writing a slot checks no uniqueness and
/// retains no buffer, unlike an array's. The resolver gives every name a slot below `count`.
struct Slots: RandomAccessCollection {
    let base: UnsafeMutablePointer<Value?>
    let count: Int
    var startIndex: Int { 0 }
    var endIndex: Int { count }
    @inline(__always) subscript(i: Int) -> Value? {
        get { base[i] }
        nonmutating set { base[i] = newValue }
    }
    /// `count` empty slots.
    static func allocate(_ count: Int) -> Slots {
        let base = UnsafeMutablePointer<Value?>.allocate(capacity: Swift.max(count, 1))
        base.initialize(repeating: nil, count: count)
        return Slots(base: base, count: count)
    }
    /// Frees the slots (releasing their values).
    func free() {
        base.deinitialize(count: count)
        base.deallocate()
    }
}

/// A scope of variables: a function call's, chained to the scope the function was defined in, or
/// the globals. Variables live in slots numbered by the scope's layout; `NameResolution` gives
/// every name in the source its slot before the code runs. Closures hold their scope by
/// reference; `CycleCollector` frees the cycles this makes.
public final class Environment {
    /// The variables' values by slot; nil while a variable is unassigned.
    private(set) var slots: Slots
    let layout: ScopeLayout
    /// The scope the function was defined in (set again when a call's scope is reused).
    var parent: Environment?
    /// For the globals: the builtin of each slot's name, answering while the slot is empty (a
    /// user's variable hides the builtin of its name, as in Python).
    var builtins: ContiguousArray<Value?> = []
    /// Whether a closure was defined in this scope (so it may be on a cycle).
    var isCaptured = false
    /// The last cycle collection that found this scope reachable.
    var markEpoch = 0
    /// For the scope of a running call: the scope of the call it runs in (`Interpreter.frames`).
    /// The running calls hold their scopes, so the link needs no reference count.
    unowned(unsafe) var callerFrame: Environment? = nil
    /// For a scope kept for reuse (`FunctionDecl.spareScope`): the next one kept.
    var nextSpare: Environment? = nil

    init(parent: Environment?, layout: ScopeLayout) {
        self.parent = parent
        self.layout = layout
        slots = Slots.allocate(layout.count)
    }

    deinit { slots.free() }

    /// Gives slots to names the layout gained since (the globals, as cells define names).
    func fitLayout() {
        let missing = layout.count - slots.count
        if missing > 0 {
            let grown = Slots.allocate(layout.count)
            grown.base.update(from: slots.base, count: slots.count)
            slots.free()
            slots = grown
        }
        if !builtins.isEmpty, layout.count > builtins.count {
            builtins.append(contentsOf: repeatElement(nil, count: layout.count - builtins.count))
        }
    }

    /// The value of `name` by its text (the slow path, for the REPL and messages): the nearest
    /// scope that has the name decides, and a function's local that is not assigned yet hides
    /// the enclosing scopes' variable of that name (Python's rule).
    func lookup(_ name: String) -> Value? {
        var env: Environment? = self
        while let e = env {
            if let i = e.layout.slot(of: name), i < e.slots.count {
                if let v = e.slots[i] { return v }
                if i < e.builtins.count, let b = e.builtins[i] { return b }
                if e.parent != nil { return nil }
            }
            env = e.parent
        }
        return nil
    }

    /// The value of slot `i` (or its builtin).
    @inline(__always) func value(at i: Int) -> Value? {
        if let v = slots[i] { return v }
        return i < builtins.count ? builtins[i] : nil
    }

    /// The names that have a value here (variables and, for the globals, builtins).
    var boundNames: [String] {
        layout.names.indices.compactMap { value(at: $0) == nil ? nil : layout.names[$0] }
    }

    /// The variables' values (not the builtins).
    var values: [Value] { slots.compactMap { $0 } }

    /// The scope `depth` functions out (1: the parent).
    @inline(__always) func ancestor(_ depth: Int) -> Environment? {
        var env: Environment? = self
        for _ in 0..<depth { env = env?.parent }
        return env
    }

    /// Empties every variable, for reuse by another call of the function (see
    /// `Interpreter.callUser`), and forgets the parent unless it is `globals` (which lives as
    /// long as the interpreter: the function's next call most likely has the same parent).
    @inline(__always) func recycle(globals: Environment) {
        let slots = self.slots
        for i in 0..<slots.count {
            let p = slots.base + i
            switch p.pointee {
            // (Values without references are overwritten; the others released.)
            case .none, .number?, .bool?, .null?: p.initialize(to: nil)
            default: p.pointee = nil
            }
        }
        if parent !== globals { parent = nil }
    }

    /// Empties every variable.
    func clear() {
        for i in slots.indices { slots[i] = nil }
    }
}
