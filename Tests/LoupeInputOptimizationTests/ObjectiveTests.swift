import LoupeModels
import LoupeTensor
import XCTest
@testable import LoupeInputOptimization
import LoupeTestSupport

final class ObjectiveTests: XCTestCase {
    /// Activations `[2, 3, 2, 2]` with values 0..<24.
    func maps() throws -> Tensor { try Tensor(shape: [2, 3, 2, 2], scalars: (0..<24).map(Float.init)) }

    /// Hand values: channel 1 holds 4...7 and 16...19 (mean 11.5); the centre of a 2 x 2 map is
    /// (1, 1), so neuron(1) reads 7 and 19.
    func testUnitObjectivesHandValues() throws {
        let acts = ["l": try maps()]
        XCTAssertEqual(try Objective.channel("l", 1)(acts).item(), -11.5)
        XCTAssertEqual(try Objective.channel("l", -1, batch: 1)(acts).item(), -21.5)
        XCTAssertEqual(try Objective.neuron("l", 1)(acts).item(), -13)
        XCTAssertEqual(try Objective.neuron("l", 2, position: [0, 1], batch: 0)(acts).item(), -9)
        // direction (1, 0, -1): channel 0 minus channel 2 is -8 everywhere.
        XCTAssertEqual(try Objective.direction("l", Tensor([1, 0, -1]))(acts).item(), 8)
        let squares = (0..<24).map { Float($0 * $0) }.reduce(0, +) / 24
        XCTAssertEqual(try Objective.layer("l")(acts).item(), -squares, accuracy: 1e-3)
        XCTAssertEqual(try Objective.meanSquaredError("l", target: try Tensor.zeros([2, 3, 2, 2]))(acts).item(), squares, accuracy: 1e-3)
    }

    /// Tokens `[B, T, D]` with channels last: the centre token is T / 2.
    func testTokenActivationsWithChannelsLast() throws {
        let tokens = try Tensor(shape: [1, 3, 2], scalars: [0, 1, 2, 3, 4, 5])
        let acts = ["t": tokens]
        XCTAssertEqual(try Objective.channel("t", 1, channelAxis: -1)(acts).item(), -3)
        XCTAssertEqual(try Objective.neuron("t", 0, channelAxis: -1)(acts).item(), -2)
        XCTAssertEqual(try Objective.direction("t", Tensor([1, 1]), channelAxis: -1)(acts).item(), -5)
    }

    func testCombinationsAddScaleAndNegate() throws {
        let acts = ["l": try maps(), "m": try maps() * 2]
        let a = Objective.channel("l", 0), b = Objective.neuron("m", 2), c = Objective.layer("l")
        let combined = 2 * a - b + c / 4 + 1
        let expected = try 2 * a(acts).item() - b(acts).item() + c(acts).item() / 4 + 1
        XCTAssertEqual(try combined(acts).item(), expected, accuracy: 1e-3)
        XCTAssertEqual(combined.layers, ["l", "m"])
        XCTAssertEqual(try (-a)(acts).item(), -(try a(acts).item()))
        XCTAssertEqual(try Objective.sum([a, b, a])(acts).item(), try 2 * a(acts).item() + b(acts).item(), accuracy: 1e-4)
        XCTAssertEqual(try Objective.sum([])([:]).item(), 0)
    }

    func testGradientsMatchFiniteDifferences() throws {
        var generator = RandomGenerator(seed: 8)
        let x = try Tensor.uniform([2, 3, 3, 4], low: -1, high: 1, generator: &generator)
        let objective = 0.5 * Objective.channel("l", 2) - Objective.neuron("l", 1, position: [2, 1])
            + Objective.direction("l", Tensor([0.5, -1, 2])) + 3 * Objective.layer("l", batch: 1)
        try assertGradientsMatchFiniteDifferences([x], step: 1e-2, rtol: 1e-2, atol: 1e-4) { inputs in
            try objective(["l": inputs[0]])
        }
    }

    /// On a model: the channel objective of a convolution's output, through the input.
    func testEvaluateOnModelIsDifferentiableInTheInput() throws {
        var generator = RandomGenerator(seed: 6)
        let conv = try Conv2d(1, 2, kernel: 3, padding: 1)
        conv.weight.value = try Tensor.uniform([2, 1, 3, 3], low: -1, high: 1, generator: &generator)
        let model = Sequential([conv, ReLU()])
        let x = try Tensor.uniform([1, 1, 5, 5], generator: &generator)
        let objective = Objective.channel("0", 1)
        let expected = try -capture(model, x, ["0"])["0"]!.sliced(axis: 1, start: 1, end: 2).mean().item()
        XCTAssertEqual(try objective.evaluate(model, x).item(), expected, accuracy: 1e-5)
        let leaf = x.requiringGrad()
        let gradients = try Autograd.gradients(of: try GradMode.withGrad { try objective.evaluate(model, leaf) }, wrt: [leaf])
        XCTAssertTrue(gradients[0].scalars.contains { $0 != 0 })
        XCTAssertThrowsError(try Objective.channel("9", 0).evaluate(model, x)) { error in
            XCTAssertTrue("\(error)".contains("no activation at path '9'"), "\(error)")
        }
    }

    /// Several activations from one pass, which stops after the last one needed.
    func testActivationsAtSeveralPaths() throws {
        var generator = RandomGenerator(seed: 7)
        let conv = try Conv2d(1, 2, kernel: 3, padding: 1)
        conv.weight.value = try Tensor.uniform([2, 1, 3, 3], low: -1, high: 1, generator: &generator)
        let model = Sequential([conv, ReLU(), Identity()])
        let x = try Tensor.uniform([2, 1, 4, 4], generator: &generator)
        let found = try activations(model, x, at: ["1", "0"])
        let reference = try capture(model, x, ["0", "1"])
        XCTAssertEqual(found.keys.sorted(), ["0", "1"])
        for path in ["0", "1"] { XCTAssertEqual(found[path]?.scalars, reference[path]?.scalars, path) }
        XCTAssertEqual(try activation(model, x, at: "1").scalars, reference["1"]?.scalars)
        XCTAssertThrowsError(try activations(model, x, at: ["*"])) { error in
            XCTAssertTrue("\(error)".contains("must be one activation path, not a pattern"), "\(error)")
        }
        XCTAssertEqual(try activations(model, x, at: []).count, 0)
    }

    func testErrors() throws {
        let acts = ["l": try maps()]
        XCTAssertThrowsError(try Objective.channel("l", 3)(acts)) { error in
            XCTAssertTrue("\(error)".contains("channel 3 is out of range for the 3 channels of activation [2, 3, 2, 2] at 'l'"), "\(error)")
        }
        XCTAssertThrowsError(try Objective.neuron("l", 0, position: [1])(acts)) { error in
            XCTAssertTrue("\(error)".contains("position [1] needs 2 indices"), "\(error)")
        }
        XCTAssertThrowsError(try Objective.direction("l", Tensor([1, 2]))(acts)) { error in
            XCTAssertTrue("\(error)".contains("vector [2] does not match the 3 channels"), "\(error)")
        }
        XCTAssertThrowsError(try Objective.channel("x", 0)(acts)) { error in
            XCTAssertTrue("\(error)".contains("no activation for layer 'x'"), "\(error)")
        }
    }
}
