import Foundation
import XCTest
import LoupeIO
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// Loupe's `AutoencoderKL` against diffusers' own (Scripts/fixtures/models_vae.py): random weights
/// with every group norm's affine parameters randomised; the encoder's blocks, mid block and
/// attention, the moments, `quant_conv`, the posterior's mean and clamped log-variance,
/// `post_quant_conv`, the decoder's mid and first up block, the decoded image, the
/// reconstruction, the gradient of a loss on the decoded image to the latent and of a loss on
/// the mean to the image.
final class VAEParityTests: XCTestCase {
    struct Case {
        var config: AutoencoderKLConfig
        var tensors: [String: Tensor]
        var keys: [String]

        func tensor(_ name: String) throws -> Tensor {
            guard let t = tensors[name] else { throw LoupeError("fixture: no tensor '\(name)'") }
            return t
        }
    }

    static func load(_ name: String) throws -> Case {
        let file = try SafeTensorsFile(path: Fixtures.directory.appendingPathComponent("vae/\(name).safetensors").path)
        let config = try decodeConfiguration(AutoencoderKLConfig.self, file.metadata["config"] ?? "{}", architecture: "autoencoder_kl")
        let keys = try JSONDecoder().decode([String].self, from: Data((file.metadata["keys"] ?? "[]").utf8))
        return Case(config: config, tensors: try file.allTensors(), keys: keys)
    }

    /// A model holding the fixture's weights: every state entry must be there, every stored weight used.
    static func model(_ fixture: Case) throws -> AutoencoderKL {
        let vae = try AutoencoderKL(fixture.config)
        let state = vae.namedState()
        for (path, parameter) in state {
            let stored = try fixture.tensor("weights." + path)
            XCTAssertEqual(stored.shape, parameter.value.shape, path)
            parameter.value = stored
        }
        let used = Set(state.map { "weights." + $0.path })
        XCTAssertEqual(fixture.tensors.keys.filter { $0.hasPrefix("weights.") && !used.contains($0) }, [],
                       "weights the model has no place for")
        return vae
    }

    /// Largest absolute difference (reported in the test log).
    static func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        guard a.shape == b.shape else { return .infinity }
        return zip(a.scalars, b.scalars).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Self.load(name)
        let vae = try Self.model(fixture)
        let image = try fixture.tensor("input.image"), latent = try fixture.tensor("input.latent")
        let sites = fixture.keys.filter { !$0.hasPrefix("grad.") && $0 != "reconstruction" && $0 != "decoder" }
        let context = ForwardContext(capture: sites)
        let (posterior, decoded) = try GradMode.withoutGrad {
            (try vae.encode(image, context: context), try vae.decode(latent, context: context))
        }
        try context.checkAllPathsUsed(op: "parity")
        var worst: Float = 0
        func compare(_ actual: Tensor, _ key: String, rtol: Float = 1e-4, atol: Float = 1e-4) throws {
            let expected = try fixture.tensor(key)
            worst = max(worst, Self.maxDifference(actual, expected))
            assertClose(actual, expected, rtol: rtol, atol: atol, "\(name) \(key)", file: file, line: line)
        }
        for key in sites {
            guard let actual = context.activations[key] else { XCTFail("\(name): no activation at \(key)", file: file, line: line); continue }
            try compare(actual, key)
        }
        try compare(posterior.mean, "mean")
        try compare(posterior.logvar, "logvar")
        try compare(decoded, "decoder")
        let reconstruction = try GradMode.withoutGrad { try vae(inputs: ModuleInputs([("image", .tensor(image))])).tensor("output") }
        try compare(reconstruction, "reconstruction")
        print("\(name): max |loupe - diffusers| over \(sites.count + 2) activations = \(worst)")

        // d sum(decode(z) * R) / dz and d sum(mean(x) * S) / dx.
        let weights = try fixture.tensor("input.image_weights"), meanWeights = try fixture.tensor("input.mean_weights")
        let (gradLatent, gradImage) = try GradMode.withGrad { () throws -> (Tensor, Tensor) in
            let z = latent.requiringGrad(), x = image.requiringGrad()
            let gz = try Autograd.gradients(of: (vae.decode(z) * weights).sum(), wrt: [z])[0]
            let gx = try Autograd.gradients(of: (vae.encode(x).mean * meanWeights).sum(), wrt: [x])[0]
            return (gz, gx)
        }
        for (actual, key) in [(gradLatent, "grad.latent"), (gradImage, "grad.image")] {
            let expected = try fixture.tensor(key)
            let scale = expected.scalars.reduce(0) { max($0, abs($1)) }
            print("\(name): \(key) max |difference| = \(Self.maxDifference(actual, expected)) (largest |gradient| \(scale))")
            assertClose(actual, expected, rtol: 1e-3, atol: 1e-3 * scale, "\(name) \(key)", file: file, line: line)
        }
    }

    func testVAE32WithAttention() throws { try check("vae_32") }

    func testVAE16WithoutAttentionOrPostQuantConvLogvarClamped() throws {
        try check("vae_16_clamp")
        let logvar = try Self.load("vae_16_clamp").tensor("logvar").scalars
        XCTAssertEqual(logvar.max(), 20)
        XCTAssertEqual(logvar.min(), -30)
    }
}
