import CBLAS
import LoupeTensor
import LoupeModels

/// Rows built from the neural-network ops: conv2d (vs the sgemm of its im2col product),
/// softmax / layer norm / gelu (GB/s vs memcpy of the same bytes) and a ViT-B block forward +
/// backward. Shapes match Scripts/bench_torch.py.
enum ModelWorkloads {
    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        let convs: [(String, Int, Int, Int, Int, Int, Int, Int)] = [
            ("conv2d resnet 3x3 64ch 56x56 b1", 1, 64, 64, 56, 3, 1, 1),
            ("conv2d resnet 3x3 64ch 56x56 b8", 8, 64, 64, 56, 3, 1, 1),
            ("conv2d vit patch 16/16 224 b1", 1, 3, 768, 224, 16, 16, 0),
        ]
        for (name, batch, cin, cout, size, k, stride, pad) in convs {
            try add(name) { try conv(name, batch: batch, cin: cin, cout: cout, size: size, k: k, stride: stride, pad: pad) }
        }
        let backward = "conv2d resnet 3x3 64ch 56x56 b8 fwd+bwd"
        try add(backward) { try convTraining(backward, batch: 8, channels: 64, size: 56) }
        try add("softmax [12, 197, 197]") {
            let x = try CoreWorkloads.random([12, 197, 197], seed: 5)
            return try CoreWorkloads.bandwidth("softmax [12, 197, 197]", floats: 2 * x.count) { _ = try NN.softmax(x, axis: -1) }
        }
        try add("layer_norm [1576, 768]") {
            let x = try CoreWorkloads.random([1576, 768], seed: 6)
            let w = try CoreWorkloads.random([768], seed: 7), b = try CoreWorkloads.random([768], seed: 8)
            return try CoreWorkloads.bandwidth("layer_norm [1576, 768]", floats: 2 * x.count) {
                _ = try NN.layerNorm(x, shape: [768], weight: w, bias: b, eps: 1e-5)
            }
        }
        try add("gelu [1576, 3072]") {
            let x = try CoreWorkloads.random([1576, 3072], seed: 9)
            return try CoreWorkloads.bandwidth("gelu [1576, 3072]", floats: 2 * x.count) { _ = x.gelu() }
        }
        try add("vit-b block fwd+bwd b1") { try ViTBlock().row() }
    }

    /// conv2d forward and backward (input, weight and bias gradients) of a 3x3 stride-1
    /// convolution, GFLOPS against the three sgemms of the same shapes on im2col matrices
    /// (output, weight gradient, column gradient).
    static func convTraining(_ name: String, batch: Int, channels: Int, size: Int) throws -> BenchRow {
        let x = try CoreWorkloads.random([batch, channels, size, size], seed: 3).requiringGrad()
        let w = try CoreWorkloads.random([channels, channels, 3, 3], seed: 4).requiringGrad()
        let bias = try CoreWorkloads.random([channels], seed: 5).requiringGrad()
        let gout = try CoreWorkloads.random([batch, channels, size, size], seed: 6)
        let m = channels, n = batch * size * size, kk = channels * 9
        let a = try CoreWorkloads.random([m, kk], seed: 7), b = try CoreWorkloads.random([kk, n], seed: 8)
        let g = try CoreWorkloads.random([m, n], seed: 9)
        let c = Tensor.uninitialized([kk, n])
        let pa = a.storage.pointer, pb = b.storage.pointer, pg = g.storage.pointer, pc = c.storage.pointer
        let loupe: () throws -> Void = {
            let y = try NN.conv2d(x, weight: w, bias: bias, stride: (1, 1), padding: (1, 1))
            _ = try Autograd.gradients(of: y, wrt: [x, w, bias], seed: gout)
        }
        let gemm: () throws -> Void = { BLASThreads.withOpenBLASThreads {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(kk),
                        1, pa, Int32(kk), pb, Int32(n), 0, pc, Int32(n))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(kk), Int32(n),
                        1, pg, Int32(n), pb, Int32(n), 0, pa, Int32(kk))
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(kk), Int32(n), Int32(m),
                        1, pa, Int32(kk), pg, Int32(n), 0, pc, Int32(n))
        } }
        let times = try withExtendedLifetime((a, b, c, g)) { try Timing.blockMedians([loupe, gemm]) }
        let flops = 3 * 2 * Double(m) * Double(n) * Double(kk)
        return BenchRow(name: name, unit: .gflops, loupe: flops / times[0] / 1e9,
                        baseline: flops / times[1] / 1e9, baselineName: "gemm")
    }

    /// conv2d GFLOPS against one sgemm of the same [cout, cin*k*k] x [cin*k*k, batch*out*out] product.
    static func conv(_ name: String, batch: Int, cin: Int, cout: Int, size: Int, k: Int, stride: Int, pad: Int) throws -> BenchRow {
        let x = try CoreWorkloads.random([batch, cin, size, size], seed: 3)
        let w = try CoreWorkloads.random([cout, cin, k, k], seed: 4)
        let bias = try CoreWorkloads.random([cout], seed: 5)
        let out = (size + 2 * pad - k) / stride + 1
        let m = cout, n = batch * out * out, kk = cin * k * k
        let a = try CoreWorkloads.random([m, kk], seed: 6), b = try CoreWorkloads.random([kk, n], seed: 7)
        let c = Tensor.uninitialized([m, n])
        let pa = a.storage.pointer, pb = b.storage.pointer, pc = c.storage.pointer
        let loupe: () throws -> Void = {
            _ = try NN.conv2d(x, weight: w, bias: bias, stride: (stride, stride), padding: (pad, pad))
        }
        let gemm: () throws -> Void = { BLASThreads.withOpenBLASThreads {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(kk),
                        1, pa, Int32(kk), pb, Int32(n), 0, pc, Int32(n))
        } }
        let times = try withExtendedLifetime((a, b, c)) { try Timing.blockMedians([loupe, gemm]) }
        let flops = 2 * Double(m) * Double(n) * Double(kk)
        return BenchRow(name: name, unit: .gflops, loupe: flops / times[0] / 1e9,
                        baseline: flops / times[1] / 1e9, baselineName: "gemm")
    }
}
