import XCTest
import LoupeGrafting
import LoupeTensor
import LoupeTestSupport

/// Loupe's Gaussian diffusion against DiT's own `diffusion` package
/// (Scripts/fixtures/grafting_diffusion.py): the respaced schedules, one reverse step's mean,
/// variance and x_0 (learned range and fixed, clipped or not), a deterministic DDIM step, and
/// the training loss terms with their gradient to the model output.
final class DiffusionParityTests: XCTestCase {
    static let cases: [FixtureCase] = (try? Fixtures.load("diffusion")) ?? []

    func fixtures(_ op: String) throws -> [FixtureCase] {
        let selected = Self.cases.filter { $0.op == op }
        XCTAssertFalse(selected.isEmpty, "no '\(op)' cases in Fixtures/diffusion.json")
        return selected
    }

    static func doubles(_ c: FixtureCase, _ key: String) -> [Double] {
        (c.args[key] as? [NSNumber] ?? []).map(\.doubleValue)
    }

    static func diffusion(_ c: FixtureCase) throws -> GaussianDiffusion {
        let respacing = c.string("respacing") ?? ""
        return try GaussianDiffusion.dit(respacing: respacing.isEmpty ? nil : respacing, learnSigma: c.bool("learn_sigma") ?? true)
    }

    func testRespacedSchedulesMatchDiT() throws {
        for c in try fixtures("schedule") {
            let respacing = c.string("respacing") ?? ""
            let schedule = try NoiseSchedule.dit(respacing: respacing.isEmpty ? nil : respacing)
            XCTAssertEqual(schedule.steps, c.int("num_timesteps"), c.name)
            XCTAssertEqual(schedule.timestepMap, c.ints("timestep_map"), c.name)
            for (key, values) in [("betas", schedule.betas), ("alphas_cumprod", schedule.alphasCumprod),
                                  ("posterior_log_variance_clipped", schedule.posteriorLogVarianceClipped)] {
                let expected = Self.doubles(c, key)
                XCTAssertFalse(expected.isEmpty)
                for (i, value) in expected.enumerated() {
                    XCTAssertEqual(values[i], value, accuracy: 1e-12 * max(1, abs(value)), "\(c.name) \(key)[\(i)]")
                }
            }
        }
    }

    func testOneReverseStepMatchesPMeanVariance() throws {
        for c in try fixtures("reverse") {
            let diffusion = try Self.diffusion(c)
            let steps = try XCTUnwrap(c.ints("steps"))
            let step = try diffusion.reverseStep(modelOutput: c.tensor("output"), noisy: c.tensor("x"), steps: steps,
                                                 clip: c.bool("clip") ?? false)
            assertClose(step.mean, try c.tensor("mean"), rtol: 1e-5, atol: 1e-5, "\(c.name) mean")
            assertClose(step.variance, try c.tensor("variance"), rtol: 1e-5, atol: 1e-8, "\(c.name) variance")
            assertClose(step.logVariance, try c.tensor("log_variance"), rtol: 1e-5, atol: 1e-5, "\(c.name) log variance")
            assertClose(step.predictedStart, try c.tensor("pred_xstart"), rtol: 1e-5, atol: 1e-5, "\(c.name) x_0")
            assertClose(diffusion.modelTimesteps(steps), try c.tensor("model_timesteps"), rtol: 0, atol: 0, "\(c.name) timesteps")
        }
    }

    func testDeterministicDDIMStepMatchesDiT() throws {
        for c in try fixtures("ddim") {
            let diffusion = try Self.diffusion(c)
            let steps = try XCTUnwrap(c.ints("steps"))
            let output = try c.tensor("output"), x = try c.tensor("x")
            // The fixture's steps differ per sample: run each sample alone.
            var samples: [Tensor] = []
            for (i, step) in steps.enumerated() {
                var generator = RandomGenerator(seed: 1)
                let denoiser: Denoiser = { _, _ in try output.indexed([.index(i)]).unsqueezed(axis: 0) }
                let xi = try x.indexed([.index(i)]).unsqueezed(axis: 0)
                samples.append(try diffusion.ddimStep(denoiser, noisy: xi, step: step, clip: c.bool("clip") ?? false,
                                                      eta: 0, generator: &generator).sample)
            }
            assertClose(try Tensor.concat(samples, axis: 0), try c.tensor("sample"), rtol: 1e-5, atol: 1e-5, c.name)
        }
    }

    func testTrainingTermsAndTheirGradientMatchTrainingLosses() throws {
        for c in try fixtures("losses") {
            let diffusion = try Self.diffusion(c)
            let steps = try XCTUnwrap(c.ints("steps"))
            let start = try c.tensor("start"), noise = try c.tensor("noise")
            let output = try c.tensor("output").requiringGrad()
            let noisy = try diffusion.noised(start, steps: steps, noise: noise)
            let terms = try diffusion.trainingTerms(modelOutput: output, start: start, noisy: noisy, steps: steps, noise: noise)
            assertClose(terms.mse, try c.tensor("mse"), rtol: 1e-5, atol: 1e-6, "\(c.name) mse")
            if let vb = terms.vb {
                assertClose(vb, try c.tensor("vb"), rtol: 1e-4, atol: 1e-6, "\(c.name) vb")
            } else {
                XCTAssertNil(c.tensors["vb"], c.name)
            }
            assertClose(terms.loss, try c.tensor("loss"), rtol: 1e-4, atol: 1e-6, "\(c.name) loss")
            try terms.loss.sum().backward()
            assertClose(try XCTUnwrap(output.grad), try c.tensor("output_grad"), rtol: 1e-4, atol: 1e-6, "\(c.name) gradient")
        }
    }
}
