import XCTest
import LoupeModels
import LoupeTensor
import LoupeTestSupport

final class InterventionTests: XCTestCase {
    func testCapturePaths() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        let acts = try capture(model, x, ["input", "tokens", "blocks.0.attn.probs", "blocks.0.resid_attn", "blocks.0.resid_mlp",
                                          "blocks.0", "blocks.1.input", "blocks.*.mlp.fc1", "pool", "head", "output"])
        XCTAssertEqual(acts["tokens"]?.shape, [2, 17, 48])
        let probs = try XCTUnwrap(acts["blocks.0.attn.probs"])
        XCTAssertEqual(probs.shape, [2, 3, 17, 17])
        assertClose(try probs.sum(axes: [-1]), try Tensor.ones([2, 3, 17]), rtol: 1e-5, atol: 1e-5, "rows sum to one")
        XCTAssertEqual(acts["blocks.0.resid_mlp"]?.scalars, acts["blocks.0"]?.scalars)
        XCTAssertEqual(acts["blocks.1.input"]?.scalars, acts["blocks.0"]?.scalars)
        XCTAssertEqual(acts["blocks.0.mlp.fc1"]?.shape, [2, 17, 96])
        XCTAssertEqual(acts["blocks.1.mlp.fc1"]?.shape, [2, 17, 96])
        XCTAssertEqual(acts["pool"]?.shape, [2, 48])
        XCTAssertEqual(acts["head"]?.scalars, acts["output"]?.scalars)
        XCTAssertEqual(acts["input"]?.scalars, x.scalars)
        assertClose(acts["output"]!, try c.tensor("logits"), rtol: 1e-4, atol: 1e-5)

        let paths = try activationPaths(model, x)
        for path in ["patch_embed.proj", "patch_embed.input", "blocks.1.attn.q", "blocks.1.attn.heads", "blocks.1.mlp.act", "norm"] {
            XCTAssertTrue(paths.contains(path), path)
        }
        XCTAssertFalse(paths.contains("fc_norm"), "token pooling has no fc_norm")
        XCTAssertFalse(paths.contains("blocks.1.ls1"), "no LayerScale in this model")
    }

    func testDoubleStarPatterns() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        let x = try c.tensor("input")
        let all = try capture(model, x, ["**"])
        XCTAssertEqual(Set(all.keys), Set(try activationPaths(model, x)))
        let block = try capture(model, x, ["blocks.1.**"])
        XCTAssertTrue(block.keys.allSatisfy { $0.hasPrefix("blocks.1") })
        XCTAssertNotNil(block["blocks.1"])
        XCTAssertNotNil(block["blocks.1.attn.probs"])
        XCTAssertNotNil(block["blocks.1.mlp.fc2.input"])
        let probs = try capture(model, x, ["**.probs"])
        XCTAssertEqual(probs.keys.sorted(), ["blocks.0.attn.probs", "blocks.1.attn.probs"])
    }

    func testUnknownPathsAreNamed() throws {
        let (model, c) = try TimmFixtures.model("vit_p8_cls")
        XCTAssertThrowsError(try capture(model, try c.tensor("input"), ["blocks.5.attn"])) { error in
            XCTAssertTrue("\(error)".contains("capture: no activation at path 'blocks.5.attn'") && "\(error)".contains("blocks.0"), "\(error)")
        }
        XCTAssertThrowsError(try patch(model, try c.tensor("input"), ["blocks.0.atn": .zeros])) { error in
            XCTAssertTrue("\(error)".contains("patch: no activation at path 'blocks.0.atn'"), "\(error)")
        }
        XCTAssertThrowsError(try patch(model, try c.tensor("input"), ["blocks.0.attn": .tensor(try Tensor.zeros([3, 17, 48]))])) { error in
            XCTAssertTrue("\(error)".contains("[3, 17, 48]") && "\(error)".contains("[2, 17, 48]"), "\(error)")
        }
        XCTAssertThrowsError(try patch(model, try c.tensor("input"), ["blocks.0.attn": .transform { try $0.sum(axes: [0]) }])) { error in
            XCTAssertTrue("\(error)".contains("transform for 'blocks.0.attn' returned [17, 48]"), "\(error)")
        }
    }

    func testPatchZerosChangesOutputAndIdentityPatchDoesNot() throws {
        let (model, c) = try TimmFixtures.model("vit_p4_avg_ls")
        let x = try c.tensor("input")
        let clean = try forward(model, x)
        let identity = try patch(model, x, ["blocks.1.attn.probs": .transform { $0 }, "blocks.*.resid_attn": .transform { $0 }])
        XCTAssertEqual(identity.scalars, clean.scalars)
        let ablated = try patch(model, x, ["blocks.1.attn": .zeros])
        XCTAssertGreaterThan(zip(ablated.scalars, clean.scalars).map { abs($0 - $1) }.max()!, 1e-3)
        // Zeroing an attention output equals skipping that sub-layer: resid_attn == block input.
        let acts = try trace(model, x, capture: ["blocks.1.input", "blocks.1.resid_attn"], patches: ["blocks.1.attn": .zeros]).activations
        XCTAssertEqual(acts["blocks.1.input"]?.scalars, acts["blocks.1.resid_attn"]?.scalars)
        // A tensor patch broadcasts: replace the pooled features of both images by one vector.
        let pooled = try Tensor.zeros([32])
        let fromZeros = try patch(model, x, ["pool": .tensor(pooled)])
        XCTAssertEqual(Array(fromZeros.scalars.prefix(7)), Array(fromZeros.scalars.suffix(7)))
    }

    func testHeadAblationAcrossBlocksWithAPattern() throws {
        let (model, c) = try TimmFixtures.model("vit_p4_avg_ls")
        let x = try c.tensor("input")
        var seen: [String] = []
        // Zero head 1 of every block: heads are [B, heads, N, headDim].
        let keep = try Tensor(shape: [1, 4, 1, 1], scalars: [1, 0, 1, 1])
        let result = try trace(model, x, capture: ["blocks.*.attn.heads"],
                               patches: ["blocks.*.attn.heads": .transformWithPath { path, heads in
                                   seen.append(path)
                                   return try heads * keep
                               }])
        XCTAssertEqual(seen, ["blocks.0.attn.heads", "blocks.1.attn.heads", "blocks.2.attn.heads"])
        let heads = try XCTUnwrap(result.activations["blocks.2.attn.heads"]).sliced(axis: 1, start: 1, end: 2)
        XCTAssertTrue(heads.scalars.allSatisfy { $0 == 0 })
        XCTAssertNotEqual(result.output.scalars, try forward(model, x).scalars)
    }

    func testGradientWithRespectToCapturedActivationMatchesFiniteDifferences() throws {
        let (model, c) = try TimmFixtures.model("deit3_p16")
        let x = try c.tensor("input")
        let path = "blocks.1.resid_attn"
        var generator = RandomGenerator(seed: 7)
        let weights = try Tensor(shape: [2, 5], scalars: (0..<10).map { _ in generator.nextNormal() })
        func objective(_ logits: Tensor) throws -> Tensor { try (logits * weights).sum() }

        let result = try trace(model, x, capture: [path], differentiable: true)
        let activation = try XCTUnwrap(result.activations[path])
        let analytic = try Autograd.gradients(of: try objective(result.output), wrt: [activation])[0]
        XCTAssertEqual(analytic.shape, [2, 5, 32])

        // The same gradient by patching the activation with a leaf, checked against finite differences.
        try assertGradientsMatchFiniteDifferences([activation.detached()], step: 1e-2, rtol: 2e-2, atol: 2e-3) { xs in
            try objective(try patch(model, x, [path: .tensor(xs[0])]))
        }
        let leaf = activation.detached().requiringGrad()
        let viaPatch = try Autograd.gradients(of: try objective(try patch(model, x, [path: .tensor(leaf)])), wrt: [leaf])[0]
        assertClose(analytic, viaPatch, rtol: 1e-5, atol: 1e-6)
    }

    func testGradientWithRespectToInputMatchesFiniteDifferences() throws {
        let (model, c) = try TimmFixtures.model("vit_p4_avg_ls")
        let x = try c.tensor("input").sliced(axis: 0, start: 0, end: 1).contiguous()
        // A few pixels suffice; the rest of the image is fixed.
        let full = x.scalars
        let chosen = [0, 17, 300, 511, 767]
        let part = Tensor(chosen.map { full[$0] })
        try assertGradientsMatchFiniteDifferences([part], step: 1e-2, rtol: 3e-2, atol: 3e-3) { xs in
            let mask = try Tensor(shape: [768], scalars: (0..<768).map { chosen.contains($0) ? 0 : 1 })
            var scatter = [Float](repeating: 0, count: 768 * 5)
            for (j, i) in chosen.enumerated() { scatter[i * 5 + j] = 1 }
            let placed = try Tensor(shape: [768, 5], scalars: scatter).matmul(xs[0])
            let image = try (x.reshaped([768]) * mask + placed).reshaped([1, 3, 16, 16])
            return try forward(model, image).sum()
        }
    }
}
