import Foundation
import LoupeScript

/// The lexer/parser/interpreter fuzz target: runs arbitrary bytes as a Loupe script with a step
/// budget, no file access and a small tensor size limit. Every input must end in a value or a
/// ScriptError.
enum ScriptFuzz {
    /// The builtins table, built once (its signatures are parsed at start-up) and shared by the
    /// fresh interpreter of every input.
    static let table = Result { try BuiltinTable.standard }

    static func run(_ bytes: UnsafeRawBufferPointer) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        // Small caps keep every execution fast: tensors of at most 4096 elements (a broadcast of
        // two of them at most 16M), short lists and strings, and a few thousand loop steps.
        TensorBindings.maxElements = 1 << 12
        ScriptLimits.maxListItems = 10_000
        ScriptLimits.maxStringLength = 100_000
        let interpreter: Interpreter
        do { interpreter = Interpreter(table: try table.get()) } catch { return "start-up error: \(error)" }
        interpreter.stepBudget = 5_000
        interpreter.allowFileAccess = false
        interpreter.output = { _ in }
        do {
            let value = try interpreter.run(SourceFile(name: "fuzz", text: text))
            _ = value?.display
            return "ok"
        } catch let error as ScriptError {
            _ = error.description
            return "error: \(error.message)"
        } catch {
            return "error: \(error)"
        }
    }
}
