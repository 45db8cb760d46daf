import XCTest
@testable import LoupeScript
import LoupeTensor

final class ErrorFormatTests: XCTestCase {
    func error(_ code: String) -> ScriptError? {
        do { try Interpreter().run(SourceFile(name: "t.loupe", text: code)); return nil } catch let e as ScriptError { return e } catch { return nil }
    }

    func testCaretUnderPosition() throws {
        let e = try XCTUnwrap(error("x = 1\ny = x + \"a\"\n"))
        XCTAssertEqual(e.description, """
        t.loupe:2:7: error: operator '+' is not defined for number and string
         2 | y = x + "a"
           |       ^
        """)
    }

    func testCaretUnderTheArgument() throws {
        let e = try XCTUnwrap(error("x = 1\ny = zeros(2, \"a\")\n"))
        XCTAssertEqual(e.description, """
        t.loupe:2:14: error: zeros: argument 'shape' must be a list of integers, got "a"
         2 | y = zeros(2, "a")
           |              ^
        """)
        let named = try XCTUnwrap(error("range(1, step: 0)"))
        XCTAssertEqual(named.message, "range: step cannot be zero")
        XCTAssertEqual(named.pos, SourcePos(line: 1, column: 10))
        let receiver = try XCTUnwrap(error("\"s\".reshape(2)"))
        XCTAssertEqual(receiver.message, "string has no method 'reshape'")
        let method = try XCTUnwrap(error("ones(2).sum(keepdims: 1)"))
        XCTAssertEqual(method.pos, SourcePos(line: 1, column: 13))
        let self_ = try XCTUnwrap(error("r = {f: zeros}\nr.f(1, [2])"))
        XCTAssertEqual(self_.pos, SourcePos(line: 2, column: 8))
        // Inside a function, the caret is in the function's body.
        let inner = try XCTUnwrap(error("fn f(v)\n  return sum(v, axis: \"a\")\nend\nf(ones(2))"))
        XCTAssertEqual(inner.pos, SourcePos(line: 2, column: 17))
        XCTAssertEqual(inner.frames.map(\.function), ["f"])
    }

    func testTracebackListsCallSites() throws {
        let e = try XCTUnwrap(error("fn g(x)\n  return x @ zeros(5)\nend\nfn h(x) g(x) end\nh(zeros(3))\n"))
        XCTAssertTrue(e.message.hasPrefix("matmul:"), e.message)
        XCTAssertEqual(e.pos, SourcePos(line: 2, column: 12))
        XCTAssertEqual(e.frames.map(\.function), ["g", "h"])
        XCTAssertEqual(e.frames.map(\.pos.line), [4, 5])
        XCTAssertTrue(e.description.contains("traceback (most recent call first):\n  in g, called at t.loupe:4:9: fn h(x) g(x) end"), e.description)
    }

    func testSyntaxErrorIncompleteFlag() throws {
        XCTAssertTrue(try XCTUnwrap(error("fn f(x)\n  x\n")).incomplete)
        XCTAssertTrue(try XCTUnwrap(error("[1, 2")).incomplete)
        XCTAssertTrue(try XCTUnwrap(error("x = \"abc")).incomplete)
        XCTAssertFalse(try XCTUnwrap(error("x = )")).incomplete)
    }

    func testInterruptStopsLoop() throws {
        let interpreter = try Interpreter()
        Interrupt.requested = 1
        XCTAssertThrowsError(try interpreter.run(SourceFile(name: "t", text: "while true\nend\n"))) { e in
            XCTAssertEqual((e as? ScriptError)?.message, "interrupted")
        }
        XCTAssertEqual(Interrupt.requested, 0)
    }
}

final class CallbackTracebackTests: XCTestCase {
    func testErrorInsideCallbackNamesTheBuiltinCallSite() throws {
        do {
            try Interpreter().run(SourceFile(name: "t.loupe", text: "fn f(v) v @ zeros(2) end\ny = 1\nmap([zeros(3)], f)\n"))
            XCTFail("expected an error")
        } catch let e as ScriptError {
            XCTAssertEqual(e.frames.first?.pos, SourcePos(line: 3, column: 1))
            XCTAssertTrue(e.description.contains("in f, called at t.loupe:3:1: map([zeros(3)], f)"), e.description)
        }
    }
}
