/// A handle that can be called like a function (`m(x)` for a model).
public protocol CallableHandle: ScriptHandle {
    /// Runs the call with the caller's arguments.
    func call(_ positional: [Value], _ named: [(String, Value)], interpreter: Interpreter) throws -> Value
}
