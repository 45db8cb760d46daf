import ArgumentParser
import LoupeScript

/// The `loupe` command: REPL, script runner and tools.
struct Loupe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "Look inside vision models and edit them: a notebook-style scripting REPL.",
        version: loupeVersion
    )

    @Argument(help: "A .loupe script to run. With none, the REPL opens.")
    var script: String?

    func run() throws {
        if let script {
            throw ValidationError("running scripts arrives with the language; cannot run \(script) yet")
        }
        print("Loupe \(loupeVersion)")
    }
}

Loupe.main()
