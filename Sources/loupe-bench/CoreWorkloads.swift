import CBLAS
import Foundation
import LoupeTensor

/// Workloads on the tensor core: matmul against direct sgemm, and memcpy bandwidth.
enum CoreWorkloads {
    static func random(_ shape: [Int], seed: UInt64) throws -> Tensor {
        var rng = RandomGenerator(seed: seed)
        return try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextNormal() })
    }

    /// Loupe `matmul` vs `cblas_sgemm` on the same square matrices, interleaved.
    static func matmul(_ n: Int) throws -> BenchRow {
        let a = try random([n, n], seed: 1), b = try random([n, n], seed: 2)
        let c = Tensor.uninitialized([n, n])
        let pa = a.storage.pointer, pb = b.storage.pointer, pc = c.storage.pointer
        let loupe: () throws -> Void = { _ = try a.matmul(b) }
        let direct: () throws -> Void = { BLASThreads.withOpenBLASThreads {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n),
                        1, pa, Int32(n), pb, Int32(n), 0, pc, Int32(n))
        } }
        let times = try withExtendedLifetime((a, b, c)) { try Timing.blockMedians([loupe, direct]) }
        let flops = 2 * Double(n) * Double(n) * Double(n)
        return BenchRow(name: "matmul \(n)", unit: .gflops, loupe: flops / times[0] / 1e9,
                        baseline: flops / times[1] / 1e9, baselineName: "sgemm")
    }

    /// GB/s of copying `floats` floats with memcpy, counting bytes read plus written.
    static func memcpyBandwidth(floats: Int) throws -> Double {
        let bytes = floats * MemoryLayout<Float>.stride
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let target = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { source.deallocate(); target.deallocate() }
        memset(source, 1, bytes)
        memset(target, 0, bytes)
        let seconds = try Timing.median { memcpy(target, source, bytes) }
        return 2 * Double(bytes) / seconds / 1e9
    }

    /// A bandwidth row: `body` moves `floats` floats (read plus written) and is compared with
    /// memcpy of the same number of bytes.
    static func bandwidth(_ name: String, floats: Int, _ body: () throws -> Void) throws -> BenchRow {
        let seconds = try Timing.median(body)
        return BenchRow(name: name, unit: .gbps, loupe: Double(floats * 4) / seconds / 1e9,
                        baseline: try memcpyBandwidth(floats: floats / 2), baselineName: "memcpy")
    }

    /// Broadcasting add of two equal shapes (reads 2n, writes n floats).
    static func add() throws -> BenchRow {
        let x = try random([1576, 3072], seed: 10), y = try random([1576, 3072], seed: 11)
        return try bandwidth("add [1576, 3072]", floats: 3 * x.count) { _ = try x + y }
    }

    /// Materialising a transposed view (reads and writes n floats).
    static func transposeCopy() throws -> BenchRow {
        let x = try random([1576, 3072], seed: 12).transposed()
        return try bandwidth("transpose copy [3072, 1576]", floats: 2 * x.count) { _ = x.contiguousCopy() }
    }

    /// Shapes of one ViT-B block's weights and biases (7.1M values).
    static let blockParameterShapes: [[Int]] = [[2304, 768], [2304], [768, 768], [768], [3072, 768], [3072],
                                                [768, 3072], [768], [768], [768], [768], [768]]

    /// One AdamW step over a ViT-B block's parameters with gradients present: per element it
    /// reads parameter, gradient and both moments and writes parameter and moments (7 floats).
    static func adamWStep() throws -> BenchRow {
        let parameters = try blockParametersWithGradients()
        let optimizer = try AdamW(parameters: parameters, learningRate: 1e-4)
        let total = parameters.reduce(0) { $0 + $1.count }
        return try bandwidth("adamw step vit-b block (7.1M)", floats: 7 * total) { try optimizer.step() }
    }

    /// One SGD step with momentum and weight decay: reads parameter, gradient and buffer,
    /// writes parameter and buffer (5 floats per element).
    static func sgdStep() throws -> BenchRow {
        let parameters = try blockParametersWithGradients()
        let optimizer = try SGD(parameters: parameters, learningRate: 1e-4, momentum: 0.9, weightDecay: 1e-4)
        let total = parameters.reduce(0) { $0 + $1.count }
        return try bandwidth("sgd momentum step vit-b block (7.1M)", floats: 5 * total) { try optimizer.step() }
    }

    static func blockParametersWithGradients() throws -> [Tensor] {
        var seed: UInt64 = 40
        var parameters: [Tensor] = []
        for shape in blockParameterShapes {
            seed += 1
            let p = try random(shape, seed: seed).requiringGrad()
            try p.backward(seed: try random(shape, seed: seed + 100))
            parameters.append(p)
        }
        return parameters
    }
}
