import Foundation
import XCTest
import LoupeIO
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// Loupe's StyleGAN2-ADA generator and discriminator against NVlabs' own `training/networks.py`
/// (Scripts/fixtures/models_stylegan2.py): random weights with every noise strength, bias,
/// `w_avg` and `const` randomised, constant noise; the mapping layers, the ws after truncation,
/// every synthesis layer, toRGB, block output and image, the image, and the gradient to the ws;
/// the discriminator's blocks, epilogue, logits (two batch sizes) and the gradient to the image.
final class StyleGAN2ParityTests: XCTestCase {
    struct Case {
        var kwargs: [String: Any]
        var metadata: [String: String]
        var tensors: [String: Tensor]
        var keys: [String]

        func tensor(_ name: String) throws -> Tensor {
            guard let t = tensors[name] else { throw LoupeError("fixture: no tensor '\(name)'") }
            return t
        }
    }

    static func load(_ name: String) throws -> Case {
        let file = try SafeTensorsFile(path: Fixtures.directory.appendingPathComponent("stylegan2/\(name).safetensors").path)
        let kwargs = try JSONSerialization.jsonObject(with: Data((file.metadata["kwargs"] ?? "{}").utf8)) as? [String: Any] ?? [:]
        let keys = try JSONDecoder().decode([String].self, from: Data((file.metadata["keys"] ?? "[]").utf8))
        return Case(kwargs: kwargs, metadata: file.metadata, tensors: try file.allTensors(), keys: keys)
    }

    /// Copies every `weights.<name>` tensor into the module; every state entry must be there and
    /// every stored weight must be used.
    static func loadWeights(_ module: Module, _ fixture: Case) throws {
        let state = module.namedState()
        for (path, parameter) in state {
            let stored = try fixture.tensor("weights." + path)
            XCTAssertEqual(stored.shape, parameter.value.shape, path)
            parameter.value = stored
        }
        let used = Set(state.map { "weights." + $0.path })
        let unused = fixture.tensors.keys.filter { $0.hasPrefix("weights.") && !used.contains($0) }
        XCTAssertEqual(unused, [], "weights the model has no place for")
    }

    static func generatorConfig(_ kwargs: [String: Any]) -> StyleGAN2Config {
        let mapping = kwargs["mapping_kwargs"] as? [String: Any] ?? [:]
        let synthesis = kwargs["synthesis_kwargs"] as? [String: Any] ?? [:]
        func int(_ d: [String: Any], _ k: String, _ fallback: Int) -> Int { (d[k] as? NSNumber)?.intValue ?? fallback }
        return StyleGAN2Config(zDim: int(kwargs, "z_dim", 0), wDim: int(kwargs, "w_dim", 0), resolution: int(kwargs, "img_resolution", 0),
                               channels: int(kwargs, "img_channels", 0), classes: int(kwargs, "c_dim", 0),
                               channelBase: int(synthesis, "channel_base", 32768), channelMax: int(synthesis, "channel_max", 512),
                               mappingLayers: int(mapping, "num_layers", 8), architecture: synthesis["architecture"] as? String ?? "skip",
                               convClamp: (synthesis["conv_clamp"] as? NSNumber)?.doubleValue)
    }

    /// The Loupe site of a fixture key (`synthesis.b8` is the block's x).
    static func site(_ key: String) -> String {
        if key == "ws" { return "mapping" }
        let parts = key.split(separator: ".")
        if parts.count == 2, parts[0] == "synthesis", parts[1].hasPrefix("b") { return key + ".x" }
        return key
    }

    func checkGenerator(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Self.load(name)
        let g = try StyleGAN2(Self.generatorConfig(fixture.kwargs))
        try Self.loadWeights(g, fixture)
        var inputs: [(name: String, value: ModuleValue)] = [("z", .tensor(try fixture.tensor("input.z")))]
        if let c = fixture.tensors["input.c"] { inputs.append(("c", .tensor(c))) }
        if let psi = Double(fixture.metadata["truncation_psi"] ?? "") { inputs.append(("truncation_psi", .number(psi))) }
        if let cutoff = Double(fixture.metadata["truncation_cutoff"] ?? "") { inputs.append(("truncation_cutoff", .number(cutoff))) }
        let captured = fixture.keys.filter { !$0.hasPrefix("grad.") && $0 != "output" }
        let context = ForwardContext(capture: captured.map(Self.site))
        let output = try GradMode.withoutGrad { try context.run(g, inputs: ModuleInputs(inputs)).tensor("image") }
        try context.checkAllPathsUsed(op: "parity")
        for key in captured {
            guard let actual = context.activations[Self.site(key)] else { XCTFail("\(name): no activation for \(key)", file: file, line: line); continue }
            assertClose(actual, try fixture.tensor(key), rtol: 1e-4, atol: 1e-4, "\(name) \(key)", file: file, line: line)
        }
        assertClose(output, try fixture.tensor("output"), rtol: 1e-4, atol: 1e-4, "\(name) output", file: file, line: line)

        // The gradient of sum(image * R) with respect to the ws, through the synthesis network.
        let ws = try fixture.tensor("ws").requiringGrad()
        let weights = try fixture.tensor("input.image_weights")
        let gradient = try GradMode.withGrad { () throws -> Tensor in
            let image = try ForwardContext().run(g.synthesis, inputs: ModuleInputs([("ws", .tensor(ws))])).tensor("image")
            return try Autograd.gradients(of: (image * weights).sum(), wrt: [ws])[0]
        }
        assertClose(gradient, try fixture.tensor("grad.ws"), rtol: 1e-3, atol: 1e-4, "\(name) grad.ws", file: file, line: line)
    }

    func testGenerator32SkipWithClampAndTruncation() throws { try checkGenerator("generator_32_skip") }
    func testGenerator64ConditionalWithTruncationCutoff() throws { try checkGenerator("generator_64_conditional") }
    func testGenerator32Orig() throws { try checkGenerator("generator_32_orig") }
    func testGenerator16ClampEngaged() throws { try checkGenerator("generator_16_clamp") }

    func testDiscriminator32() throws {
        let fixture = try Self.load("discriminator_32")
        let kwargs = fixture.kwargs
        let epilogue = kwargs["epilogue_kwargs"] as? [String: Any] ?? [:]
        func int(_ d: [String: Any], _ k: String, _ fallback: Int) -> Int { (d[k] as? NSNumber)?.intValue ?? fallback }
        let d = try StyleGAN2Discriminator(StyleGAN2DiscriminatorConfig(
            resolution: int(kwargs, "img_resolution", 0), channels: int(kwargs, "img_channels", 0),
            channelBase: int(kwargs, "channel_base", 32768), channelMax: int(kwargs, "channel_max", 512),
            convClamp: (kwargs["conv_clamp"] as? NSNumber)?.doubleValue,
            mbstdGroupSize: int(epilogue, "mbstd_group_size", 4), mbstdChannels: int(epilogue, "mbstd_num_channels", 1)))
        try Self.loadWeights(d, fixture)
        let captured = fixture.keys.filter { !$0.hasPrefix("grad.") && !$0.hasPrefix("output") }
        let context = ForwardContext(capture: captured)
        let image = try fixture.tensor("input.image")
        let logits = try GradMode.withoutGrad { try context.run(d, image) }
        for key in captured {
            guard let actual = context.activations[key] else { XCTFail("no activation for \(key)"); continue }
            assertClose(actual, try fixture.tensor(key), rtol: 1e-4, atol: 1e-4, key)
        }
        assertClose(logits, try fixture.tensor("output"), rtol: 1e-4, atol: 1e-4, "logits")
        let small = try GradMode.withoutGrad { try d(try fixture.tensor("input.image_b2")) }
        assertClose(small, try fixture.tensor("output_b2"), rtol: 1e-4, atol: 1e-4, "logits, batch 2")

        let x = image.requiringGrad()
        let gradient = try GradMode.withGrad { try Autograd.gradients(of: try d(x).sum(), wrt: [x])[0] }
        assertClose(gradient, try fixture.tensor("grad.image"), rtol: 1e-3, atol: 1e-4, "grad.image")
    }

    func testUpfirdn2dMatchesTheSeparableAndTheDirectDefinitions() throws {
        // upsample2d of a one-hot image spreads the filter [1, 3, 3, 1] / 8 (times gain 4 over two
        // axes) around the hot pixel's upsampled position; derived by hand from NVlabs' reference.
        var pixels = [Float](repeating: 0, count: 16)
        pixels[5] = 1   // (1, 1) of a 4x4 image
        let x = try Tensor(shape: [1, 1, 4, 4], scalars: pixels)
        let f = try StyleGAN2Ops.resampleFilter()
        let y = try NN.upfirdn2d(x, filter: f, up: 2, padding: NN.FIRPadding(left: 2, right: 1, top: 2, bottom: 1), gain: 4)
        XCTAssertEqual(y.shape, [1, 1, 8, 8])
        // The zero-inserted image has its 1 at (2, 2); padded by 2 it sits at (4, 4); a 4x4
        // convolution puts taps at outputs 1...4 with weights [1, 3, 3, 1] / 8 * 2 per axis.
        let taps: [Float] = [0.25, 0.75, 0.75, 0.25]
        let values = y.scalars
        for row in 0..<8 {
            for col in 0..<8 {
                let expected = (1...4).contains(row) && (1...4).contains(col) ? taps[row - 1] * taps[col - 1] : 0
                XCTAssertEqual(values[row * 8 + col], expected, accuracy: 1e-6, "(\(row), \(col))")
            }
        }
        // The separable form gives the same.
        let separable = try NN.upfirdn2d(x, filter: Tensor(shape: [4], scalars: [1, 3, 3, 1].map { $0 / 8 }), up: 2,
                                         padding: NN.FIRPadding(left: 2, right: 1, top: 2, bottom: 1), gain: 4)
        assertClose(separable, y, rtol: 1e-6, atol: 1e-7, "separable")
    }
}
