import XCTest
@testable import LoupeIO

final class JSONParserTests: XCTestCase {
    func testParsesValues() throws {
        let value = try JSONParser.parse(Array(#" {"a": [1, -2, 3.5, 1e3, true, false, null], "s": "x\n\u00e9\ud83d\ude00\"", "o": {}} "#.utf8), context: "t")
        XCTAssertEqual(value["a"], .array([.integer(1), .integer(-2), .number(3.5), .number(1000), .bool(true), .bool(false), .null]))
        XCTAssertEqual(value["s"], .string("x\n\u{e9}\u{1F600}\""))
        XCTAssertEqual(value["o"], .object([]))
    }

    func testRejectsMalformed() {
        let bad = [#"{"a":1,"a":2}"#, "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\\ud800\"", "tru", "[1] x",
                   "\"a\u{1}\"", String(repeating: "[", count: 100) + String(repeating: "]", count: 100), ""]
        for text in bad {
            assertThrowsLoupeError(["ctx: invalid JSON"]) { try JSONParser.parse(Array(text.utf8), context: "ctx") }
        }
        assertThrowsLoupeError(["invalid JSON"]) { try JSONParser.parse([0x22, 0xFF, 0x22], context: "utf8") }
    }

    func testQuotedRoundTrips() throws {
        let text = "a\"b\\c\n\t\u{1}\u{e9}"
        XCTAssertEqual(try JSONParser.parse(Array(JSONValue.quoted(text).utf8), context: "q"), .string(text))
    }
}
