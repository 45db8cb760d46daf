import Foundation
import XCTest
import LoupeIO
import LoupeTensor

/// A fresh temporary directory per test, removed afterwards.
final class TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "loupe-io-tests-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Asserts `body` throws a LoupeError whose message contains every one of `fragments`.
func assertThrowsLoupeError<T>(_ fragments: [String], file: StaticString = #filePath, line: UInt = #line,
                               _ body: () throws -> T) {
    do {
        _ = try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch let error as LoupeError {
        for fragment in fragments where !error.message.contains(fragment) {
            XCTFail("error '\(error.message)' does not mention '\(fragment)'", file: file, line: line)
        }
    } catch {
        XCTFail("unexpected error type \(error)", file: file, line: line)
    }
}

/// Deterministic test tensor with values in [0, 1).
func randomTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    var generator = RandomGenerator(seed: seed)
    let count = shape.reduce(1, *)
    let values = (0..<count).map { _ in generator.nextUniform() }
    return try! Tensor(shape: shape, scalars: values)
}
