import LoupeInputOptimization
import LoupeModels
import LoupeTensor
import LoupeVisualization
import XCTest

/// The sanity check of feature visualizations on a tiny ResNet where the answers are known.
final class SanityCheckTests: XCTestCase {
    /// A ResNet-18 (two blocks a stage) of width 4 for 1-channel images (8x8 here), seeded.
    static func tinyResNet() throws -> ResNet {
        let model = try ResNet(ResNetConfig(depth: 18, classes: 3, channels: 1, width: 4, stem: .small))
        var generator = RandomGenerator(seed: 7)
        try model.initialize(generator: &generator)
        return model
    }

    static func images(_ count: Int, seed: UInt64) throws -> Tensor {
        var generator = RandomGenerator(seed: seed)
        return try Tensor(shape: [count, 1, 8, 8], scalars: (0..<(count * 64)).map { _ in generator.nextUniform() })
    }

    static func options(k: Int, n: Int) -> SanityCheckOptions {
        var options = SanityCheckOptions()
        options.topK = k
        options.visualizations = n
        options.visualization.steps = 3
        options.visualization.transforms = nil
        options.visualization.seed = 3
        options.seed = 5
        options.batchSize = 7
        return options
    }

    func testSimilaritiesOfIdenticalAndReversedVectors() {
        let v: [Float] = [0.5, -1, 3, 2, 0]
        let same = sanitySimilarities(visualizations: [v, v], topNatural: [v, v, v], randomNatural: [v, v])
        XCTAssertEqual(same.visualizationToNatural, 1)
        XCTAssertEqual(same.naturalToNatural, 1)
        XCTAssertEqual(same.naturalToRandom, 1)
        let reversed = v.map { -$0 }
        let mixed = sanitySimilarities(visualizations: [reversed], topNatural: [v, v], randomNatural: [reversed])
        XCTAssertEqual(mixed.visualizationToNatural, -1)
        XCTAssertEqual(mixed.naturalToNatural, 1)
        XCTAssertEqual(mixed.naturalToRandom, -1)
        // Pairs of one natural image are left out of the floor: (top 0, random 1) and (top 1, random 0) are left.
        let u: [Float] = [1, 2, 3, 4, 5]
        let shared = sanitySimilarities(visualizations: [u], topNatural: [u, reversed], randomNatural: [u, reversed],
                                        topIndices: [10, 11], randomIndices: [10, 11])
        XCTAssertEqual(shared.naturalToRandom, spearmanCorrelation(u, reversed) / 2 + spearmanCorrelation(reversed, u) / 2, accuracy: 1e-12)
        // Constant vectors have no correlation and are left out; none left is NaN.
        let flat = sanitySimilarities(visualizations: [[1, 1, 1]], topNatural: [[1, 2, 3], [3, 2, 1]], randomNatural: [[2, 2, 2]])
        XCTAssertTrue(flat.visualizationToNatural.isNaN)
        XCTAssertEqual(flat.naturalToNatural, -1)
        XCTAssertTrue(flat.naturalToRandom.isNaN)
    }

    func testDefaultLayersFollowTheBlocksUpToThePath() throws {
        let model = try Self.tinyResNet()
        let probe = try Self.images(1, seed: 1)
        XCTAssertEqual(try defaultSanityLayers(model, path: "layer3", probe: probe),
                       ["relu", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3"], "layer3.1 is layer3's own value")
        XCTAssertEqual(try defaultSanityLayers(model, path: "layer2.1.conv1", probe: probe),
                       ["relu", "layer1.0", "layer1.1", "layer2.0", "layer2.1.conv1"])
        XCTAssertEqual(try defaultSanityLayers(model, path: "layer1.0", probe: probe), ["relu", "layer1.0"])
        XCTAssertEqual(try defaultSanityLayers(model, path: "relu", probe: probe), ["relu"])
        XCTAssertThrowsError(try defaultSanityLayers(model, path: "layer9", probe: probe)) { error in
            XCTAssertTrue("\(error)".contains("no activation at 'layer9'"), "\(error)")
        }
    }

    /// The top images are the unit's k largest channel means, the random ones lie outside them,
    /// and each layer's similarities are the means of Spearman correlations of the returned vectors.
    func testTopImagesAndSimilaritiesOnATinyModel() throws {
        let model = try Self.tinyResNet()
        let natural = try Self.images(30, seed: 2)
        let k = 4, n = 3
        let result = try sanityCheck(model, path: "layer3", unit: 2, natural: natural, channels: 1, size: [8, 8],
                                     options: Self.options(k: k, n: n))
        XCTAssertEqual(result.layers.map(\.path), ["relu", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3"])
        XCTAssertEqual(result.visualizations.shape, [n, 1, 8, 8])
        XCTAssertEqual(result.topNatural.shape, [k, 1, 8, 8])
        XCTAssertEqual(result.randomNatural.shape, [k, 1, 8, 8])

        let unit = try GradMode.withoutGrad { try activation(model, natural, at: "layer3") }.mean(axes: [2, 3])
        let values = (0..<30).map { unit.scalars[$0 * unit.shape[1] + 2] }
        let expectedTop = Array(values.indices.sorted { values[$0] > values[$1] }.prefix(k))
        XCTAssertEqual(result.topIndices, expectedTop)
        XCTAssertEqual(result.topUnitValues, expectedTop.map { values[$0] })
        XCTAssertEqual(result.topNatural.scalars, try natural.indexSelect(axis: 0, indices: expectedTop).scalars)
        XCTAssertTrue(Set(result.randomIndices).isDisjoint(with: expectedTop))
        XCTAssertEqual(Set(result.randomIndices).count, k)

        for layer in result.layers {
            XCTAssertEqual(layer.visualizations.count, n)
            XCTAssertEqual(layer.topNatural.count, k)
            var viz = 0.0, nat = 0.0, floor = 0.0
            for v in layer.visualizations { for t in layer.topNatural { viz += spearmanCorrelation(v, t) } }
            for i in 0..<k { for j in 0..<k where i != j { nat += spearmanCorrelation(layer.topNatural[i], layer.topNatural[j]) } }
            for t in layer.topNatural { for r in layer.randomNatural { floor += spearmanCorrelation(t, r) } }
            XCTAssertEqual(layer.visualizationToNatural, viz / Double(n * k), accuracy: 1e-12, layer.path)
            XCTAssertEqual(layer.naturalToNatural, nat / Double(k * (k - 1)), accuracy: 1e-12, layer.path)
            XCTAssertEqual(layer.naturalToRandom, floor / Double(k * k), accuracy: 1e-12, layer.path)
            for value in [layer.visualizationToNatural, layer.naturalToNatural, layer.naturalToRandom] {
                XCTAssertTrue(value >= -1 && value <= 1, "\(layer.path): \(value)")
            }
        }
        // The vectors are the channel means of each layer's activation.
        let layer2 = try GradMode.withoutGrad { try activation(model, result.topNatural, at: "layer2.0") }.mean(axes: [2, 3])
        let width = layer2.shape[1]
        let compared = try XCTUnwrap(result.layers.first { $0.path == "layer2.0" })
        for i in 0..<k {
            XCTAssertEqual(compared.topNatural[i], Array(layer2.scalars[(i * width)..<((i + 1) * width)]))
        }
        let table = result.table.split(separator: "\n")
        XCTAssertEqual(table.count, 1 + result.layers.count)
        XCTAssertTrue(table[0].contains("viz-to-natural") && table[0].contains("natural-to-random"), String(table[0]))
        XCTAssertTrue(table[7].hasPrefix("layer3 "), String(table[7]))
        let plot = try result.plot()
        XCTAssertEqual(plot.shape[0], 3)
        XCTAssertGreaterThan(plot.shape[1], 100)
    }

    /// Copies of one image are processed identically: the baseline and the floor are exactly 1.
    func testIdenticalImagesCorrelatePerfectly() throws {
        let model = try Self.tinyResNet()
        let one = try Self.images(1, seed: 4)
        let natural = try Tensor.concat([Tensor](repeating: one, count: 10), axis: 0)
        let result = try sanityCheck(model, path: "layer2", unit: 0, natural: natural, channels: 1, size: [8, 8],
                                     options: Self.options(k: 4, n: 2))
        XCTAssertEqual(result.layers.map(\.path), ["relu", "layer1.0", "layer1.1", "layer2.0", "layer2"])
        for layer in result.layers {
            XCTAssertEqual(layer.naturalToNatural, 1, accuracy: 1e-12, layer.path)
            XCTAssertEqual(layer.naturalToRandom, 1, accuracy: 1e-12, layer.path)
        }
        XCTAssertEqual(result.topIndices, [0, 1, 2, 3], "ties keep index order")
    }

    func testErrors() throws {
        let model = try Self.tinyResNet()
        let natural = try Self.images(6, seed: 2)
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message { _ = try sanityCheck(model, path: "layer2", unit: 8, natural: natural, channels: 1, size: [8, 8],
                                                    options: Self.options(k: 2, n: 1)) }
                      .contains("unit 8 is out of range for the 8 channels"))
        XCTAssertTrue(message { _ = try sanityCheck(model, path: "layer2", unit: 0, natural: natural, channels: 1, size: [8, 8],
                                                    options: Self.options(k: 6, n: 1)) }
                      .contains("6 natural images are too few for the top 6"))
        XCTAssertTrue(message { _ = try sanityCheck(model, path: "layer2", unit: 0, natural: natural, channels: 3, size: [8, 8],
                                                    options: Self.options(k: 2, n: 1)) }
                      .contains("natural images must be [N, 3, H, W]"))
    }
}
