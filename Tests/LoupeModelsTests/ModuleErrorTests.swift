import XCTest
import LoupeModels
import LoupeTensor

/// Error messages of the model layers name the op and the shapes or values at fault.
final class ModuleErrorTests: XCTestCase {
    private func assertError(_ body: @autoclosure () throws -> Any, contains parts: [String],
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            let text = "\(error)"
            for part in parts { XCTAssertTrue(text.contains(part), "'\(part)' not in: \(text)", file: file, line: line) }
        }
    }

    func testLayerErrors() throws {
        assertError(try Conv2d(6, 4, kernel: 3, groups: 4), contains: ["Conv2d", "6 -> 4", "groups 4"])
        assertError(try Attention(dim: 8, heads: 2)(try Tensor.zeros([2, 8])), contains: ["Attention", "[2, 8]", "[B, N, dim]"])
        assertError(try Module()(try Tensor.zeros([1])), contains: ["Module", "no single-input forward"])
        assertError(try Linear(4, 2)(try Tensor.zeros([3, 5])), contains: ["linear", "[3, 5]", "[2, 4]"])
        assertError(try LayerNorm(4)(try Tensor.zeros([2, 3])), contains: ["layerNorm", "[2, 3]"])
        let embed = try PatchEmbed(imageSize: 8, patchSize: 4, channels: 3, dim: 6)
        assertError(try embed(try Tensor.zeros([1, 1, 8, 8])), contains: ["ViT", "[1, 1, 8, 8]", "[N, 3, 8, 8]"])
    }

    func testConfigErrors() {
        assertError(try VisionTransformer(ViTConfig(imageSize: 16, patchSize: 4, dim: 8, depth: 1, heads: 2, classes: 2,
                                                    classToken: false, pool: .token)),
                    contains: ["vit:", "token pooling needs a class token"])
        assertError(try VisionTransformer(ViTConfig(imageSize: 16, patchSize: 4, dim: 8, depth: -1, heads: 2, classes: 2)),
                    contains: ["vit:", "depth: -1"])
        assertError(try VisionTransformer(ViTConfig(imageSize: 16, patchSize: 0, dim: 8, depth: 1, heads: 2, classes: 2)),
                    contains: ["vit:", "patch: 0"])
    }

    func testHeadlessViTReturnsFeatures() throws {
        let model = try VisionTransformer(ViTConfig(imageSize: 8, patchSize: 4, dim: 8, depth: 1, heads: 2, classes: 0))
        XCTAssertNil(model.head)
        XCTAssertEqual(try model(try Tensor.zeros([3, 3, 8, 8])).shape, [3, 8])
    }
}
