/// Frees the reference cycles between environments and closures that reference counting cannot.
///
/// Memory model. Values are reference counted: lists, records, closures and environments are
/// shared by reference and freed (with their tensors) when the last reference goes. A closure
/// keeps the environment it was defined in alive, which is what lets closures capture variables
/// by reference and outlive the call that made them. A closure that is reachable from the
/// environment it captures (a local or recursive local function, a lambda in a local, a closure
/// in a list or record held by a local) forms a cycle that reference counting never frees.
///
/// Only an environment some closure was defined in can be on such a cycle: the interpreter
/// registers those ("suspects"), weakly, when the closure is made. At a safe point the collector
/// marks every environment reachable from the roots, which are the globals, the environments of
/// the running calls, and the interpreter's temporaries (values being computed and the values
/// running builtins hold, see `Interpreter.keepAlive`); it then empties the variables of every
/// unmarked suspect, which breaks its cycles so reference counting frees it. An unreachable
/// environment's variables can never be read again, so emptying them does not change what any
/// program does.
///
/// Safe points: the start of a user function call (once enough suspects were made since the last
/// collection) and the end of every top-level run. For them to be safe, interpreter code that
/// holds a value across a call into Loupe code pins it (`Interpreter.pin`). Swift code that keeps a `Value` across runs
/// must keep it reachable (for example with `Interpreter.setVariable`); a `ScriptHandle` that
/// stores values lists them in `heldValues`. Cycles made of lists and records alone
/// (`l.append(l)`) are not collected.
struct CycleCollector {
    private struct WeakEnvironment {
        weak var environment: Environment?
    }

    private var suspects: [WeakEnvironment] = []
    /// Suspects registered since the last collection.
    private(set) var newSuspects = 0
    /// New suspects that make a collection due: grows with the size of the traced graph so that
    /// tracing costs at most a few dozen steps per call that made a closure.
    private var threshold = CycleCollector.minimumThreshold
    static let minimumThreshold = 16
    /// When set, a collection is due after this many new suspects (0: at every call; tests).
    var fixedInterval: Int? = nil
    /// Numbers the collections: an environment marked by the current one holds its number.
    private var epoch = 0

    /// Whether a call should collect before running.
    var isDue: Bool { newSuspects >= (fixedInterval ?? threshold) }

    /// Records that a closure captured `environment`.
    mutating func register(_ environment: Environment) {
        guard !environment.isCaptured else { return }
        environment.isCaptured = true
        suspects.append(WeakEnvironment(environment: environment))
        newSuspects += 1
    }

    /// Marks from the roots and empties every unreachable suspect.
    mutating func collect(roots: [Environment], temporaries: [Value]) {
        guard !suspects.isEmpty else { newSuspects = 0; return }
        epoch += 1
        let traced = Self.mark(roots, temporaries, epoch: epoch)
        var garbage: [Environment] = []
        var live: [WeakEnvironment] = []
        for suspect in suspects {
            guard let environment = suspect.environment else { continue }
            if environment.markEpoch == epoch {
                live.append(suspect)
            } else {
                garbage.append(environment)
            }
        }
        suspects = live
        newSuspects = 0
        threshold = max(Self.minimumThreshold, traced / 64)
        for environment in garbage { environment.clear() }
    }

    /// Empties every suspect (when the interpreter goes away).
    mutating func clearAll() {
        let all = suspects.compactMap(\.environment)
        suspects = []
        for environment in all { environment.clear() }
    }

    /// Marks the environments reachable from the roots with `epoch`; returns how many objects
    /// and items were traced.
    private static func mark(_ roots: [Environment], _ temporaries: [Value], epoch: Int) -> Int {
        var seen = Set<ObjectIdentifier>()
        var environments = roots
        var values = temporaries
        var traced = 0
        while true {
            if let value = values.popLast() {
                traced += 1
                switch value {
                case .list(let l):
                    if seen.insert(ObjectIdentifier(l)).inserted {
                        traced += l.items.count
                        values += l.items.filter(\.canReachEnvironment)
                    }
                case .record(let r):
                    if seen.insert(ObjectIdentifier(r)).inserted {
                        traced += r.count
                        values += r.items.filter(\.canReachEnvironment)
                    }
                case .function(let closure): environments.append(closure.env)
                case .boundMethod(_, let receiver): values.append(receiver)
                case .handle(let h): values += h.heldValues
                default: break
                }
            } else if let environment = environments.popLast() {
                guard environment.markEpoch != epoch else { continue }
                environment.markEpoch = epoch
                traced += 1 + environment.slots.count
                values += environment.values.filter(\.canReachEnvironment)
                if let parent = environment.parent { environments.append(parent) }
            } else {
                return traced
            }
        }
    }
}

extension Value {
    /// Whether the value can reference an environment (directly or through its contents).
    var canReachEnvironment: Bool {
        switch self {
        case .null, .bool, .number, .string, .tensor, .builtin: return false
        case .list, .record, .function, .boundMethod, .handle: return true
        }
    }
}
