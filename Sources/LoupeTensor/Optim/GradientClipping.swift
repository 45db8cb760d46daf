import Foundation

/// Rescales the gradients of `parameters` so that their joint norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_`: the total norm is the `normType`-norm of all gradient
/// elements together (`.infinity` for the largest magnitude); when it exceeds `maxNorm` every
/// gradient is multiplied by `maxNorm / (total + 1e-6)`. Parameters without a gradient are
/// skipped. Returns the total norm before clipping. Each clipped leaf gets a new gradient
/// tensor (the old gradient tensor is not written).
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) throws -> Double {
    guard !maxNorm.isNaN, maxNorm >= 0 else {
        throw LoupeError("clipGradNorm: maxNorm must be >= 0, got \(maxNorm)")
    }
    guard normType == .infinity || (normType.isFinite && normType > 0) else {
        throw LoupeError("clipGradNorm: normType must be > 0 or infinity, got \(normType)")
    }
    let grads = parameters.compactMap { $0.node.flatMap { node in node.grad.map { (node, $0) } } }
    if grads.isEmpty { return 0 }
    var accumulated = 0.0
    for (_, grad) in grads {
        let part = grad.withContiguousPointer { g in gradientNormPart(g, count: grad.count, normType: normType) }
        accumulated = normType == .infinity ? max(accumulated, part) : accumulated + part
    }
    let total: Double
    if normType == .infinity {
        total = accumulated
    } else if normType == 2 {
        total = accumulated.squareRoot()
    } else {
        total = pow(accumulated, 1 / normType)
    }
    let coefficient = maxNorm / (total + 1e-6)
    if coefficient < 1 {
        let scale = Tensor(Float(coefficient))
        try GradMode.withoutGrad {
            for (node, grad) in grads { node.grad = try grad.detached() * scale }
        }
    }
    return total
}

/// Sum of |g|^p (the largest |g| for the infinity norm) over `count` values: float partial sums
/// of short runs combined in Double, blocks spread over both cores.
private func gradientNormPart(_ g: UnsafePointer<Float>, count: Int, normType: Double) -> Double {
    let block = 1 << 14
    let blocks = (count + block - 1) / block
    if blocks == 0 { return 0 }
    let partials = UnsafeMutablePointer<Double>.allocate(capacity: blocks)
    defer { partials.deallocate() }
    let exponent = Float(normType)
    let work: (Int) -> Void = { index in
        let start = index * block, end = min(count, start + block)
        if normType == .infinity {
            var largest: Float = 0
            for i in start..<end { largest = max(largest, abs(g[i])) }
            partials[index] = Double(largest)
        } else if normType == 2 || normType == 1 {
            // Float sums over short runs (vectorizable), combined in Double.
            var total = 0.0
            var runStart = start
            while runStart < end {
                let runEnd = min(end, runStart + 256)
                var sum: Float = 0
                if normType == 2 {
                    for i in runStart..<runEnd { sum += g[i] * g[i] }
                } else {
                    for i in runStart..<runEnd { sum += abs(g[i]) }
                }
                total += Double(sum)
                runStart = runEnd
            }
            partials[index] = total
        } else {
            var sum = 0.0
            for i in start..<end { sum += Double(powf(abs(g[i]), exponent)) }
            partials[index] = sum
        }
    }
    if blocks == 1 { work(0) } else { Parallel.forEach(blocks, work) }
    var result = 0.0
    for index in 0..<blocks {
        result = normType == .infinity ? max(result, partials[index]) : result + partials[index]
    }
    return result
}
