import LoupeTensor
import LoupeModels

/// A ViT-B encoder block (pre-norm, 12 heads, MLP 3072) on 197 tokens, batch 1; the loss is
/// the sum of the output (seed of ones), as `out.sum().backward()` in bench_torch.py.
struct ViTBlock {
    let dim = 768, heads = 12, tokens = 197
    var parameters: [String: Tensor] = [:]
    let x: Tensor

    init() throws {
        var seed: UInt64 = 20
        func param(_ shape: [Int], scale: Float = 0.02) throws -> Tensor {
            seed += 1
            return try (CoreWorkloads.random(shape, seed: seed) * scale).requiringGrad()
        }
        parameters["ln1w"] = try Tensor.ones([dim]).requiringGrad()
        parameters["ln1b"] = try Tensor.zeros([dim]).requiringGrad()
        parameters["ln2w"] = try Tensor.ones([dim]).requiringGrad()
        parameters["ln2b"] = try Tensor.zeros([dim]).requiringGrad()
        for name in ["q", "k", "v", "proj"] {
            parameters[name + "w"] = try param([dim, dim])
            parameters[name + "b"] = try param([dim])
        }
        parameters["fc1w"] = try param([4 * dim, dim])
        parameters["fc1b"] = try param([4 * dim])
        parameters["fc2w"] = try param([dim, 4 * dim])
        parameters["fc2b"] = try param([dim])
        x = try CoreWorkloads.random([1, tokens, dim], seed: 99).requiringGrad()
    }

    func forward() throws -> Tensor {
        let p = parameters
        let headDim = dim / heads
        let h = try NN.layerNorm(x, shape: [dim], weight: p["ln1w"]!, bias: p["ln1b"]!, eps: 1e-5)
        func split(_ name: String) throws -> Tensor {
            try NN.linear(h, weight: p[name + "w"]!, bias: p[name + "b"]!)
                .reshaped([1, tokens, heads, headDim]).permuted([0, 2, 1, 3])
        }
        let q = try split("q"), k = try split("k"), v = try split("v")
        let scores = try q.matmul(k.transposed()) * Float(1 / Double(headDim).squareRoot())
        let attended = try NN.softmax(scores, axis: -1).matmul(v).permuted([0, 2, 1, 3]).reshaped([1, tokens, dim])
        let h1 = try x + NN.linear(attended, weight: p["projw"]!, bias: p["projb"]!)
        let n2 = try NN.layerNorm(h1, shape: [dim], weight: p["ln2w"]!, bias: p["ln2b"]!, eps: 1e-5)
        let hidden = try NN.linear(n2, weight: p["fc1w"]!, bias: p["fc1b"]!).gelu()
        return try h1 + NN.linear(hidden, weight: p["fc2w"]!, bias: p["fc2b"]!)
    }

    func row() throws -> BenchRow {
        let seed = try Tensor.ones([1, tokens, dim])
        let seconds = try Timing.median {
            let out = try forward()
            try out.backward(seed: seed)
            for t in parameters.values { t.node?.zeroGrad() }
            x.node?.zeroGrad()
        }
        return BenchRow(name: "vit-b block fwd+bwd b1", unit: .ms, loupe: seconds * 1e3)
    }
}
