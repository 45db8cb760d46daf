import XCTest
import LoupeModels
import LoupeTensor

final class ResNetInitializationTests: XCTestCase {
    /// torchvision: convolutions normal with std sqrt(2 / fan_out), batch norms at identity,
    /// fc uniform in ±1/sqrt(in_features).
    func testInitialStatisticsMatchTorchvision() throws {
        let model = try ResNet(ResNetConfig(depth: 18, classes: 10, width: 16, stem: .small))
        var generator = RandomGenerator(seed: 1)
        try model.initialize(generator: &generator)
        let state = model.stateDict()
        // layer4.0.conv2: [128, 128, 3, 3], fan_out 128 * 9.
        let w = try XCTUnwrap(state["layer4.0.conv2.weight"]).scalars
        let mean = w.reduce(0, +) / Float(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(w.count)).squareRoot()
        let expected = (2 / Float(128 * 9)).squareRoot()
        XCTAssertEqual(std, expected, accuracy: expected * 0.01)
        XCTAssertEqual(mean, 0, accuracy: expected * 0.01)
        // The 1x1 downsample: [64, 32, 1, 1], fan_out 64.
        let d = try XCTUnwrap(state["layer3.0.downsample.0.weight"]).scalars
        let dStd = (d.map { $0 * $0 }.reduce(0, +) / Float(d.count)).squareRoot()
        XCTAssertEqual(dStd, (2 / Float(64)).squareRoot(), accuracy: 0.1 * (2 / Float(64)).squareRoot())
        XCTAssertTrue(state["layer2.1.bn2.weight"]!.scalars.allSatisfy { $0 == 1 })
        XCTAssertTrue(state["layer2.1.bn2.bias"]!.scalars.allSatisfy { $0 == 0 })
        let bound = 1 / Float(128).squareRoot()
        let fc = state["fc.weight"]!.scalars + state["fc.bias"]!.scalars
        XCTAssertTrue(fc.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(fc.map(abs).max()!, 0.9 * bound)

        var again = RandomGenerator(seed: 1)
        let twin = try ResNet(model.config)
        try twin.initialize(generator: &again)
        XCTAssertEqual(twin.stateDict()["layer1.0.conv1.weight"]!.scalars, state["layer1.0.conv1.weight"]!.scalars, "seeded")
    }
}
