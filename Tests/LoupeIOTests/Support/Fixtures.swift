import Foundation
import XCTest
import LoupeTensor

/// One case of a PyTorch fixture file written by `Scripts/fixtures/common.py`.
struct FixtureCase {
    let name: String
    let op: String
    let args: [String: Any]
    let tensors: [String: Tensor]

    func tensor(_ key: String, file: StaticString = #filePath, line: UInt = #line) throws -> Tensor {
        guard let t = tensors[key] else {
            throw LoupeError("fixture \(name): no tensor '\(key)'")
        }
        return t
    }

    func int(_ key: String) -> Int? { (args[key] as? NSNumber)?.intValue }
    func float(_ key: String) -> Float? { (args[key] as? NSNumber)?.floatValue }
    func bool(_ key: String) -> Bool? { (args[key] as? NSNumber)?.boolValue }
    func ints(_ key: String) -> [Int]? { (args[key] as? [NSNumber])?.map(\.intValue) }
    func string(_ key: String) -> String? { args[key] as? String }
}

enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Loads `Fixtures/<name>.json`.
    static func load(_ name: String) throws -> [FixtureCase] {
        let url = directory.appendingPathComponent(name + ".json")
        let data = try Data(contentsOf: url)
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = root["cases"] as? [[String: Any]] else {
            throw LoupeError("fixture \(url.path): not a fixture document")
        }
        return try cases.map { raw in
            let name = raw["name"] as? String ?? "?"
            var tensors: [String: Tensor] = [:]
            for (key, value) in raw["tensors"] as? [String: [String: Any]] ?? [:] {
                let shape = (value["shape"] as? [NSNumber] ?? []).map(\.intValue)
                let data = (value["data"] as? [NSNumber] ?? []).map(\.floatValue)
                tensors[key] = try Tensor(shape: shape, scalars: data)
            }
            return FixtureCase(name: name, op: raw["op"] as? String ?? "", args: raw["args"] as? [String: Any] ?? [:],
                               tensors: tensors)
        }
    }
}

/// Asserts `actual` matches `expected` in shape and, elementwise, within
/// `atol + rtol * |expected|`. Reports the worst element.
func assertClose(_ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6,
                 _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        XCTFail("\(message()): shape \(describe(shape: actual.shape)) != expected \(describe(shape: expected.shape))",
                file: file, line: line)
        return
    }
    let a = actual.scalars, e = expected.scalars
    var worst = -1
    var worstExcess: Float = 0
    for i in a.indices {
        let allowed = atol + rtol * abs(e[i])
        let error = abs(a[i] - e[i])
        if !(error <= allowed) || a[i].isNaN != e[i].isNaN {
            let excess = error.isNaN ? .infinity : error - allowed
            if worst < 0 || excess > worstExcess { worst = i; worstExcess = excess }
        }
    }
    if worst >= 0 {
        XCTFail("\(message()): element \(worst) is \(a[worst]), expected \(e[worst]) (shape \(describe(shape: actual.shape)))",
                file: file, line: line)
    }
}

/// Central finite-difference check of `f` (scalar-valued) at `inputs`: compares the autograd
/// gradient of each input with (f(x+h) - f(x-h)) / 2h in float64 accumulation of float32 evaluations.
func assertGradientsMatchFiniteDifferences(_ inputs: [Tensor], step: Float = 1e-2, rtol: Float = 2e-2, atol: Float = 2e-3,
                                            file: StaticString = #filePath, line: UInt = #line,
                                            _ f: ([Tensor]) throws -> Tensor) throws {
    let leaves = inputs.map { $0.requiringGrad() }
    let output = try f(leaves)
    let analytic = try Autograd.gradients(of: output, wrt: leaves)
    for (which, input) in inputs.enumerated() {
        var values = input.scalars
        let numeric = try (0..<values.count).map { i -> Float in
            let saved = values[i]
            values[i] = saved + step
            var args = inputs
            args[which] = try Tensor(shape: input.shape, scalars: values)
            let plus = try GradMode.withoutGrad { try f(args).item() }
            values[i] = saved - step
            args[which] = try Tensor(shape: input.shape, scalars: values)
            let minus = try GradMode.withoutGrad { try f(args).item() }
            values[i] = saved
            return (plus - minus) / (2 * step)
        }
        assertClose(analytic[which], try Tensor(shape: input.shape, scalars: numeric), rtol: rtol, atol: atol,
                    "gradient of input \(which)", file: file, line: line)
    }
}
