import ArgumentParser
import Foundation
import LoupeScript

/// The `loupe` command: REPL, script runner and tools.
struct Loupe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "Look inside vision models and edit them: a notebook-style scripting REPL.",
        discussion: """
        loupe                       open the REPL
        loupe FILE | loupe run FILE run a script (exit status 1 on the first error)
        loupe run --verify FILE     replay a saved session and compare every cell's output
        loupe run FILE --html OUT   also write a self-contained HTML notebook
        loupe --recover [N]         list session journals, or restore journal N into the REPL
        """,
        version: loupeVersion
    )

    @Argument(help: "`run FILE`, or a .loupe FILE to run. With none, the REPL opens.")
    var arguments: [String] = []

    @Flag(help: "Compare each cell's output with its #=> transcript and the recorded file hashes.")
    var verify = false

    @Option(help: "Write the run as a self-contained HTML notebook page.")
    var html: String?

    @Flag(help: "List session journals (with a number: restore that journal and continue).")
    var recover = false

    func run() throws {
        var args = arguments
        if recover {
            try Loupe.recover(args.first)
            return
        }
        if args.first == "run" { args.removeFirst() }
        guard let file = args.first else {
            if verify || html != nil { throw ValidationError("--verify and --html need a script: loupe run FILE") }
            REPL.run(session: try Loupe.startSession(), banner: true)
            return
        }
        guard args.count == 1 else { throw ValidationError("unexpected arguments: \(args.dropFirst().joined(separator: " "))") }
        let text: String
        do { text = try ScriptText.read(file) } catch {
            FileHandle.standardError.write("loupe: \(error)\n".data(using: .utf8)!)
            throw ExitCode(2)
        }
        let runner = ScriptRunner(interpreter: Interpreter(table: try Loupe.language()))
        // Each printed line is written (and flushed, also into a pipe or log file) as it happens.
        let echo: (String) -> Void = { line in
            print(line)
            fflush(stdout)
        }
        // A page shows a plain script as notebook cells, each with the value of its last expression.
        let (report, titles) = html != nil && !verify ? runner.runNotebook(text: text, name: file, echo: echo)
                                                     : (runner.run(text: text, name: file, verify: verify, echo: echo), [])
        if let html {
            let page = NotebookHTML.render(title: (file as NSString).lastPathComponent, cells: report.cells,
                                           images: report.images, failure: report.failure, titles: titles)
            do { try page.write(toFile: html, atomically: true, encoding: .utf8) } catch {
                FileHandle.standardError.write("loupe: cannot write \(html): \(error)\n".data(using: .utf8)!)
                throw ExitCode(2)
            }
        }
        if let failure = report.failure {
            fflush(stdout)
            FileHandle.standardError.write((failure + "\n").data(using: .utf8)!)
            throw ExitCode(1)
        }
        if verify { print("verified: \(report.cells.count) cells match their transcript") }
    }

    /// The language's cores, checked; a clash of names between cores is reported and exits with 2.
    static func language() throws -> BuiltinTable {
        do {
            return try BuiltinTable.standard
        } catch {
            FileHandle.standardError.write(Data("loupe: cannot start: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }

    static func startSession() throws -> ReplSession { ReplSession(table: try language()) }

    static func recover(_ choice: String?) throws {
        let journals = Journal.list()
        guard let choice else {
            if journals.isEmpty { print("no session journals in \(Journal.directory)") }
            for (k, path) in journals.prefix(20).enumerated() {
                let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                let cells = SessionFile.parse(text).cells.filter { !$0.code.isEmpty }.count
                print("\(k + 1): \(path)  (\(cells) cells)")
            }
            if !journals.isEmpty { print("restore one with: loupe --recover N") }
            return
        }
        guard let n = Int(choice), n >= 1, n <= journals.count else {
            throw ValidationError("--recover: choose a journal number between 1 and \(journals.count)")
        }
        let session = try startSession()
        session.write = { print($0) }
        print("restoring \(journals[n - 1])")
        _ = session.feed(":load \(journals[n - 1])")
        REPL.run(session: session, banner: true)
    }
}

Loupe.main()
