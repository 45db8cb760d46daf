import XCTest
import LoupeGrafting
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// Sampling, guidance and training against hand-derived cases: a denoiser that knows the data
/// is one point c predicts epsilon exactly, so DDPM and DDIM must both end at c; guidance is
/// uncond + s (cond - uncond) on the guided channels only; training lowers DiT's loss and keeps
/// the moving average and label dropout as defined.
final class DiffusionSamplingTests: XCTestCase {
    /// epsilon = (x_t - sqrt(abar_t) c) / sqrt(1 - abar_t) for data concentrated at `c`.
    func exactDenoiser(_ diffusion: GaussianDiffusion, point c: Tensor, learnedVariance: Bool) -> Denoiser {
        { x, t in
            // t holds original timesteps; map back to the retained index.
            let steps = t.scalars.map { value in diffusion.schedule.timestepMap.firstIndex(of: Int(value)) ?? -1 }
            let abar = steps.map { diffusion.schedule.alphasCumprod[$0] }
            let a = try Tensor(shape: [steps.count, 1, 1, 1], scalars: abar.map { Float($0.squareRoot()) })
            let b = try Tensor(shape: [steps.count, 1, 1, 1], scalars: abar.map { Float((1 - $0).squareRoot()) })
            let epsilon = try (x - a * c) / b
            return learnedVariance ? try Tensor.concat([epsilon, Tensor.zeros(epsilon.shape)], axis: 1) : epsilon
        }
    }

    func testBothSamplersEndAtTheDataPointWhenEpsilonIsExact() throws {
        let c = try Tensor(shape: [1, 2, 2, 2], scalars: [0.5, -0.25, 0.75, -1, 0, 0.1, -0.6, 0.9])
        for (respacing, sampler, learned) in [("50", GaussianDiffusion.Sampler.ddpm, true), ("ddim20", .ddim(eta: 0), true),
                                              ("30", .ddim(eta: 1), false), ("25", .ddpm, false)] {
            let diffusion = try GaussianDiffusion.dit(respacing: respacing, learnSigma: learned)
            var generator = RandomGenerator(seed: 3)
            let noise = try Tensor.normal([3, 2, 2, 2], generator: &generator)
            var counted = 0
            let sample = try diffusion.sample(exactDenoiser(diffusion, point: c, learnedVariance: learned), noise: noise,
                                              sampler: sampler, clip: false, generator: &generator) { done, total in
                counted = done
                XCTAssertEqual(total, diffusion.schedule.steps)
            }
            XCTAssertEqual(counted, diffusion.schedule.steps)
            assertClose(sample, try c.tiled([3, 1, 1, 1]), rtol: 0, atol: 2e-4, "\(respacing) \(sampler)")
        }
    }

    func testSamplingIsReproducibleFromTheSeedAndDiffersAcrossSeeds() throws {
        let diffusion = try GaussianDiffusion.dit(respacing: "10")
        let model = try TinyDenoiser(channels: 2, classes: 3)
        func run(_ seed: UInt64) throws -> Tensor {
            var generator = RandomGenerator(seed: seed)
            let noise = try Tensor.normal([2, 2, 3, 3], generator: &generator)
            return try diffusion.sample(ConditionalDenoiser.conditioned(model, labels: [0, 2]), noise: noise, clip: true, generator: &generator)
        }
        XCTAssertEqual(try run(5).scalars, try run(5).scalars)
        XCTAssertNotEqual(try run(5).scalars, try run(6).scalars)
        XCTAssertLessThanOrEqual(try run(5).abs().max().item(), 1.0 + 1e-6) // clipped x_0, last step's mean
    }

    func testGuidanceMixesTheGuidedChannelsAndKeepsTheRestConditional() throws {
        let model = try TinyDenoiser(channels: 4, classes: 5)
        var generator = RandomGenerator(seed: 9)
        let x = try Tensor.normal([2, 4, 3, 3], generator: &generator)
        let t = Tensor([10, 700])
        let cond = try ConditionalDenoiser.output(model, x: x, timesteps: t, labels: Tensor([1, 4]))
        let uncond = try ConditionalDenoiser.output(model, x: x, timesteps: t, labels: Tensor([5, 5]))
        let guided = try ConditionalDenoiser.guided(model, labels: [1, 4], nullClass: 5, scale: 4, inputChannels: 4)(x, t)
        let c = cond.scalars, u = uncond.scalars, g = guided.scalars
        for n in 0..<2 {
            for channel in 0..<8 {
                for p in 0..<9 {
                    let i = (n * 8 + channel) * 9 + p
                    // DiT as released: channels 0-2 guided, channel 3 and the variance conditional.
                    let expected = channel < 3 ? u[i] + 4 * (c[i] - u[i]) : c[i]
                    XCTAssertEqual(g[i], expected, accuracy: 1e-5, "sample \(n) channel \(channel)")
                }
            }
        }
        // A one-channel pixel model is guided on its single epsilon channel, never its variance.
        let small = try TinyDenoiser(channels: 1, classes: 2)
        let xs = try Tensor.normal([1, 1, 2, 2], generator: &generator)
        let gs = try ConditionalDenoiser.guided(small, labels: [0], nullClass: 2, scale: 2, inputChannels: 1)(xs, Tensor([3]))
        let cs = try ConditionalDenoiser.output(small, x: xs, timesteps: Tensor([3]), labels: Tensor([0])).scalars
        let us = try ConditionalDenoiser.output(small, x: xs, timesteps: Tensor([3]), labels: Tensor([2])).scalars
        for i in 0..<8 { XCTAssertEqual(gs.scalars[i], i < 4 ? us[i] + 2 * (cs[i] - us[i]) : cs[i], accuracy: 1e-5) }
        // Scale 1 is the conditional model.
        let one = try ConditionalDenoiser.guided(model, labels: [1, 4], nullClass: 5, scale: 1, inputChannels: 4)(x, t)
        XCTAssertEqual(one.scalars, c)
    }

    func testTrainingLowersTheLossAndKeepsTheOriginalUntouchedByItsAverage() throws {
        // Data: two classes of constant images (+0.8 and -0.8): the per-class offset learns them.
        let n = 64
        var scalars: [Float] = []
        var labels: [Int] = []
        for i in 0..<n {
            labels.append(i % 2)
            scalars += Array(repeating: i % 2 == 0 ? 0.8 : -0.8, count: 2 * 4 * 4)
        }
        let images = try Tensor(shape: [n, 2, 4, 4], scalars: scalars)
        let model = try TinyDenoiser(channels: 2, classes: 2)
        var options = DiffusionTrainingOptions()
        options.steps = 300
        options.batchSize = 16
        options.learningRate = 1e-2
        options.emaDecay = 0.9
        options.seed = 4
        options.snapshotSteps = [1]
        let trainer = try DiffusionTrainer(model: model, diffusion: try GaussianDiffusion.dit(), images: images, labels: labels,
                                           nullClass: 2, options: options, architectures: try TinyDenoiser.catalog)
        let before = model.stateDict()
        let losses = try trainer.train()
        XCTAssertEqual(losses.count, 300)
        let early = losses.prefix(30).reduce(0, +) / 30, late = losses.suffix(30).reduce(0, +) / 30
        XCTAssertLessThan(late, 0.6 * early, "loss \(early) -> \(late)")
        // The moving average is a separate model (the snapshot after step 1 is 0.9 old + 0.1 new).
        XCTAssertFalse(trainer.ema === trainer.model)
        let snapshot = trainer.snapshots[0].model.stateDict()["weight"]!.scalars
        XCTAssertNotEqual(snapshot, before["weight"]!.scalars)
        XCTAssertNotEqual(trainer.ema.stateDict()["weight"]!.scalars, model.stateDict()["weight"]!.scalars)
        XCTAssertFalse(model.namedParameters().contains { $0.parameter.value.requiresGrad })
    }

    func testLabelDropoutReplacesAboutItsShareWithTheNullClass() throws {
        // With a learning rate of 0 nothing trains; the labels the model sees are counted.
        final class Counter: Module, Architecture {
            static let architectureName = "label_counter"
            nonisolated(unsafe) static var seen: [Int] = []
            let p: Parameter
            override init() { p = Parameter(Tensor(0)); super.init(); registerParameter("p", p) }
            override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("t"), InputParameter("y")] }
            override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
                Counter.seen += try inputs.tensor("y").scalars.map { Int($0) }
                let x = try inputs.tensor("x")
                return .tensor(try Tensor.concat([x, x], axis: 1) * p.value)
            }
            func configurationJSON() throws -> String { "{}" }
            static func build(configurationJSON: String) throws -> Module { Counter() }
        }
        Counter.seen = []
        var options = DiffusionTrainingOptions()
        options.steps = 100
        options.batchSize = 50
        options.learningRate = 0
        options.labelDropout = 0.1
        let images = try Tensor.zeros([10, 1, 2, 2])
        let trainer = try DiffusionTrainer(model: Counter(), diffusion: try GaussianDiffusion.dit(), images: images,
                                           labels: Array(repeating: 3, count: 10), nullClass: 7, options: options,
                                           architectures: try ArchitectureCatalog([Counter.self]))
        try trainer.train()
        XCTAssertEqual(Counter.seen.count, 5000)
        XCTAssertEqual(Set(Counter.seen), [3, 7])
        let dropped = Double(Counter.seen.filter { $0 == 7 }.count) / 5000
        XCTAssertEqual(dropped, 0.1, accuracy: 0.015)
    }

    func testBadTrainingInputsAreNamedErrors() throws {
        let model = try TinyDenoiser(channels: 1, classes: 2)
        let options = DiffusionTrainingOptions()
        XCTAssertThrowsError(try DiffusionTrainer(model: model, diffusion: try GaussianDiffusion.dit(), images: try Tensor.zeros([4, 1, 2, 2]),
                                                  labels: [0, 1, 2, 0], nullClass: 2, options: options, architectures: try TinyDenoiser.catalog)) {
            XCTAssertTrue("\($0)".contains("label 2 outside 0..<2"), "\($0)")
        }
        XCTAssertThrowsError(try DiffusionTrainer(model: model, diffusion: try GaussianDiffusion.dit(), images: try Tensor.zeros([4, 2, 2]),
                                                  labels: [0, 1, 1, 0], nullClass: 2, options: options, architectures: try TinyDenoiser.catalog)) {
            XCTAssertTrue("\($0)".contains("[N, C, H, W]"), "\($0)")
        }
    }
}
