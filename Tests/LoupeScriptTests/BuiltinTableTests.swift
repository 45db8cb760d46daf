import XCTest
import LoupeModels
@testable import LoupeScript

/// The language is built from one list of cores: clashes of names between cores are errors at
/// start-up that name both cores, and builtin bodies read their arguments by name.
final class BuiltinTableTests: XCTestCase {
    func builtin(_ signature: String) -> Builtin {
        Builtin(signature, "test") { _ in .null }
    }

    func message(_ body: () throws -> Void) -> String {
        do { try body(); return "no error" } catch { return "\(error)" }
    }

    func testStandardCoresFormOneTable() throws {
        let table = try BuiltinTable.standard
        XCTAssertEqual(table.cores.map(\.name), ["general", "tensor", "io", "models", "inversion", "visualization", "painting", "grafting"])
        XCTAssertEqual(table.coreOfBuiltin["visualize"], "visualization")
        XCTAssertEqual(table.coreOfBuiltin["zeros"], "tensor")
        XCTAssertEqual(table.coreOfBuiltin["capture"], "models")
        XCTAssertEqual(table.coreOfBuiltin["invert"], "inversion")
        XCTAssertEqual(table.builtins.count, Set(table.cores.flatMap { $0.builtins.map(\.name) }).count)
        XCTAssertEqual(table.coreOfBuiltin["split"], "general and tensor")
        XCTAssertEqual(table.builtins["split"]?.overloads.keys.sorted(), ["string", "tensor"])
        for name in ["vit", "resnet", "sequential", "identity", "vit-inverse"] {
            XCTAssertNotNil(table.architectures.architecture(named: name), name)
        }
        XCTAssertEqual(try Interpreter().builtins.count, table.builtins.count)
    }

    /// Every parameter of every builtin parses to a name (a list default's commas do not split it),
    /// and a list default becomes a list value.
    func testSignaturesParseToNamedParameters() throws {
        let table = try BuiltinTable.standard
        for (name, b) in table.builtins {
            for version in b.overloads.isEmpty ? [b] : Array(b.overloads.values) {
                for p in version.params {
                    XCTAssertTrue(p.name.first.map { $0.isLetter || $0 == "_" } ?? false, "\(name): parameter '\(p.name)'")
                    XCTAssertTrue(p.name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }, "\(name): parameter '\(p.name)'")
                }
            }
        }
        let vae = try XCTUnwrap(table.builtins["autoencoder_kl"])
        XCTAssertEqual(vae.params.map(\.name), ["block_channels", "layers_per_block", "latent_channels", "channels", "groups", "scaling", "seed"])
        guard case .list(let channels)? = vae.params.first?.defaultValue else { return XCTFail("block_channels default is not a list") }
        XCTAssertEqual(channels.items.map { if case .number(let n) = $0 { return n } else { return -1 } }, [128, 256, 512, 512])
        let nested = builtin("f(a: [[1, 2], []], b: \"x\")")
        XCTAssertEqual(nested.params.map(\.name), ["a", "b"])
    }

    func testTwoBuiltinsOfOneNameNameBothCores() {
        let first = CustomCore(name: "alpha", builtins: [builtin("twice(x)")])
        let second = CustomCore(name: "beta", builtins: [builtin("twice(y)")])
        XCTAssertEqual(message { _ = try BuiltinTable(cores: [first, second]) },
                       "builtin 'twice' is declared twice: by the alpha core and by the beta core")
        let clash = CustomCore(name: "extra", builtins: [builtin("zeros(n)")])
        XCTAssertEqual(message { _ = try BuiltinTable(cores: ScriptCores.standard + [clash]) },
                       "builtin 'zeros' is declared twice: by the tensor core and by the extra core")
    }

    func testMethodsOfDifferentTypesShareANameAndDispatchOnTheFirstArgument() throws {
        let text = CustomCore(name: "alpha", builtins: [Builtin("size(s)", methodOf: "string", "test") { a in .string("string \(try a.string("s"))") }])
        let list = CustomCore(name: "beta", builtins: [Builtin("size(l, scale: 1)", methodOf: "list", "test") { a in
            .number(Double(try a.list("l").items.count) * (try a.number("scale")))
        }])
        let table = try BuiltinTable(cores: ScriptCores.standard + [text, list])
        XCTAssertEqual(table.coreOfBuiltin["size"], "alpha and beta")
        let interpreter = Interpreter(table: table)
        XCTAssertEqual(try interpreter.run(SourceFile(name: "t", text: "size(\"ab\")"))?.display, "\"string ab\"")
        XCTAssertEqual(try interpreter.run(SourceFile(name: "t", text: "size([1, 2], scale: 3)"))?.display, "6")
        XCTAssertEqual(try interpreter.run(SourceFile(name: "t", text: "[1].size()"))?.display, "1")
        XCTAssertTrue(message { _ = try interpreter.run(SourceFile(name: "t", text: "size(3)")) }
            .hasPrefix("t:1:1: error: size: needs a list or string as its first argument, got a number"))
        // A free builtin and a method of the same name still clash, as do two methods of one type.
        let free = CustomCore(name: "gamma", builtins: [builtin("size(x)")])
        XCTAssertEqual(message { _ = try BuiltinTable(cores: ScriptCores.standard + [text, free]) },
                       "builtin 'size' is declared twice: by the alpha core and by the gamma core")
        let again = CustomCore(name: "delta", builtins: [Builtin("size(s)", methodOf: "string", "test") { _ in .null }])
        XCTAssertEqual(message { _ = try BuiltinTable(cores: ScriptCores.standard + [text, list, again]) },
                       "builtin 'size' is declared twice: by the alpha and beta core and by the delta core")
    }

    func testTwoArchitecturesOfOneNameNameBothCores() {
        let clash = CustomCore(name: "extra", builtins: [], architectures: [Identity.self])
        let text = message { _ = try BuiltinTable(cores: ScriptCores.standard + [clash]) }
        XCTAssertTrue(text.hasPrefix("architecture 'identity' is declared twice: by the models core"), text)
        XCTAssertTrue(text.contains("and by the extra core"), text)
    }

    func testValueTypesAndMethodsAreChecked() {
        let type = CustomCore(name: "extra", builtins: [], valueTypes: [ValueType("model", "another model")])
        XCTAssertEqual(message { _ = try BuiltinTable(cores: ScriptCores.standard + [type]) },
                       "value type 'model' is declared twice: by the models core and by the extra core")
        let orphan = CustomCore(name: "extra", builtins: [Builtin("spin(w)", methodOf: "widget", "test") { _ in .null }])
        XCTAssertEqual(message { _ = try BuiltinTable(cores: ScriptCores.standard + [orphan]) },
                       "builtin 'spin' of the extra core is a method of 'widget', a type no core declares")
        let method = CustomCore(name: "extra", builtins: [Builtin("biggest(x)", methodOf: "tensor", methodName: "max", "test") { _ in .null }])
        XCTAssertEqual(message { _ = try BuiltinTable(cores: ScriptCores.standard + [method]) },
                       "method 'max' of tensor is declared twice: by 'amax' (tensor core) and by 'biggest' (extra core)")
    }

    func testArgumentsAreReadByName() throws {
        let probe = Builtin("probe(x, *rest, scale: 2)", "test") { a in
            .number(try a.number("x") * a.number("scale") + Double(try a.list("rest").items.count))
        }
        XCTAssertEqual(probe.indexByName, ["x": 0, "rest": 1, "scale": 2])
        let typo = Builtin("typo(x)", "test") { a in .number(try a.number("y")) }
        let core = CustomCore(name: "probes", builtins: [probe, typo])
        let interpreter = Interpreter(table: try BuiltinTable(cores: ScriptCores.standard + [core]))
        guard case .number(let n)? = try interpreter.run(SourceFile(name: "t", text: "probe(3, 0, 0, scale: 10)")) else {
            return XCTFail("expected a number")
        }
        XCTAssertEqual(n, 32)
        XCTAssertThrowsError(try interpreter.run(SourceFile(name: "t", text: "typo(1)"))) { error in
            XCTAssertEqual((error as? ScriptError)?.message, "typo: internal error: no parameter 'y' in typo(x)")
        }
    }

    /// A lint over the cores' sources: every argument name a body reads (`a.int("axis")`,
    /// `a["x"]`, `model(a, "m")`) is a parameter of a builtin declared in the same file, so a
    /// misspelt name is caught here rather than as an internal error at run time.
    func testBodiesReadDeclaredParameters() throws {
        let table = try BuiltinTable.standard
        let cores = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/LoupeScript/Cores")
        let files = try XCTUnwrap(FileManager.default.enumerator(at: cores, includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }.filter { $0.lastPathComponent.hasSuffix("Bindings.swift") }
        XCTAssertGreaterThanOrEqual(files.count, 10)
        let declaration = try NSRegularExpression(pattern: #"\b(?:Builtin|op|method|function|list)\(\s*"(\w+)\("#)
        let use = try NSRegularExpression(pattern: #"\ba(?:\.\w+\(|\[|, )"(\w+)"|\(&?a, (?:seed: |mean: |std: )?"(\w+)""#)
        var checked = 0
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            let range = NSRange(text.startIndex..., in: text)
            func captures(_ regex: NSRegularExpression) -> [String] {
                regex.matches(in: text, range: range).compactMap { match in
                    (1..<match.numberOfRanges).lazy.compactMap { Range(match.range(at: $0), in: text) }.first.map { String(text[$0]) }
                }
            }
            let names = captures(declaration)
            XCTAssertFalse(names.isEmpty, file.lastPathComponent)
            var params = Set<String>()
            for name in names {
                let builtin = try XCTUnwrap(table.builtins[name], "\(file.lastPathComponent): \(name)")
                for version in builtin.overloads.isEmpty ? [builtin] : Array(builtin.overloads.values) {
                    params.formUnion(version.params.map(\.name))
                }
            }
            for used in captures(use) {
                XCTAssertTrue(params.contains(used), "\(file.lastPathComponent) reads argument '\(used)', which no builtin of the file declares")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 300)
    }

    func testHelpAndCompletionReadTheTable() throws {
        let session = try ReplSession()
        XCTAssertEqual(session.completions(line: "zer", cursor: 3).candidates, ["zeros"])
        _ = session.feed("x = zeros(2)")
        let methods = session.completions(line: "x.re", cursor: 4).candidates
        XCTAssertEqual(methods, ["recolor", "relu", "repeat", "requires_grad", "reshape"])
        XCTAssertTrue(session.completions(line: "x.sh", cursor: 4).candidates == ["shape", "show"])
    }
}
