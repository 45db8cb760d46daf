import XCTest
import LoupeModels
import LoupeTensor
import LoupeTestSupport

final class ConvTranspose2dTests: XCTestCase {
    /// The module runs `NN.convTranspose2d` with its parameters: kernel = stride = 2 places one
    /// weight patch per input pixel, so a one-pixel input of 1 gives the weights plus the bias.
    func testForwardHandCase() throws {
        let conv = try ConvTranspose2d(1, 1, kernel: 2, stride: 2)
        conv.weight.value = try Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        conv.bias.value = Tensor([0.5])
        let out = try forward(conv, try Tensor(shape: [1, 1, 1, 2], scalars: [1, -1]))
        XCTAssertEqual(out.shape, [1, 1, 2, 4])
        XCTAssertEqual(out.scalars, [1.5, 2.5, -0.5, -1.5, 3.5, 4.5, -2.5, -3.5])
        XCTAssertEqual(conv.namedState().map(\.path).sorted(), ["bias", "weight"])
        XCTAssertThrowsError(try ConvTranspose2d(0, 1, kernel: 2, stride: 2))
    }

    /// The architecture's configuration rebuilds the same shapes.
    func testArchitectureRoundTrip() throws {
        let conv = try ConvTranspose2d(8, 3, kernel: 4, stride: 4)
        XCTAssertEqual(ConvTranspose2d.architectureName, "conv_transpose2d")
        let rebuilt = try ConvTranspose2d.build(configurationJSON: try conv.configurationJSON())
        guard let copy = rebuilt as? ConvTranspose2d else { return XCTFail("rebuilt a \(rebuilt.typeName)") }
        XCTAssertEqual(copy.weight.shape, [8, 3, 4, 4])
        XCTAssertEqual(copy.bias.shape, [3])
        XCTAssertEqual(copy.stride, 4)
    }
}
