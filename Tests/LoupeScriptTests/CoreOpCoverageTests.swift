import XCTest
@testable import LoupeScript

/// Every public operation of the tensor core (`NN`'s static functions and `Tensor`'s methods
/// in Sources/LoupeTensor) has a builtin. The operations are found by scanning the sources, so a
/// new op without a builtin fails here until it gets one or is listed below as not an op.
final class CoreOpCoverageTests: XCTestCase {
    /// Swift names whose builtin is not their snake_case spelling.
    static let builtinOf: [String: String] = [
        "NN.attention": "scaled_dot_product_attention",  // the same kernel, also returning probabilities
        "NN.upsampleNearest2d": "upsample", "NN.upsampleBilinear2d": "upsample",  // and interpolate
        "NN.rfft2": "rfft2", "NN.irfft2": "irfft2",
        "NN.cosineSimilarity": "activation_cosine",
        "Tensor.abs": "abs", "Tensor.sqrt": "sqrt",  // general core: numbers and tensors
        "Tensor.argmax": "argmax", "Tensor.argmin": "argmin",
        "Tensor.clamped": "clamp", "Tensor.concat": "cat", "Tensor.detached": "detach",
        "Tensor.expanded": "expand", "Tensor.flipped": "flip", "Tensor.logSumExp": "logsumexp",
        "Tensor.max": "amax", "Tensor.min": "amin", "Tensor.negated": "neg", "Tensor.padded": "pad",
        "Tensor.permuted": "permute", "Tensor.pseudoInverse": "pinv", "Tensor.repeated": "repeat",
        "Tensor.requiringGrad": "requires_grad", "Tensor.reshaped": "reshape", "Tensor.rolled": "roll",
        "Tensor.singularValueDecomposition": "svd", "Tensor.squeezed": "squeeze",
        "Tensor.standardDeviation": "std", "Tensor.tiled": "tile", "Tensor.transposed": "transpose",
        "Tensor.unsqueezed": "unsqueeze", "Tensor.variance": "var",
        "Tensor.uniform": "rand", "Tensor.normal": "randn",
        "Tensor.equal": "eq", "Tensor.notEqual": "not_equal", "Tensor.greaterOrEqual": "greater_equal",
        "Tensor.lessOrEqual": "less_equal",
    ]

    /// Public functions that are not operations of the language, each with the reason.
    static let notOps: [String: String] = [
        "NN.additiveMask": "a mask helper; scaled_dot_product_attention's bool_mask applies it",
        "NN.reduce": "the losses' reduction argument",
        "Tensor.backward": "autograd machinery; grad and value_and_grad",
        "Tensor.record": "autograd machinery for kernels",
        "Tensor.broadcastMap": "a kernel helper taking a Swift closure",
        "Tensor.map": "a kernel helper taking a Swift closure",
        "Tensor.broadcastShape": "shape arithmetic for kernels",
        "Tensor.checkedCount": "shape arithmetic for kernels",
        "Tensor.contiguousStrides": "layout arithmetic for kernels",
        "Tensor.normalizeAxis": "axis arithmetic for kernels",
        "Tensor.uninitialized": "unsafe allocation for kernels",
        "Tensor.withContiguousPointer": "raw memory access for kernels",
        "Tensor.contiguousCopy": "a storage-level copy; contiguous gives the values",
        "Tensor.summed": "broadcasting's backward (sum to a shape); sum covers the language",
        "Tensor.sliced": "the language's slices x[a:b:c]",
        "Tensor.indexed": "the language's indexing x[i, j]",
        "Tensor.replacing": "the language's index assignment x[i] = v",
    ]

    static func snakeCase(_ name: String) -> String {
        var out = ""
        for c in name {
            if c.isUppercase { out += "_" + c.lowercased() } else { out.append(c) }
        }
        return out
    }

    /// `Type.name` of every `public func` and `public static func` declared directly in an
    /// `extension`/declaration of `NN` or `Tensor` under Sources/LoupeTensor.
    static func scanOperations() throws -> [String: String] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/LoupeTensor")
        let declaration = try NSRegularExpression(pattern: #"^(?:public )?(?:extension|enum|struct|final class|class) (\w+)"#)
        let member = try NSRegularExpression(pattern: #"^    public (?:static )?func `?(\w+)"#)
        var found: [String: String] = [:]
        let files = try XCTUnwrap(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        for file in files {
            var current = ""
            for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false) {
                let text = String(line), range = NSRange(text.startIndex..., in: text)
                if let m = declaration.firstMatch(in: text, range: range), let r = Range(m.range(at: 1), in: text) {
                    current = String(text[r]); continue
                }
                guard current == "NN" || current == "Tensor",
                      let m = member.firstMatch(in: text, range: range), let r = Range(m.range(at: 1), in: text) else { continue }
                found["\(current).\(text[r])"] = file.lastPathComponent
            }
        }
        return found
    }

    func testEveryTensorCoreOperationHasABuiltin() throws {
        let table = try BuiltinTable.standard
        let operations = try Self.scanOperations()
        XCTAssertGreaterThan(operations.count, 100, "the scan of Sources/LoupeTensor found too few functions")
        var covered = 0
        for (op, file) in operations.sorted(by: { $0.key < $1.key }) {
            if Self.notOps[op] != nil { continue }
            let name = Self.builtinOf[op] ?? Self.snakeCase(String(op.split(separator: ".")[1]))
            XCTAssertNotNil(table.builtins[name], "\(op) (\(file)) has no builtin '\(name)': add one, or map it in builtinOf, or list it in notOps with the reason")
            covered += 1
        }
        XCTAssertGreaterThan(covered, 80)
        // The lists name only functions that still exist.
        for op in Array(Self.builtinOf.keys) + Array(Self.notOps.keys) {
            XCTAssertNotNil(operations[op], "\(op) is listed in CoreOpCoverageTests but no longer declared in Sources/LoupeTensor")
        }
    }
}
