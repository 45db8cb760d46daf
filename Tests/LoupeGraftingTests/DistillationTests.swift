import XCTest
import LoupeGrafting
import LoupeModels
import LoupeTensor
import LoupeTestSupport

/// Grafting and activation distillation on a small denoiser whose operators are linear maps: a new
/// linear operator regressed with L2 on the teacher's captured pairs can match it exactly, so the
/// distilled student must reproduce the teacher; the teacher and the student's other weights must
/// not change.
final class DistillationTests: XCTestCase {
    static func data(count: Int = 32, channels: Int = 2) throws -> (Tensor, [Int]) {
        var generator = RandomGenerator(seed: 11)
        let images = try Tensor.uniform([count, channels, 3, 3], low: -1, high: 1, generator: &generator)
        return (images, (0..<count).map { $0 % 3 })
    }

    func testGraftCopiesTheModelAndReplacesOnlyTheNamedOperators() throws {
        let teacher = try TinyBlockDenoiser(channels: 2, dim: 8, depth: 3, classes: 3)
        let before = teacher.stateDict()
        let grafted = try graft(teacher, paths: ["blocks.0.attn", "blocks.2.attn"], architectures: try TinyBlockDenoiser.catalog) { _, replaced in
            XCTAssertTrue(replaced is Linear)
            return try Linear(8, 8)
        }
        XCTAssertEqual(Set(grafted.replacements.keys), ["blocks.0.attn", "blocks.2.attn"])
        XCTAssertFalse(grafted.base === teacher)
        // Shared weights are copies: changing the graft's embed leaves the teacher's alone.
        let embed = try XCTUnwrap(grafted.namedParameters().first { $0.path == "embed.weight" }).parameter
        embed.value = try embed.value + 1
        XCTAssertEqual(teacher.stateDict()["embed.weight"]!.scalars, before["embed.weight"]!.scalars)
        XCTAssertThrowsError(try graft(teacher, paths: ["blocks.7.attn"], architectures: try TinyBlockDenoiser.catalog) { _, _ in try Linear(8, 8) }) {
            XCTAssertTrue("\($0)".contains("no module at 'blocks.7.attn'"), "\($0)")
        }
    }

    func testDistillingLinearOperatorsReproducesTheTeacher() throws {
        // Eight channels embedded in eight dimensions: the operators' inputs span their space, so
        // the regression has one solution, the teacher's own operator.
        // The embedding is near the identity and the operators small, so the residual stream (the
        // operators' inputs) stays well conditioned and the solution is well determined.
        let teacher = try TinyBlockDenoiser(channels: 8, dim: 8, depth: 3, classes: 3)
        var generator = RandomGenerator(seed: 5)
        for (path, parameter) in teacher.namedParameters() {
            if path == "embed.weight" {
                parameter.value = try Tensor.eye(8) + Tensor.normal([8, 8], std: 0.05, generator: &generator)
            } else if path.hasSuffix("attn.weight") {
                parameter.value = try Tensor.normal([8, 8], std: 0.2, generator: &generator)
            }
        }
        let teacherState = teacher.stateDict()
        let student = try graft(teacher, paths: ["blocks.0.attn", "blocks.2.attn"], architectures: try TinyBlockDenoiser.catalog) { _, _ in
            let op = try Linear(8, 8)
            for (_, p) in op.namedParameters() { p.value = try Tensor.normal(p.value.shape, std: 0.3, generator: &generator) }
            return op
        }
        let studentFrozen = student.stateDict().filter { !$0.key.contains("attn") || $0.key.contains("blocks.1") }
        let (images, labels) = try Self.data(channels: 8)
        var options = DistillationOptions()
        options.samples = 96
        options.epochs = 300
        options.batchSize = 32
        options.learningRate = 0.02
        options.loss = .l2
        options.captureBatch = 40
        let distillation = try OperatorDistillation(student: student, teacher: teacher, diffusion: try GaussianDiffusion.dit(),
                                                    images: images, labels: labels, nullClass: 3, options: options)
        XCTAssertEqual(distillation.paths, ["blocks.0.attn", "blocks.2.attn"])
        let pairs = try distillation.capture()
        XCTAssertEqual(pairs["blocks.0.attn"]?.inputs.shape, [96, 9, 8])
        XCTAssertEqual(pairs["blocks.2.attn"]?.outputs.shape, [96, 9, 8])
        // The pairs are the teacher's operator's inputs and outputs.
        for path in distillation.paths {
            let op = try XCTUnwrap(teacher.module(at: path))
            let pair = try XCTUnwrap(pairs[path])
            assertClose(try op(pair.inputs), pair.outputs, rtol: 1e-5, atol: 1e-5, "\(path) pairs")
        }
        let history = try distillation.train(pairs)
        for path in distillation.paths {
            let losses = try XCTUnwrap(history[path])
            XCTAssertEqual(losses.count, 300)
            XCTAssertLessThan(losses.last!, 1e-5 * losses.first!, "\(path): \(losses.first!) -> \(losses.last!)")
        }
        // The operators are the teacher's (the regression has one solution).
        for path in distillation.paths {
            let learned = try XCTUnwrap(student.replacements[path]).stateDict()
            for (key, value) in learned {
                assertClose(value, teacherState[path + "." + key]!, rtol: 1e-2, atol: 1e-2, "\(path).\(key)")
            }
        }
        // The student now computes the teacher's function.
        let inputs = ModuleInputs([("x", .tensor(images)), ("t", .tensor(Tensor(Array(repeating: 300, count: 32)))),
                                   ("y", .tensor(Tensor(labels.map(Float.init))))])
        let expected = try teacher(inputs: inputs).tensor("teacher")
        assertClose(try student(inputs: inputs).tensor("student"), expected, rtol: 1e-3, atol: 1e-3, "student vs teacher")
        // Nothing else moved.
        for (key, value) in teacher.stateDict() { XCTAssertEqual(value.scalars, teacherState[key]!.scalars, key) }
        let after = student.stateDict()
        for (key, value) in studentFrozen { XCTAssertEqual(after[key]!.scalars, value.scalars, key) }
    }

    func testDistillationInputsAreCheckedWithNamedErrors() throws {
        let teacher = try TinyBlockDenoiser(channels: 2, dim: 4, depth: 2, classes: 3)
        let student = try graft(teacher, paths: ["blocks.1.attn"], architectures: try TinyBlockDenoiser.catalog) { _, _ in try Linear(4, 4) }
        let (images, labels) = try Self.data(count: 4)
        XCTAssertThrowsError(try OperatorDistillation(student: student, teacher: teacher, paths: ["blocks.0.attn"], diffusion: try GaussianDiffusion.dit(),
                                                      images: images, labels: labels, nullClass: 3, options: DistillationOptions())) {
            XCTAssertTrue("\($0)".contains("'blocks.0.attn' is not a grafted operator (grafted: blocks.1.attn)"), "\($0)")
        }
        XCTAssertThrowsError(try OperatorDistillation(student: student, teacher: teacher, diffusion: try GaussianDiffusion.dit(),
                                                      images: images, labels: [0], nullClass: 3, options: DistillationOptions())) {
            XCTAssertTrue("\($0)".contains("one label each"), "\($0)")
        }
    }
}
