import XCTest
import LoupeModels
@testable import LoupePainting
import LoupeTensor

/// The GAN trainer's R1 gradient against finite differences of the penalty itself, and a few
/// steps of training on tiny images.
final class GANTrainingTests: XCTestCase {
    static func tinyPair() throws -> (StyleGAN2, StyleGAN2Discriminator) {
        let g = try StyleGAN2(StyleGAN2Config(zDim: 8, wDim: 8, resolution: 8, channels: 1, channelBase: 64, channelMax: 8,
                                              mappingLayers: 2))
        let d = try StyleGAN2Discriminator(StyleGAN2DiscriminatorConfig(resolution: 8, channels: 1, channelBase: 64, channelMax: 8))
        var random = RandomGenerator(seed: 11)
        try g.initialize(generator: &random)
        try d.initialize(generator: &random)
        return (g, d)
    }

    /// The mean R1 penalty |grad_x D(x)|^2 for the discriminator's current weights (first-order
    /// autograd only).
    static func penalty(_ d: StyleGAN2Discriminator, _ x: Tensor) throws -> Double {
        let input = x.detached().requiringGrad()
        let g = try GradMode.withGrad { try Autograd.gradients(of: d(input).sum(), wrt: [input])[0] }
        return Double(try (g * g).sum().item()) / Double(x.shape[0])
    }

    func testR1GradientMatchesFiniteDifferencesOfThePenalty() throws {
        let (g, d) = try Self.tinyPair()
        var random = RandomGenerator(seed: 5)
        let reals = try Tensor.uniform([4, 1, 8, 8], low: -1, high: 1, generator: &random)
        let trainer = try GANTrainer(generator: g, discriminator: d, images: reals, options: GANTrainingOptions())
        let leaves = GANTrainer.Leaves(d)
        leaves.set(true)
        let weight: Float = 1
        _ = try trainer.r1Step(reals, weight: weight, discriminatorLeaves: leaves)
        leaves.set(false)
        // Compare a few weights of different layers with central differences of the penalty.
        let named = Dictionary(uniqueKeysWithValues: d.namedParameters().map { ($0.path, $0.parameter) })
        for (path, index) in [("b8.conv0.weight", 7), ("b4.conv.weight", 20), ("b4.fc.weight", 3), ("b8.fromrgb.weight", 2)] {
            guard let parameter = named[path], let leafIndex = d.namedParameters().firstIndex(where: { $0.path == path }),
                  let grad = leaves.leaves[leafIndex].grad else { return XCTFail("no gradient for \(path)") }
            let analytic = Double(grad.contiguous().scalars[index])
            let base = parameter.value.contiguous().scalars
            func at(_ delta: Float) throws -> Double {
                var v = base
                v[index] += delta
                parameter.value = try Tensor(shape: parameter.value.shape, scalars: v)
                defer { parameter.value = try! Tensor(shape: parameter.value.shape, scalars: base) }
                return try Self.penalty(d, reals)
            }
            let h: Float = 2e-4
            let numeric = (try at(h) - at(-h)) / Double(2 * h)
            XCTAssertEqual(analytic, numeric * Double(weight), accuracy: 0.02 * max(abs(numeric), 1e-3), path)
        }
    }

    func testAFewStepsTrainBothNetworksAndMoveTheAverage() throws {
        let (g, d) = try Self.tinyPair()
        var random = RandomGenerator(seed: 9)
        let reals = try Tensor.uniform([16, 1, 8, 8], low: -1, high: 1, generator: &random)
        var options = GANTrainingOptions()
        options.steps = 4
        options.batchSize = 4
        options.r1Interval = 2
        let before = g.stateDict().mapValues(\.scalars), dBefore = d.stateDict().mapValues(\.scalars)
        let trainer = try GANTrainer(generator: g, discriminator: d, images: reals, options: options)
        let history = try trainer.train()
        XCTAssertEqual(history.count, 4)
        XCTAssertTrue(history.allSatisfy { $0.generator.isFinite && $0.discriminator.isFinite })
        XCTAssertGreaterThan(history[3].r1, 0)
        let after = g.stateDict(), dAfter = d.stateDict()
        XCTAssertNotEqual(before["synthesis.b8.conv1.weight"], after["synthesis.b8.conv1.weight"]?.scalars)
        XCTAssertNotEqual(before["mapping.w_avg"], after["mapping.w_avg"]?.scalars)
        XCTAssertNotEqual(dBefore["b4.out.weight"], dAfter["b4.out.weight"]?.scalars)
        // The average lags the generator but has left the initial weights.
        let emaWeight = trainer.ema.stateDict()["synthesis.b8.conv1.weight"]?.scalars
        XCTAssertNotEqual(emaWeight, after["synthesis.b8.conv1.weight"]?.scalars)
        XCTAssertNotEqual(emaWeight, before["synthesis.b8.conv1.weight"])
        // Parameters are plain tensors again after training.
        XCTAssertTrue(g.namedParameters().allSatisfy { !$0.parameter.value.requiresGrad })
    }
}
