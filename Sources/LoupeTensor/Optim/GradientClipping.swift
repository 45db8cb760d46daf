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
        grad.withContiguousPointer { g in
            let count = grad.count
            if normType == .infinity {
                for i in 0..<count { accumulated = max(accumulated, Double(abs(g[i]))) }
            } else if normType == 2 {
                var sum: Float = 0, total = 0.0
                var start = 0
                // Float partial sums over blocks (vectorizable), Double across blocks.
                while start < count {
                    let end = min(count, start + 4096)
                    sum = 0
                    for i in start..<end { sum += g[i] * g[i] }
                    total += Double(sum)
                    start = end
                }
                accumulated += total
            } else {
                for i in 0..<count { accumulated += pow(Double(abs(g[i])), normType) }
            }
        }
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
