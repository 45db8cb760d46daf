#if canImport(Glibc)
import Glibc
#endif

/// Reductions over axes: sum, mean, variance, standard deviation, max, min, argmax, argmin,
/// log-sum-exp and p-norms. `axes == nil` reduces every axis. Kernels lay the reduced axes
/// innermost (a copy only when they are not already), then reduce each row with float64
/// accumulation; rows run on both cores, and a single huge row is split in parallel chunks.
extension Tensor {
    /// The layout of one reduction.
    struct ReductionPlan {
        /// Contiguous values (no history) with the reduced axes innermost.
        var source: Tensor
        var outer: Int
        var inner: Int
        /// Reduced axes, sorted.
        var axes: [Int]
        /// Result shape with reduced axes kept as 1.
        var keptShape: [Int]
        /// Result shape as returned.
        var outShape: [Int]
        /// Whether `source` keeps its original layout with the reduced axes leading: then it is
        /// `inner` rows of `outer` columns, and each column is reduced.
        var leading = false
    }

    /// Resolves `axes` (nil = all) to sorted unique axes, throwing on bad or repeated axes.
    func resolveAxes(_ axes: [Int]?, op: String) throws -> [Int] {
        guard let axes else { return Array(0..<rank) }
        if rank == 0 {
            for axis in axes where axis != 0 && axis != -1 {
                throw LoupeError("\(op): axis \(axis) is out of range for a tensor of rank 0")
            }
            return []
        }
        let resolved = try axes.map { try Tensor.normalizeAxis($0, rank: rank, op: op) }
        guard Set(resolved).count == resolved.count else {
            throw LoupeError("\(op): repeated axis in \(describe(shape: axes)) for a tensor of shape \(describe(shape: shape))")
        }
        return resolved.sorted()
    }

    func reductionPlan(_ axes: [Int]?, keepDims: Bool, op: String, allowLeading: Bool = false) throws -> ReductionPlan {
        let reduced = try resolveAxes(axes, op: op)
        let reducedSet = Set(reduced)
        let keptAxes = (0..<rank).filter { !reducedSet.contains($0) }
        let order = keptAxes + reduced
        var source = detached()
        let leading = allowLeading && !keptAxes.isEmpty && !reduced.isEmpty && reduced == Array(0..<reduced.count)
        if order != Array(0..<rank) && !leading { source = try source.permuted(order).contiguousCopy() }
        source = source.contiguous()
        let inner = reduced.reduce(1) { $0 * shape[$1] }
        let outer = keptAxes.reduce(1) { $0 * shape[$1] }
        let keptShape = (0..<rank).map { reducedSet.contains($0) ? 1 : shape[$0] }
        let outShape = keepDims ? keptShape : keptAxes.map { shape[$0] }
        return ReductionPlan(source: source, outer: outer, inner: inner, axes: reduced,
                             keptShape: keptShape, outShape: outShape, leading: leading)
    }

    /// Column sums of a leading-axes plan: float64 accumulators over column blocks, vectorized
    /// along the contiguous columns, blocks spread over both cores.
    static func sumLeading(_ plan: ReductionPlan) -> Tensor {
        let result = Tensor.uninitialized(plan.outShape)
        let dst = result.storage.pointer
        let src = UnsafePointer(plan.source.storage.pointer + plan.source.offset)
        let columns = plan.outer, rows = plan.inner
        let block = 512
        let blocks = (columns + block - 1) / block
        withExtendedLifetime(plan.source.storage) {
            let work = { (b: Int) in
                let start = b * block, width = Swift.min(block, columns - start)
                withUnsafeTemporaryAllocation(of: Double.self, capacity: block) { acc in
                    let a = acc.baseAddress!
                    a.initialize(repeating: 0, count: width)
                    for r in 0..<rows {
                        let row = src + r * columns + start
                        for j in 0..<width { a[j] += Double(row[j]) }
                    }
                    for j in 0..<width { dst[start + j] = Float(a[j]) }
                }
            }
            if rows * columns >= Parallel.minimumParallelCount && blocks > 1 {
                Parallel.forEach(blocks, work)
            } else {
                for b in 0..<blocks { work(b) }
            }
        }
        return result
    }

    /// Reduces each row of `plan` with `row`, combining parallel partials of one long row with
    /// `combine`.
    static func reduceRows(_ plan: ReductionPlan, row: @escaping (UnsafePointer<Float>, Int) -> Double,
                           combine: @escaping (Double, Double) -> Double) -> Tensor {
        let result = Tensor.uninitialized(plan.outShape)
        let dst = result.storage.pointer
        let src = UnsafePointer(plan.source.storage.pointer + plan.source.offset)
        let outer = plan.outer, inner = plan.inner
        withExtendedLifetime(plan.source.storage) {
            if outer == 1 && inner >= Parallel.minimumParallelCount {
                let chunks = Parallel.workers * 4
                let per = (inner + chunks - 1) / chunks
                var partials = [Double](repeating: .nan, count: chunks)
                partials.withUnsafeMutableBufferPointer { parts in
                    let base = parts.baseAddress!
                    Parallel.forEach(chunks) { c in
                        let start = c * per, end = Swift.min(inner, start + per)
                        if start < end { base[c] = row(src + start, end - start) }
                    }
                }
                var total = partials[0]
                for c in 1..<chunks where (c * per) < inner { total = combine(total, partials[c]) }
                dst[0] = Float(total)
            } else {
                Parallel.forRanges(outer, minimum: Swift.max(1, Parallel.minimumParallelCount / Swift.max(inner, 1))) { start, end in
                    for r in start..<end { dst[r] = Float(row(src + r * inner, inner)) }
                }
            }
        }
        return result
    }

    static func sumRow(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        var i = 0
        while i + 4 <= n {
            s0 += Double(p[i]); s1 += Double(p[i + 1]); s2 += Double(p[i + 2]); s3 += Double(p[i + 3])
            i += 4
        }
        while i < n { s0 += Double(p[i]); i += 1 }
        return (s0 + s1) + (s2 + s3)
    }

    /// Broadcasts a reduction's output gradient back over the reduced axes (contiguous).
    static func expandReducedGradient(_ grad: Tensor, keptShape: [Int], inputShape: [Int]) throws -> Tensor {
        try grad.reshaped(keptShape).expanded(to: inputShape).contiguous()
    }

    /// Sum over `axes` (nil = all).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let plan = try reductionPlan(axes, keepDims: keepDims, op: "sum", allowLeading: true)
        let result = plan.leading ? Tensor.sumLeading(plan) : Tensor.reduceRows(plan, row: Tensor.sumRow, combine: +)
        let kept = plan.keptShape, input = shape
        return Tensor.record(result, op: "sum", inputs: [self]) { grad in
            [try Tensor.expandReducedGradient(grad, keptShape: kept, inputShape: input)]
        }
    }

    /// Mean over `axes` (nil = all).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let plan = try reductionPlan(axes, keepDims: keepDims, op: "mean", allowLeading: true)
        let n = Double(plan.inner)
        let result = plan.leading ? Tensor.sumLeading(plan) : Tensor.reduceRows(plan, row: Tensor.sumRow, combine: +)
        let scale = Float(1 / n)
        let scaled = result.map { $0 * scale }
        let kept = plan.keptShape, input = shape
        return Tensor.record(scaled, op: "mean", inputs: [self]) { grad in
            [try Tensor.expandReducedGradient(grad, keptShape: kept, inputShape: input).map { $0 * scale }]
        }
    }

    /// Variance over `axes`; `unbiased` divides by n - 1 (Bessel's correction). Two passes
    /// per row in float64 (mean, then squared deviations).
    public func variance(axes: [Int]? = nil, unbiased: Bool = false, keepDims: Bool = false) throws -> Tensor {
        let plan = try reductionPlan(axes, keepDims: keepDims, op: "variance")
        let divisor = Double(plan.inner - (unbiased ? 1 : 0))
        let result = Tensor.reduceRows(plan, row: { p, n in
            let mean = Tensor.sumRow(p, n) / Double(n)
            var s0 = 0.0, s1 = 0.0
            var i = 0
            while i + 2 <= n {
                let d0 = Double(p[i]) - mean, d1 = Double(p[i + 1]) - mean
                s0 += d0 * d0; s1 += d1 * d1
                i += 2
            }
            if i < n { let d = Double(p[i]) - mean; s0 += d * d }
            return (s0 + s1) / divisor
        }, combine: { _, _ in .nan })
        // A single huge row is split in parallel chunks whose partial variances cannot simply
        // be combined; compose from sums instead in that rare case.
        if plan.outer == 1 && plan.inner >= Parallel.minimumParallelCount {
            let centered = try detached() - detached().mean(axes: axes, keepDims: true)
            let value = try (centered * centered).sum(axes: axes, keepDims: keepDims) / Tensor(Float(divisor))
            return try varianceRecorded(value, plan: plan, divisor: divisor)
        }
        return try varianceRecorded(result, plan: plan, divisor: divisor)
    }

    private func varianceRecorded(_ result: Tensor, plan: ReductionPlan, divisor: Double) throws -> Tensor {
        guard GradMode.isEnabled && requiresGrad else { return result }
        let input = detached(), kept = plan.keptShape, axes = plan.axes, inputShape = shape
        let scale = Float(2 / divisor)
        return Tensor.record(result, op: "variance", inputs: [self]) { grad in
            let mean = try input.mean(axes: axes, keepDims: true).expanded(to: inputShape)
            let g = try Tensor.expandReducedGradient(grad, keptShape: kept, inputShape: inputShape)
            return [Tensor.ternaryMap(g, input, mean) { g, x, m in g * scale * (x - m) }]
        }
    }

    /// Standard deviation over `axes`: the square root of `variance`.
    public func standardDeviation(axes: [Int]? = nil, unbiased: Bool = false, keepDims: Bool = false) throws -> Tensor {
        try variance(axes: axes, unbiased: unbiased, keepDims: keepDims).sqrt()
    }

    /// Maximum over `axes`. The gradient is shared evenly among tied maxima (as `torch.amax`).
    public func max(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        try extremum(axes: axes, keepDims: keepDims, op: "max", greater: true)
    }

    /// Minimum over `axes`. The gradient is shared evenly among tied minima (as `torch.amin`).
    public func min(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        try extremum(axes: axes, keepDims: keepDims, op: "min", greater: false)
    }

    private func extremum(axes: [Int]?, keepDims: Bool, op: String, greater: Bool) throws -> Tensor {
        let plan = try reductionPlan(axes, keepDims: keepDims, op: op)
        guard plan.inner > 0 || plan.outer == 0 else {
            throw LoupeError("\(op): cannot reduce an empty axis of a tensor of shape \(describe(shape: shape))")
        }
        let row: (UnsafePointer<Float>, Int) -> Double = greater
            ? { p, n in var m = p[0]; for i in 0..<n where p[i] > m || p[i].isNaN { m = p[i]; if m.isNaN { break } }; return Double(m) }
            : { p, n in var m = p[0]; for i in 0..<n where p[i] < m || p[i].isNaN { m = p[i]; if m.isNaN { break } }; return Double(m) }
        let combine: (Double, Double) -> Double = greater
            ? { a, b in a.isNaN || b.isNaN ? .nan : Swift.max(a, b) }
            : { a, b in a.isNaN || b.isNaN ? .nan : Swift.min(a, b) }
        let result = Tensor.reduceRows(plan, row: row, combine: combine)
        guard GradMode.isEnabled && requiresGrad else { return result }
        let input = detached(), kept = plan.keptShape, reduced = plan.axes
        let output = result
        return Tensor.record(result, op: op, inputs: [self]) { grad in
            let best = try output.reshaped(kept)
            let mask = try input.equal(best)
            let ties = try mask.sum(axes: reduced, keepDims: true)
            let share = try grad.reshaped(kept) / ties
            return [try (mask * share).contiguous()]
        }
    }

    /// Index of the largest element along `axis` (nil = of the flattened tensor), as floats.
    /// The first index wins among ties; NaN counts as largest.
    public func argmax(axis: Int? = nil, keepDims: Bool = false) throws -> Tensor {
        try argExtremum(axis: axis, keepDims: keepDims, op: "argmax", greater: true)
    }

    /// Index of the smallest element along `axis` (nil = of the flattened tensor), as floats.
    public func argmin(axis: Int? = nil, keepDims: Bool = false) throws -> Tensor {
        try argExtremum(axis: axis, keepDims: keepDims, op: "argmin", greater: false)
    }

    private func argExtremum(axis: Int?, keepDims: Bool, op: String, greater: Bool) throws -> Tensor {
        var plan = try reductionPlan(axis.map { [$0] }, keepDims: keepDims, op: op)
        guard plan.inner > 0 else {
            throw LoupeError("\(op): cannot reduce an empty axis of a tensor of shape \(describe(shape: shape))")
        }
        if axis == nil { plan.outShape = keepDims ? [Int](repeating: 1, count: rank) : [] }
        let result = Tensor.uninitialized(plan.outShape)
        let src = plan.source.storage.pointer + plan.source.offset
        let dst = result.storage.pointer
        let inner = plan.inner
        withExtendedLifetime(plan.source.storage) {
            for r in 0..<plan.outer {
                let p = src + r * inner
                var best = 0
                var value = p[0]
                if !value.isNaN {
                    for i in 1..<Swift.max(inner, 1) {
                        let v = p[i]
                        if v.isNaN { best = i; break }
                        if greater ? v > value : v < value { value = v; best = i }
                    }
                }
                dst[r] = Float(best)
            }
        }
        return result
    }

    /// log(sum(exp(x))) over `axes`, computed stably by subtracting the maximum.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let plan = try reductionPlan(axes, keepDims: true, op: "logsumexp")
        if plan.inner == 0 {
            return try Tensor.full(keepDims ? plan.keptShape : try reductionPlan(axes, keepDims: false, op: "logsumexp").outShape,
                                   -.infinity)
        }
        let shift = try GradMode.withoutGrad { try detached().max(axes: axes, keepDims: true) }.map { $0.isFinite ? $0 : 0 }
        let result = try (self - shift).exp().sum(axes: axes, keepDims: true).log() + shift
        if keepDims { return result }
        return try result.reshaped(try reductionPlan(axes, keepDims: false, op: "logsumexp").outShape)
    }

    /// The p-norm over `axes`: (sum |x|^p)^(1/p), for p > 0 or p = infinity (max |x|).
    /// The gradient is 0 where the norm is 0 (as torch).
    public func norm(p: Float = 2, axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        guard p > 0 else { throw LoupeError("norm: p must be positive or infinity, got \(p)") }
        if p == .infinity { return try abs().max(axes: axes, keepDims: keepDims) }
        let plan = try reductionPlan(axes, keepDims: keepDims, op: "norm")
        let row: (UnsafePointer<Float>, Int) -> Double
        if p == 2 {
            row = { ptr, n in var s = 0.0; for i in 0..<n { let v = Double(ptr[i]); s += v * v }; return s }
        } else if p == 1 {
            row = { ptr, n in var s = 0.0; for i in 0..<n { s += Swift.abs(Double(ptr[i])) }; return s }
        } else {
            let pd = Double(p)
            row = { ptr, n in var s = 0.0; for i in 0..<n { s += Glibc.pow(Swift.abs(Double(ptr[i])), pd) }; return s }
        }
        let powered = Tensor.reduceRows(plan, row: row, combine: +)
        let result = p == 1 ? powered : (p == 2 ? powered.map { $0.squareRoot() } : powered.map { powf($0, 1 / p) })
        guard GradMode.isEnabled && requiresGrad else { return result }
        let input = detached(), kept = plan.keptShape, inputShape = shape
        let output = result
        return Tensor.record(result, op: "norm", inputs: [self]) { grad in
            let n = try Tensor.expandReducedGradient(output, keptShape: kept, inputShape: inputShape)
            let g = try Tensor.expandReducedGradient(grad, keptShape: kept, inputShape: inputShape)
            let scaled = Tensor.ternaryMap(g, input, n) { g, x, n in
                if n == 0 { return 0 }
                let sign: Float = x > 0 ? 1 : (x < 0 ? -1 : 0)
                if p == 1 { return g * sign }
                if p == 2 { return g * x / n }
                return g * sign * powf(Swift.abs(x), p - 1) / powf(n, p - 1)
            }
            return [scaled]
        }
    }
}
