import CBLAS

/// Matrix products on `cblas_sgemm`. Transposed views are passed to BLAS with transpose flags,
/// never copied; batch dimensions broadcast as in NumPy.
extension Tensor {
    /// Matrix product with NumPy/PyTorch `matmul` semantics (1-D operands are promoted and the
    /// promoted axis removed afterwards). Differentiable.
    public func matmul(_ other: Tensor) throws -> Tensor {
        guard rank >= 1, other.rank >= 1 else {
            throw LoupeError("matmul: both operands need at least one dimension, got \(describe(shape: shape)) @ \(describe(shape: other.shape))")
        }
        let a = rank == 1 ? try reshaped([1, shape[0]]) : self
        let b = other.rank == 1 ? try other.reshaped([other.shape[0], 1]) : other
        var product = try Tensor.matmulBatched(a, b)
        if rank == 1 && other.rank == 1 {
            product = try product.reshaped([])
        } else if rank == 1 {
            var s = product.shape; s.remove(at: s.count - 2); product = try product.reshaped(s)
        } else if other.rank == 1 {
            var s = product.shape; s.removeLast(); product = try product.reshaped(s)
        }
        return product
    }

    /// Matrix product of operands of rank >= 2 with broadcast batch dimensions. Differentiable.
    static func matmulBatched(_ a: Tensor, _ b: Tensor) throws -> Tensor {
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let k2 = b.shape[b.rank - 2], n = b.shape[b.rank - 1]
        guard k == k2 else {
            throw LoupeError("matmul: inner dimensions differ: \(describe(shape: a.shape)) @ \(describe(shape: b.shape))")
        }
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        let batch = try broadcastShape(batchA, batchB, op: "matmul")
        let result = try gemm(a, b, batch: batch, m: m, n: n, k: k)
        let sa = a.shape, sb = b.shape
        let needA = a.requiresGrad, needB = b.requiresGrad
        let da = a.detached(), db = b.detached()
        return record(result, op: "matmul", inputs: [a, b]) { grad in
            [needA ? try matmulBatched(grad, db.transposed()).summed(toShape: sa) : nil,
             needB ? try matmulBatched(da.transposed(), grad).summed(toShape: sb) : nil]
        }
    }

    /// How BLAS can read the last two axes of a tensor: (transpose flag, leading dimension), or
    /// nil when a copy is needed.
    private static func blasLayout(_ t: Tensor) -> (CBLAS_TRANSPOSE, Int32)? {
        let r = t.rank
        let rows = t.shape[r - 2], cols = t.shape[r - 1]
        let rs = t.strides[r - 2], cs = t.strides[r - 1]
        if (cs == 1 || cols == 1) && (rs >= Swift.max(cols, 1) || rows == 1) {
            return (CblasNoTrans, Int32(Swift.max(rows == 1 ? cols : rs, 1)))
        }
        if (rs == 1 || rows == 1) && (cs >= Swift.max(rows, 1) || cols == 1) {
            return (CblasTrans, Int32(Swift.max(cols == 1 ? rows : cs, 1)))
        }
        return nil
    }

    private static func gemm(_ a0: Tensor, _ b0: Tensor, batch: [Int], m: Int, n: Int, k: Int) throws -> Tensor {
        let outShape = batch + [m, n]
        let result = Tensor.uninitialized(outShape)
        let batchCount = batch.reduce(1, *)
        if result.count == 0 { return result }
        if k == 0 {
            result.storage.pointer.initialize(repeating: 0, count: result.count)
            return result
        }
        var a = a0, b = b0
        if blasLayout(a) == nil { a = a.contiguousCopy() }
        if blasLayout(b) == nil { b = b.contiguousCopy() }
        guard let (transA, lda) = blasLayout(a), let (transB, ldb) = blasLayout(b) else {
            throw LoupeError("matmul: internal layout error for \(describe(shape: a.shape)) @ \(describe(shape: b.shape))")
        }
        let dst = result.storage.pointer
        let pa = a.storage.pointer + a.offset
        let pb = b.storage.pointer + b.offset
        // Fold a's batch into rows when b is a single matrix and a's rows are evenly spaced.
        let batchStridesB = Array(b.broadcastBatchStrides(batch))
        if b.rank == 2 || batchStridesB.allSatisfy({ $0 == 0 }), transA == CblasNoTrans, a.isContiguous {
            withExtendedLifetime((a.storage, b.storage)) {
                NN.sgemm(transB: transB == CblasTrans, m: batchCount * m, n: n, k: k, a: pa, lda: k,
                         b: pb, ldb: Int(ldb), c: dst, ldc: n)
            }
            return result
        }
        let batchStridesA = Array(a.broadcastBatchStrides(batch))
        // Small products (attention heads) run one per worker (NN.sgemm keeps a call this small
        // on its thread, so a serial loop would leave the other cores idle); larger ones run in
        // order, each split over the cores by NN.sgemm.
        let chunk = m * n * k <= 1 << 18 ? Swift.max(1, batchCount / (Parallel.workers * 4)) : batchCount
        withExtendedLifetime((a.storage, b.storage)) {
            Parallel.forEach((batchCount + chunk - 1) / chunk) { part in
                var item = part * chunk
                let end = Swift.min(batchCount, item + chunk)
                // Offsets of the first item from its multi-index, then stepped like an odometer.
                var index = [Int](repeating: 0, count: batch.count)
                var offA = 0, offB = 0, rest = item
                for axis in stride(from: batch.count - 1, through: 0, by: -1) {
                    index[axis] = rest % batch[axis]
                    rest /= batch[axis]
                    offA += index[axis] * batchStridesA[axis]
                    offB += index[axis] * batchStridesB[axis]
                }
                while item < end {
                    NN.sgemm(transA: transA == CblasTrans, transB: transB == CblasTrans, m: m, n: n, k: k,
                             a: pa + offA, lda: Int(lda), b: pb + offB, ldb: Int(ldb), c: dst + item * m * n, ldc: n)
                    item += 1
                    var axis = batch.count - 1
                    while axis >= 0 {
                        index[axis] += 1
                        offA += batchStridesA[axis]
                        offB += batchStridesB[axis]
                        if index[axis] < batch[axis] { break }
                        offA -= batchStridesA[axis] * batch[axis]
                        offB -= batchStridesB[axis] * batch[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return result
    }

    /// Strides of the batch axes (all but the last two) broadcast to `batch`.
    private func broadcastBatchStrides(_ batch: [Int]) -> [Int] {
        let own = Array(shape.dropLast(2))
        let ownStrides = Array(strides.dropLast(2))
        let lead = batch.count - own.count
        var result = [Int](repeating: 0, count: batch.count)
        for i in 0..<own.count where own[i] != 1 {
            result[lead + i] = ownStrides[i]
        }
        return result
    }
}
