import Foundation

extension NN {
    /// Cross-entropy of `logits` (`[N, C]`, `[N, C, d1, ...]` or `[C]`) against `targets`
    /// holding class indices as floats (`[N]`, `[N, d1, ...]` or `[]`), as torch
    /// `cross_entropy` with class-index targets:
    /// - `labelSmoothing` s: the target distribution is `(1 - s) * onehot + s / C`;
    /// - `weight` (`[C]`): the loss of a position with target y is
    ///   `(1 - s) w[y] (-log p_y) + (s / C) sum_c w[c] (-log p_c)`; not differentiated;
    /// - `ignoreIndex`: positions whose target equals it contribute 0 and leave the mean;
    /// - the mean divides the sum by the total weight `sum w[y]` of the positions not
    ///   ignored (their count without weight), so all ignored gives NaN as in torch.
    public static func crossEntropy(logits: Tensor, targets: Tensor, labelSmoothing: Float = 0,
                                    weight: Tensor? = nil, ignoreIndex: Int = -100,
                                    reduction: Reduction = .mean) throws -> Tensor {
        let op = "crossEntropy"
        let classAxis = logits.rank == 1 ? 0 : 1
        var expected = logits.shape
        if logits.rank >= 1 { expected.remove(at: classAxis) }
        guard logits.rank >= 1, targets.shape == expected, logits.shape[classAxis] > 0 else {
            throw LoupeError("\(op): logits \(describe(shape: logits.shape)) and targets \(describe(shape: targets.shape)) do not match (expected logits [N, C, ...] and targets [N, ...])")
        }
        guard labelSmoothing >= 0, labelSmoothing <= 1 else {
            throw LoupeError("\(op): label smoothing \(labelSmoothing) is not in [0, 1] for logits \(describe(shape: logits.shape))")
        }
        let (outer, c, inner) = split(logits.shape, axis: classAxis)
        try checkVector(weight, count: c, name: "weight", op: op, input: logits.shape)
        let w: [Float] = weight.map { $0.contiguous().scalars } ?? [Float](repeating: 1, count: c)
        // Class index per position, -1 where ignored.
        let ids = try targets.scalars.map { value -> Int in
            if value == Float(ignoreIndex) { return -1 }
            guard value.rounded() == value, value >= 0, value < Float(c) else {
                throw LoupeError("\(op): target \(value) is not a class index in 0..<\(c) (or the ignore index \(ignoreIndex)) for logits \(describe(shape: logits.shape))")
            }
            return Int(value)
        }
        var totalWeight: Double = 0
        for id in ids where id >= 0 { totalWeight += Double(w[id]) }
        let logp = try logSoftmax(logits, axis: classAxis).contiguous()
        let result = Tensor.uninitialized(targets.shape)
        let eps = labelSmoothing, uniform = labelSmoothing / Float(c)
        withExtendedLifetime(logp) {
            let lp = base(logp), dst = base(result)
            for o in 0..<outer {
                for i in 0..<inner {
                    let off = o * c * inner + i, id = ids[o * inner + i]
                    if id < 0 { dst[o * inner + i] = 0; continue }
                    var all: Float = 0
                    if eps > 0 { for k in 0..<c { all += w[k] * lp[off + k * inner] } }
                    dst[o * inner + i] = -(1 - eps) * w[id] * lp[off + id * inner] - uniform * all
                }
            }
        }
        let shape = logits.shape
        let perItem = Tensor.record(result, op: "nll", inputs: [logp]) { grad in
            let g = grad.contiguous()
            let gl = Tensor.uninitialized(shape)
            withExtendedLifetime(g) {
                let pg = base(g), dl = base(gl)
                for o in 0..<outer {
                    for i in 0..<inner {
                        let off = o * c * inner + i, id = ids[o * inner + i]
                        let gv = id < 0 ? 0 : pg[o * inner + i]
                        for k in 0..<c { dl[off + k * inner] = -uniform * w[k] * gv }
                        if id >= 0 { dl[off + id * inner] -= (1 - eps) * w[id] * gv }
                    }
                }
            }
            return [gl]
        }
        if reduction != .mean || (weight == nil && ids.allSatisfy({ $0 >= 0 })) { return reduce(perItem, reduction) }
        return try reduce(perItem, .sum) * Float(1 / totalWeight)
    }

    /// Mean squared error `(input - target)^2`.
    public static func mse(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try pointwiseLoss(input, target, reduction: reduction, op: "mse") { x, y in
            let d = x - y
            return (d * d, 2 * d, -2 * d)
        }
    }

    /// Absolute error `|input - target|` (gradient `sign`, 0 at 0).
    public static func l1(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try pointwiseLoss(input, target, reduction: reduction, op: "l1") { x, y in
            let d = x - y
            let s: Float = d > 0 ? 1 : (d < 0 ? -1 : 0)
            return (abs(d), s, -s)
        }
    }

    /// Huber loss: `0.5 d^2` where `|d| < delta`, else `delta (|d| - 0.5 delta)`.
    public static func huber(_ input: Tensor, _ target: Tensor, delta: Float = 1, reduction: Reduction = .mean) throws -> Tensor {
        guard delta > 0 else {
            throw LoupeError("huber: delta \(delta) must be positive for input \(describe(shape: input.shape))")
        }
        return try pointwiseLoss(input, target, reduction: reduction, op: "huber") { x, y in
            let d = x - y
            if abs(d) < delta { return (0.5 * d * d, d, -d) }
            let s: Float = d > 0 ? delta : -delta
            return (delta * (abs(d) - 0.5 * delta), s, -s)
        }
    }

    /// Smooth L1 loss (torch `smooth_l1_loss`): `0.5 d^2 / beta` where `|d| < beta`, else
    /// `|d| - 0.5 beta`; `beta` 0 is the L1 loss.
    public static func smoothL1(_ input: Tensor, _ target: Tensor, beta: Float = 1, reduction: Reduction = .mean) throws -> Tensor {
        guard beta >= 0, beta.isFinite else {
            throw LoupeError("smoothL1: beta \(beta) must be non-negative for input \(describe(shape: input.shape))")
        }
        return try pointwiseLoss(input, target, reduction: reduction, op: "smoothL1") { x, y in
            let d = x - y
            if abs(d) < beta { return (0.5 * d * d / beta, d / beta, -d / beta) }
            let s: Float = d > 0 ? 1 : (d < 0 ? -1 : 0)
            return (abs(d) - 0.5 * beta, s, -s)
        }
    }

    /// Binary cross-entropy on logits (stable): `max(x, 0) - x y + log(1 + exp(-|x|))`. With
    /// `posWeight` p (broadcast to the input, usually `[C]` for the last axis), as torch:
    /// `(1 - y) x + (1 + (p - 1) y) softplus(-x)`. Differentiable in all three.
    public static func bceWithLogits(_ logits: Tensor, _ target: Tensor, posWeight: Tensor? = nil,
                                     reduction: Reduction = .mean) throws -> Tensor {
        guard let posWeight else {
            return try pointwiseLoss(logits, target, reduction: reduction, op: "bceWithLogits") { x, y in
                let loss = max(x, 0) - x * y + Foundation.log1p(Foundation.exp(-abs(x)))
                let sigmoid = x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
                return (loss, sigmoid - y, -x)
            }
        }
        let op = "bceWithLogits"
        guard logits.shape == target.shape else {
            throw LoupeError("\(op): input \(describe(shape: logits.shape)) and target \(describe(shape: target.shape)) differ in shape")
        }
        guard (try? Tensor.broadcastShape(logits.shape, posWeight.shape, op: op)) == logits.shape else {
            throw LoupeError("\(op): pos_weight \(describe(shape: posWeight.shape)) does not broadcast to input \(describe(shape: logits.shape))")
        }
        let x = logits.contiguous(), y = target.contiguous()
        let p = try posWeight.detached().expanded(to: logits.shape).contiguous()
        let count = x.count
        let result = Tensor.uninitialized(x.shape)
        let dx = Tensor.uninitialized(x.shape), dy = Tensor.uninitialized(x.shape), dp = Tensor.uninitialized(x.shape)
        withExtendedLifetime((x, y, p)) {
            let px = base(x), py = base(y), pp = base(p), pl = base(result), gx = base(dx), gy = base(dy), gp = base(dp)
            for i in 0..<count {
                let xv = px[i], yv = py[i], pv = pp[i]
                let softplusNeg = max(-xv, 0) + Foundation.log1p(Foundation.exp(-abs(xv)))  // -log sigmoid(x)
                let sigmoid = xv >= 0 ? 1 / (1 + Foundation.exp(-xv)) : Foundation.exp(xv) / (1 + Foundation.exp(xv))
                let lw = 1 + (pv - 1) * yv
                pl[i] = (1 - yv) * xv + lw * softplusNeg
                gx[i] = (1 - yv) - lw * (1 - sigmoid)
                gy[i] = -xv + (pv - 1) * softplusNeg
                gp[i] = yv * softplusNeg
            }
        }
        let needX = logits.requiresGrad, needY = target.requiresGrad, needP = posWeight.requiresGrad
        let pShape = posWeight.shape
        let perElement = Tensor.record(result, op: op, inputs: [logits, target, posWeight]) { grad in
            [needX ? try grad * dx : nil, needY ? try grad * dy : nil,
             needP ? try (grad * dp).summed(toShape: pShape) : nil]
        }
        return reduce(perElement, reduction)
    }

    /// Elementwise loss with derivatives computed alongside: `body(x, y) -> (loss, dx, dy)`.
    private static func pointwiseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction, op: String,
                                      _ body: (Float, Float) -> (Float, Float, Float)) throws -> Tensor {
        guard input.shape == target.shape else {
            throw LoupeError("\(op): input \(describe(shape: input.shape)) and target \(describe(shape: target.shape)) differ in shape")
        }
        let x = input.contiguous(), y = target.contiguous()
        let count = x.count
        let result = Tensor.uninitialized(x.shape)
        let dx = Tensor.uninitialized(x.shape), dy = Tensor.uninitialized(x.shape)
        withExtendedLifetime((x, y)) {
            let px = base(x), py = base(y), pl = base(result), pdx = base(dx), pdy = base(dy)
            for i in 0..<count {
                let (l, a, b) = body(px[i], py[i])
                pl[i] = l; pdx[i] = a; pdy[i] = b
            }
        }
        let needX = input.requiresGrad, needY = target.requiresGrad
        let perElement = Tensor.record(result, op: op, inputs: [input, target]) { grad in
            [needX ? try grad * dx : nil, needY ? try grad * dy : nil]
        }
        return reduce(perElement, reduction)
    }
}
