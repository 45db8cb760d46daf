/// The process-wide interrupt flag: the REPL's SIGINT handler sets it, and long-running work
/// (script loops, training, inversion, reports, batched captures) checks it between steps and
/// stops with an "interrupted" error, leaving the session alive.
public enum Interrupt {
    nonisolated(unsafe) public static var requested: Int32 = 0

    /// Throws `LoupeError("<op>: interrupted")` and clears the flag when an interrupt is pending.
    public static func checkpoint(_ op: String) throws {
        if requested != 0 {
            requested = 0
            throw LoupeError("\(op): interrupted")
        }
    }
}
