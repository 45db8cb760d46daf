import XCTest
@testable import LoupeIO
final class PlaceholderIOTests: XCTestCase { func testLinks() { XCTAssertEqual(Tensor(2).count, 1) } }
