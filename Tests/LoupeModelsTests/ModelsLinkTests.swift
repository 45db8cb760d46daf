import XCTest
import LoupeModels

final class ModelsLinkTests: XCTestCase {
    func testFixtureDirectoryExists() {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Fixtures.directory.path))
    }
}
