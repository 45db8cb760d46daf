import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor
import LoupeTestSupport
import LoupeVisualization
import XCTest

/// Loupe's feature visualization against lucent (PyTorch), case by case from
/// Fixtures/lucent_render.json (Scripts/fixtures/lucent_render.py): the Fourier image, the colour
/// decorrelation, the transforms with fixed random choices, the diversity objective, and the
/// first 10 Adam steps of `render_vis` on two demo models. Every case also checks that the
/// reference moves by more than the tolerance when its input does, so a test can fail.
final class LucentParityTests: XCTestCase {
    /// Pure functions of float32 inputs.
    static let exact: Float = 1e-5
    /// 10 Adam steps through a model.
    static let optimised: Float = 1e-4

    static var cases: [FixtureCase] { get throws { try Fixtures.load("lucent_render") } }

    static func cases(_ op: String) throws -> [FixtureCase] {
        let found = try cases.filter { $0.op == op }
        guard !found.isEmpty else { throw LoupeError("lucent_render.json has no '\(op)' case") }
        return found
    }

    /// The largest elementwise |a - b|, or infinity when the shapes differ.
    static func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
        guard a.shape == b.shape else { return .infinity }
        return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    /// Asserts `actual` matches `expected` within `tolerance` and reports the largest difference.
    func check(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ label: String,
               file: StaticString = #filePath, line: UInt = #line) {
        let difference = Self.maxDifference(actual, expected)
        print("lucent parity \(label): max |difference| \(difference) (shape \(describe(shape: expected.shape)))")
        XCTAssertLessThanOrEqual(difference, tolerance, "\(label): shape \(describe(shape: actual.shape)) vs \(describe(shape: expected.shape))",
                                 file: file, line: line)
    }

    /// Asserts that `changed` differs from `reference` by more than `tolerance` somewhere.
    func assertSensitive(_ changed: Tensor, _ reference: Tensor, tolerance: Float, _ label: String,
                         file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertGreaterThan(Self.maxDifference(changed, reference), tolerance, "\(label): the check cannot fail",
                             file: file, line: line)
    }

    /// `tensor` with `delta` added to element `index` (flat).
    static func perturbed(_ tensor: Tensor, at index: Int, by delta: Float) throws -> Tensor {
        var values = tensor.scalars
        values[index] += delta
        return try Tensor(shape: tensor.shape, scalars: values)
    }

    // MARK: Pure functions

    /// `to_valid_rgb(fft_image(shape), decorrelate)` from the stored spectrum.
    func testFourierImageMatchesLucent() throws {
        for c in try Self.cases("fourier") {
            let shape = try XCTUnwrap(c.ints("shape")), decorrelate = try XCTUnwrap(c.bool("decorrelate"))
            let spectrum = try c.tensor("spectrum"), expected = try c.tensor("image")
            func render(_ spectrum: Tensor) throws -> Tensor {
                try ImageParameterization(.fourier, shape: shape, parameter: spectrum, decorrelate: decorrelate).render()
            }
            check(try render(spectrum), expected, tolerance: Self.exact, c.name)
            // The lowest and the highest vertical frequency of the first channel, real part.
            let rows = shape[2], columns = shape[3] / 2 + 1
            for index in [0, (rows / 2 * columns) * 2] {
                assertSensitive(try render(try Self.perturbed(spectrum, at: index, by: 0.01)), expected,
                                tolerance: Self.exact, "\(c.name) spectrum[\(index)] + 0.01")
            }
        }
    }

    /// lucent's `_linear_decorrelate_color`: `x.permute(0, 2, 3, 1) @ matrix.T`.
    func testColorDecorrelationMatchesLucent() throws {
        for c in try Self.cases("decorrelate") {
            let x = try c.tensor("x"), expected = try c.tensor("out")
            check(try ColorDecorrelation.apply(x), expected, tolerance: Self.exact, c.name)
            // The matrix is not symmetric: its transpose (the inverse's role mixed up) differs.
            assertSensitive(try ColorDecorrelation.apply(x, inverse: true), expected, tolerance: Self.exact, "\(c.name) inverse")
            assertSensitive(try ColorDecorrelation.apply(try Self.perturbed(x, at: 0, by: 0.01)), expected,
                            tolerance: Self.exact, "\(c.name) perturbed input")
        }
    }

    /// `pad(12, mode="constant", constant_value=0.5)`.
    func testPadMatchesLucent() throws {
        for c in try Self.cases("pad") {
            let width = try XCTUnwrap(c.int("width")), value = try XCTUnwrap(c.float("value"))
            let x = try c.tensor("x"), expected = try c.tensor("out")
            var generator = RandomGenerator(seed: 0)
            check(try RandomTransform.pad(width, mode: .constant, value: value)(x, generator: &generator), expected,
                  tolerance: Self.exact, c.name)
            assertSensitive(try RandomTransform.pad(width, mode: .constant, value: 0)(x, generator: &generator), expected,
                            tolerance: Self.exact, "\(c.name) value 0")
        }
    }

    /// `jitter(8)` with its draws forced to (dx, dy): kornia's `translate`.
    func testJitterMatchesLucent() throws {
        for c in try Self.cases("translate") {
            let dx = try XCTUnwrap(c.int("dx")), dy = try XCTUnwrap(c.int("dy"))
            let x = try c.tensor("x"), expected = try c.tensor("out")
            check(try ImageGeometry.translated(x, dx: dx, dy: dy), expected, tolerance: Self.exact, c.name)
            assertSensitive(try ImageGeometry.translated(x, dx: dy, dy: dx), expected, tolerance: Self.exact, "\(c.name) swapped")
        }
    }

    /// `random_scale` with its draw forced: resize with `align_corners=True`, lucent's padding.
    func testRandomScaleMatchesLucent() throws {
        for c in try Self.cases("scale") {
            let scale = try XCTUnwrap(c.args["scale"] as? NSNumber).doubleValue
            let x = try c.tensor("x"), expected = try c.tensor("out")
            check(try ImageGeometry.scaled(x, by: scale), expected, tolerance: Self.exact, c.name)
            assertSensitive(try ImageGeometry.scaled(try Self.perturbed(x, at: 0, by: 0.01), by: scale), expected,
                            tolerance: Self.exact, "\(c.name) perturbed input")
        }
    }

    /// `random_rotate` with its draw forced: kornia's `get_rotation_matrix2d` and `warp_affine`.
    func testRandomRotateMatchesLucent() throws {
        for c in try Self.cases("rotate") {
            let degrees = try XCTUnwrap(c.args["degrees"] as? NSNumber).doubleValue
            let x = try c.tensor("x"), expected = try c.tensor("out")
            check(try ImageGeometry.rotated(x, degrees: degrees), expected, tolerance: Self.exact, c.name)
            assertSensitive(try ImageGeometry.rotated(x, degrees: -degrees), expected, tolerance: Self.exact, "\(c.name) mirrored")
        }
    }

    /// `objectives.diversity(layer)` on a fixed [3, C, H, W] activation.
    func testDiversityMatchesLucent() throws {
        for c in try Self.cases("diversity") {
            let layer = try XCTUnwrap(c.string("layer"))
            let a = try c.tensor("activation"), expected = try c.tensor("value")
            let objective = Objective.diversity(layer)
            check(try objective([layer: a]).reshaped([1]), expected, tolerance: Self.exact, c.name)
            assertSensitive(try objective([layer: try Self.perturbed(a, at: 0, by: 1)]).reshaped([1]), expected,
                            tolerance: Self.exact, "\(c.name) perturbed activation")
        }
    }

    // MARK: render_vis

    static func demoModel(_ name: String) throws -> Module {
        let path = Fixtures.directory.appendingPathComponent("../../../Examples/models/\(name).safetensors").standardized.path
        return try loadModel(path, architectures: .loupeModels)
    }

    /// `render_vis(model, objective, param_f, transforms=[], preprocess=False,
    /// fixed_image_size=size, thresholds=(10,))` from the stored spectrum: the 10 losses and the
    /// image after the last step.
    func checkRender(_ name: String, objective: (FixtureCase) throws -> Objective) throws {
        let c = try XCTUnwrap(try Self.cases("render").first { $0.name == name }, "no case \(name)")
        let shape = try XCTUnwrap(c.ints("shape")), decorrelate = try XCTUnwrap(c.bool("decorrelate"))
        let model = try Self.demoModel(try XCTUnwrap(c.string("model")))
        let spectrum = try c.tensor("spectrum"), losses = try c.tensor("losses"), expected = try c.tensor("image")
        var options = VisualizationOptions()
        options.steps = try XCTUnwrap(c.int("steps"))
        options.learningRate = try XCTUnwrap(c.args["lr"] as? NSNumber).doubleValue
        options.batch = shape[0]
        options.parameterization = .fourier
        options.decorrelate = decorrelate
        options.transforms = nil
        options.normalization = nil
        options.inputSize = [shape[2], shape[3]]
        options.initialParameter = spectrum
        options.label = "lucent parity \(name)"
        let result = try visualize(model, objective: try objective(c), channels: shape[1], size: [shape[2], shape[3]],
                                   options: options)
        check(try Tensor(shape: [result.losses.count], scalars: result.losses), losses, tolerance: Self.optimised, "\(name) losses")
        check(result.images, expected, tolerance: Self.optimised, "\(name) image after \(options.steps) steps")
        // The optimisation moves the loss and the image by far more than the tolerance.
        let initial = try ImageParameterization(.fourier, shape: shape, parameter: spectrum, decorrelate: decorrelate).render()
        assertSensitive(initial, expected, tolerance: Self.optimised, "\(name) image before the steps")
        let first = try Tensor(shape: [losses.count], scalars: [Float](repeating: losses.scalars[0], count: losses.count))
        assertSensitive(first, losses, tolerance: Self.optimised, "\(name) constant losses")
    }

    /// vit-color, decorrelated colour, `-hook("blocks_2_mlp_fc1")[..., 7].mean()`.
    func testRenderVisViTMatchesLucent() throws {
        try checkRender("render_vit") { c in
            Objective.channel(try XCTUnwrap(c.string("layer")), try XCTUnwrap(c.int("channel")),
                              channelAxis: try XCTUnwrap(c.int("channel_axis")))
        }
    }

    /// cnn-fmnist, one channel, `channel("layer2", 5)`.
    func testRenderVisCNNMatchesLucent() throws {
        try checkRender("render_cnn") { c in
            Objective.channel(try XCTUnwrap(c.string("layer")), try XCTUnwrap(c.int("channel")),
                              channelAxis: try XCTUnwrap(c.int("channel_axis")))
        }
    }
}
