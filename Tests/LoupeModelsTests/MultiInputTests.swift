import XCTest
import LoupeModels
import LoupeTestSupport
import LoupeModelsTestSupport
import LoupeTensor

/// Modules with several inputs and record outputs: every input and every record field is a site
/// that capture, patch, replace and activation gradients reach, with the usual path patterns.
final class MultiInputTests: XCTestCase {
    let dim = 6, conditionDim = 3, classes = 4

    func makeModel(seed: UInt64 = 7) throws -> ConditionedTestNet {
        try ConditionedTestNet(dim: dim, conditionDim: conditionDim, classes: classes, seed: seed)
    }

    func makeInputs() throws -> (x: Tensor, c: Tensor) {
        var generator = RandomGenerator(seed: 11)
        return (try Tensor.normal([2, 5, dim], generator: &generator), try Tensor.normal([2, conditionDim], generator: &generator))
    }

    func inputs(_ x: Tensor, _ c: Tensor, gain: Double? = nil) -> ModuleInputs {
        var entries: [(name: String, value: ModuleValue)] = [("x", .tensor(x)), ("c", .tensor(c))]
        if let gain { entries.append(("gain", .number(gain))) }
        return ModuleInputs(entries)
    }

    func testForwardMatchesTheDirectComputationAndReturnsARecord() throws {
        let model = try makeModel()
        let (x, c) = try makeInputs()
        let output = try model(inputs: inputs(x, c, gain: 2))
        let expected = try model.reference(x: x, c: c, gain: 2)
        assertClose(try XCTUnwrap(output["logits"]).tensor("logits"), expected.logits, rtol: 1e-5, atol: 1e-5)
        assertClose(try XCTUnwrap(output["features"]).tensor("features"), expected.features, rtol: 1e-5, atol: 1e-5)
        guard case .list(let perBlock)? = output["per_block"] else { return XCTFail("per_block is not a list: \(output.kind)") }
        XCTAssertEqual(perBlock.count, 2)
        XCTAssertEqual(output.kind, "record {logits, features, per_block}")
        XCTAssertThrowsError(try model(x)) { error in
            XCTAssertTrue("\(error)".contains("takes one tensor input") || "\(error)".contains("missing input 'c'"), "\(error)")
        }
    }

    func testBindingPositionalAndNamedInputs() throws {
        let model = try makeModel()
        let (x, c) = try makeInputs()
        let bound = try ModuleInputs.bind([.tensor(x)], [("gain", .number(3)), ("c", .tensor(c))],
                                          to: model.inputSignature, callee: "model")
        XCTAssertEqual(bound.entries.map(\.name), ["x", "c", "gain"], "declared order, whatever the call's order")
        func message(_ body: () throws -> ModuleInputs) -> String {
            do { _ = try body(); return "no error" } catch { return "\(error)" }
        }
        XCTAssertEqual(message { try ModuleInputs.bind([.tensor(x)], [], to: model.inputSignature, callee: "model") },
                       "model: missing input 'c' (inputs: x, c, gain)")
        XCTAssertEqual(message { try ModuleInputs.bind([.tensor(x)], [("t", .tensor(c))], to: model.inputSignature, callee: "model") },
                       "model: no input named 't' (inputs: x, c, gain)")
        XCTAssertEqual(message { try ModuleInputs.bind([.tensor(x)], [("x", .tensor(c))], to: model.inputSignature, callee: "model") },
                       "model: input 'x' given twice")
        XCTAssertEqual(message { try ModuleInputs.bind(Array(repeating: .tensor(x), count: 4), [], to: model.inputSignature, callee: "model") },
                       "model: takes 3 inputs (x, c, gain), got 4 positional arguments")
    }

    func testEveryInputAndRecordFieldIsASite() throws {
        let model = try makeModel()
        let (x, c) = try makeInputs()
        let paths = try activationPaths(model, inputs: inputs(x, c))
        for path in ["input", "input.x", "input.c", "embed.input", "embed", "cond",
                     "blocks.0.input", "blocks.0.input.x", "blocks.0.input.c", "blocks.0.scale", "blocks.0.modulated",
                     "blocks.0", "blocks.1.input.c", "head", "output", "output.logits", "output.features",
                     "output.per_block", "output.per_block.0", "output.per_block.1"] {
            XCTAssertTrue(paths.contains(path), "missing site \(path) in \(paths)")
        }
        XCTAssertFalse(paths.contains("input.gain"), "a number is not an activation site")
        let acts = try trace(model, inputs: inputs(x, c, gain: 0.5), capture: ["input.c", "blocks.*.input.c", "blocks.1.input", "output"]).activations
        XCTAssertEqual(acts["input.c"]?.scalars, c.scalars)
        let condition = try NN.linear(c, weight: model.embed.weight.value, bias: model.embed.bias?.value)
        assertClose(try XCTUnwrap(acts["blocks.0.input.c"]), condition, rtol: 1e-6, atol: 1e-6)
        assertClose(try XCTUnwrap(acts["blocks.1.input.c"]), condition, rtol: 1e-6, atol: 1e-6)
        XCTAssertNotNil(acts["blocks.1.input.x"], "a pattern naming the record of inputs captures each input")
        XCTAssertNil(acts["blocks.0.input.x"])
        XCTAssertEqual(Set(acts.keys.filter { $0.hasPrefix("output") }),
                       ["output.logits", "output.features", "output.per_block.0", "output.per_block.1"])
        assertClose(try XCTUnwrap(acts["output.logits"]), try model.reference(x: x, c: c, gain: 0.5).logits, rtol: 1e-5, atol: 1e-5)
        XCTAssertThrowsError(try trace(model, inputs: inputs(x, c), capture: ["blocks.0.input.t"])) { error in
            XCTAssertTrue("\(error)".contains("capture: no activation at path 'blocks.0.input.t'"), "\(error)")
        }
    }

    func testPatchingAConditioningInputOfOneBlock() throws {
        let model = try makeModel()
        let (x, c) = try makeInputs()
        let zero = try Tensor.zeros([2, dim])
        let patched = try trace(model, inputs: inputs(x, c), patches: ["blocks.1.input.c": .tensor(zero)]).output
        let expected = try model.reference(x: x, c: c, blockCondition: [1: zero])
        assertClose(try XCTUnwrap(patched["logits"]).tensor("logits"), expected.logits, rtol: 1e-5, atol: 1e-5)
        let unpatched = try model.reference(x: x, c: c)
        XCTAssertGreaterThan(try (expected.logits - unpatched.logits).abs().max().item(), 1e-3, "the patch changes the output")

        // A record field is patched like any activation; the record itself is not a tensor.
        let doubled = try trace(model, inputs: inputs(x, c), patches: ["output.logits": .transform { try $0 * 2 }]).output
        assertClose(try XCTUnwrap(doubled["logits"]).tensor("logits"), try unpatched.logits * 2, rtol: 1e-5, atol: 1e-5)
        XCTAssertThrowsError(try trace(model, inputs: inputs(x, c), patches: ["blocks.0.input": .zeros])) { error in
            XCTAssertTrue("\(error)".contains("'blocks.0.input' is a record {x, c}") && "\(error)".contains("blocks.0.input.x"), "\(error)")
        }
        // Patterns reach inputs of every block.
        let both = try trace(model, inputs: inputs(x, c), patches: ["blocks.*.input.c": .tensor(zero)]).output
        let expectedBoth = try model.reference(x: x, c: c, blockCondition: [0: zero, 1: zero])
        assertClose(try XCTUnwrap(both["logits"]).tensor("logits"), expectedBoth.logits, rtol: 1e-5, atol: 1e-5)
    }

    func testReplacingATwoInputBlock() throws {
        let model = try makeModel()
        let other = try makeModel(seed: 99)
        let (x, c) = try makeInputs()
        let edited = try replace(model, at: "blocks.1", with: other.blocks[1])
        XCTAssertEqual(edited.inputSignature, model.inputSignature)
        let output = try edited(inputs: inputs(x, c))
        // The direct computation with block 1's weights swapped.
        let swapped = try makeModel()
        for ((_, mine), (_, theirs)) in zip(swapped.blocks[1].namedParameters(), other.blocks[1].namedParameters()) {
            mine.value = theirs.value
        }
        assertClose(try XCTUnwrap(output["logits"]).tensor("logits"), try swapped.reference(x: x, c: c).logits, rtol: 1e-5, atol: 1e-5)
        let acts = try trace(edited, inputs: inputs(x, c), capture: ["blocks.1.input.c", "blocks.1.fc"]).activations
        XCTAssertNotNil(acts["blocks.1.input.c"], "the replacement's inputs are sites at the same path")
        XCTAssertNotNil(acts["blocks.1.fc"])

        let single = try replace(model, at: "blocks.0", with: Identity())
        XCTAssertThrowsError(try single(inputs: inputs(x, c))) { error in
            XCTAssertTrue("\(error)".contains("Identity: takes one tensor input, got (x: tensor [2, 5, 6], c: tensor [2, 6])"), "\(error)")
        }
    }

    /// d(sum of logits * w) / d(activation) at every tensor site, against central differences
    /// taken by patching that site.
    func testActivationGradientsAtEverySiteMatchFiniteDifferences() throws {
        let model = try makeModel()
        let (x, c) = try makeInputs()
        var generator = RandomGenerator(seed: 5)
        let weights = try Tensor.normal([2, classes], generator: &generator)
        func objective(_ output: ModuleValue) throws -> Tensor {
            try (try XCTUnwrap(output["logits"]).tensor("logits") * weights).sum()
        }
        let (output, acts) = try GradMode.withGrad {
            try trace(model, inputs: inputs(x, c), capture: ["**"], differentiable: true)
        }
        let sites = acts.keys.sorted().filter { !$0.hasPrefix("output") || $0 == "output.logits" }
        XCTAssertTrue(sites.contains("input.c") && sites.contains("blocks.1.input.c") && sites.contains("blocks.0.modulated"))
        let value = try GradMode.withGrad { try objective(output) }
        let grads = try Autograd.gradients(of: value, wrt: sites.map { acts[$0]! })
        let eps: Float = 1e-2
        for (site, grad) in zip(sites, grads) {
            let activation = acts[site]!.detached()
            for index in [0, activation.count / 2, activation.count - 1] {
                func shifted(_ delta: Float) throws -> Float {
                    var scalars = activation.scalars
                    scalars[index] += delta
                    let replacement = try Tensor(shape: activation.shape, scalars: scalars)
                    let out = try trace(model, inputs: inputs(x, c), patches: [site: .tensor(replacement)]).output
                    return try objective(out).item()
                }
                let numeric = (try shifted(eps) - shifted(-eps)) / (2 * eps)
                let analytic = grad.scalars[index]
                XCTAssertEqual(analytic, numeric, accuracy: 2e-2 * max(1, abs(numeric)), "d objective / d \(site)[\(index)]")
            }
        }
    }

    func testModuleShapesListEveryInput() throws {
        let model = try makeModel()
        let (x, c) = try makeInputs()
        let shapes = try moduleShapes(model, inputs: inputs(x, c))
        let root = try XCTUnwrap(shapes[""])
        XCTAssertEqual(root.inputs.map(\.name), ["x", "c"])
        XCTAssertEqual(root.inputs.map(\.shape), [[2, 5, dim], [2, conditionDim]])
        XCTAssertNil(root.output, "the root returns a record")
        let block = try XCTUnwrap(shapes["blocks.1"])
        XCTAssertEqual(block.inputs.map(\.name), ["x", "c"])
        XCTAssertEqual(block.inputs.map(\.shape), [[2, 5, dim], [2, dim]])
        XCTAssertEqual(block.output, [2, 5, dim])
        XCTAssertEqual(shapes["blocks.1.scale"]?.inputs.map(\.shape), [[2, dim]])
    }
}
