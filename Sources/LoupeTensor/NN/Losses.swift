import Foundation

extension NN {
    /// Cross-entropy of `logits` (`[N, C]`, `[N, C, d1, ...]` or `[C]`) against `targets`
    /// holding class indices as floats (`[N]`, `[N, d1, ...]` or `[]`), as torch
    /// `cross_entropy` with `label_smoothing` (the target distribution is
    /// `(1 - s) * onehot + s / C`). Mean reduction averages over all target positions.
    public static func crossEntropy(logits: Tensor, targets: Tensor, labelSmoothing: Float = 0,
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
        let ids = try targets.scalars.map { value -> Int in
            guard value.rounded() == value, value >= 0, value < Float(c) else {
                throw LoupeError("\(op): target \(value) is not a class index in 0..<\(c) for logits \(describe(shape: logits.shape))")
            }
            return Int(value)
        }
        let logp = try logSoftmax(logits, axis: classAxis).contiguous()
        let result = Tensor.uninitialized(targets.shape)
        let eps = labelSmoothing, uniform = labelSmoothing / Float(c)
        withExtendedLifetime(logp) {
            let lp = base(logp), dst = base(result)
            for o in 0..<outer {
                for i in 0..<inner {
                    let off = o * c * inner + i
                    var all: Float = 0
                    if eps > 0 { for k in 0..<c { all += lp[off + k * inner] } }
                    dst[o * inner + i] = -(1 - eps) * lp[off + ids[o * inner + i] * inner] - uniform * all
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
                        let off = o * c * inner + i, gv = pg[o * inner + i]
                        for k in 0..<c { dl[off + k * inner] = -uniform * gv }
                        dl[off + ids[o * inner + i] * inner] -= (1 - eps) * gv
                    }
                }
            }
            return [gl]
        }
        return reduce(perItem, reduction)
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

    /// Binary cross-entropy on logits (stable): `max(x, 0) - x y + log(1 + exp(-|x|))`.
    public static func bceWithLogits(_ logits: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        try pointwiseLoss(logits, target, reduction: reduction, op: "bceWithLogits") { x, y in
            let loss = max(x, 0) - x * y + Foundation.log1p(Foundation.exp(-abs(x)))
            let sigmoid = x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
            return (loss, sigmoid - y, -x)
        }
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
