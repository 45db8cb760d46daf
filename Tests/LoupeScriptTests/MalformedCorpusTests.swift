import XCTest
@testable import LoupeScript
import LoupeTensor

/// Malformed and hostile inputs: each must end in a ScriptError or a value, never a crash.
final class MalformedCorpusTests: XCTestCase {
    static let corpus: [String] = [
        "fn f(\n", "if true\n", "for x in\n", "while\n", "end end end", "elif x", "((((", "))))", "[[[]", "{a: }",
        "{: 1}", "x = = 1", "1 +", "* 2", "f(,)", "f(a:)", "x[", "x[]", "x[1:2:3:4]", "\"abc", "\"{\"", "\"{1 +}\"",
        "\"\\", "@", "$", "`", "1.2.3", "1e", "0x10", "fn (a) end", "fn f(a b) end", "return", "break", "continue",
        String(repeating: "[", count: 100_000), String(repeating: "(", count: 5000) + String(repeating: ")", count: 5000),
        String(repeating: "-", count: 10_000) + "1", String(repeating: "not ", count: 10_000) + "true",
        String(repeating: "1 + ", count: 50_000) + "1", String(repeating: "x.", count: 10_000) + "y",
        String(repeating: "\"{", count: 1000), String(repeating: "if true\n", count: 5000),
        "x = " + String(repeating: "9", count: 400), "[" + String(repeating: "1, ", count: 100_000) + "]",
        "fn f() f() end\nf()", "fn f(x) x(x) end\nf(f)", "zeros(1e12)", "zeros(1e15, 1e15)", "range(1e300)",
        "ones(3).reshape(1e20)", "tensor([1, [2]])", "\"a\" * 1e10", "x = []\nx.append(x)\nprint(x)",
        "r = {}\nr.self = r\nr", "arange(0, 1e12)", "arange(0, 1, 1e-300)", "seed(1e30)", "rand(-1)", "f(a: 1, a: 2)",
        "[1,2][1e300]", "zeros(2)[1e300]", "\u{0}", "x = \"\u{FFFF}\"", "π = 3", "grad(grad, grad)", "help(help)",
    ]

    func run(_ code: String) throws {
        let interpreter = try Interpreter()
        interpreter.output = { _ in }
        do {
            try interpreter.run(SourceFile(name: "m", text: code))
        } catch let e as ScriptError {
            XCTAssertFalse(e.message.isEmpty)
            _ = e.description
        } catch {
            XCTFail("non-script error for \(code.prefix(40)): \(error)")
        }
    }

    func testCorpus() throws {
        for code in Self.corpus { try run(code) }
    }

    /// Random byte mutations of valid scripts (deterministic).
    func testMutations() throws {
        let dir = ScriptTests.scriptsDirectory.appendingPathComponent("grammar")
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
        var rng = RandomGenerator(seed: 11)
        let alphabet = Array("()[]{}\"\\:,.=+-*/@|>#\n fnendif0123456789xabc")
        var runs = 0
        for file in files.sorted(by: { $0.path < $1.path }) {
            let text = Array(try String(contentsOf: file, encoding: .utf8))
            for _ in 0..<60 {
                var chars = text
                for _ in 0..<(1 + rng.nextInt(below: 4)) where !chars.isEmpty {
                    let at = rng.nextInt(below: chars.count)
                    switch rng.nextInt(below: 3) {
                    case 0: chars.remove(at: at)
                    case 1: chars.insert(alphabet[rng.nextInt(below: alphabet.count)], at: at)
                    default: chars[at] = alphabet[rng.nextInt(below: alphabet.count)]
                    }
                }
                try run(String(chars))
                runs += 1
            }
        }
        XCTAssertGreaterThan(runs, 300)
    }
}
