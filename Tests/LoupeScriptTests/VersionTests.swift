import XCTest
@testable import LoupeScript
final class VersionTests: XCTestCase { func testVersion() { XCTAssertFalse(loupeVersion.isEmpty) } }
