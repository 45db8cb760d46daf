import Foundation

/// Adam, exactly as `torch.optim.Adam` (with bias correction; `weightDecay` is an L2 penalty
/// added to the gradient; `amsgrad` keeps the running maximum of the second moment):
///
///     g = g + weightDecay * p
///     m = beta1 * m + (1 - beta1) * g
///     v = beta2 * v + (1 - beta2) * g * g
///     p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
///
/// `t` counts the updates of each parameter. Parameters are updated in place (see `Optimizer`).
public class Adam: Optimizer {
    public private(set) var beta1: Double
    public private(set) var beta2: Double
    public private(set) var eps: Double
    public private(set) var weightDecay: Double
    public private(set) var amsgrad: Bool
    /// Whether weight decay is decoupled (AdamW) rather than added to the gradient.
    let decoupled: Bool

    struct Moments {
        var step: Int
        var expAvg: Tensor
        var expAvgSq: Tensor
        var maxExpAvgSq: Tensor?
    }
    private var moments: [Moments?]

    /// Throws when a beta is outside [0, 1), `eps` or `weightDecay` is negative or not finite,
    /// or a parameter is not a contiguous leaf.
    public convenience init(parameters: [Tensor], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false,
                            schedule: LearningRateSchedule? = nil) throws {
        try self.init(name: "Adam", decoupled: false, parameters: parameters, learningRate: learningRate, betas: betas,
                      eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, schedule: schedule)
    }

    init(name: String, decoupled: Bool, parameters: [Tensor], learningRate: Double, betas: (Double, Double),
         eps: Double, weightDecay: Double, amsgrad: Bool, schedule: LearningRateSchedule?) throws {
        try Adam.validate(name: name, beta1: betas.0, beta2: betas.1, eps: eps, weightDecay: weightDecay)
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        self.amsgrad = amsgrad
        self.decoupled = decoupled
        self.moments = Array(repeating: nil, count: parameters.count)
        try super.init(name: name, parameters: parameters, learningRate: learningRate, schedule: schedule)
    }

    private static func validate(name: String, beta1: Double, beta2: Double, eps: Double, weightDecay: Double) throws {
        for (beta, which) in [(beta1, "beta1"), (beta2, "beta2")] where !(beta >= 0 && beta < 1) {
            throw LoupeError("\(name): invalid \(which) \(beta); expected a value in [0, 1)")
        }
        try Optimizer.check(eps, "eps", in: name)
        try Optimizer.check(weightDecay, "weight decay", in: name)
    }

    override func update(index: Int, parameter p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>, count: Int) throws {
        if moments[index] == nil {
            moments[index] = Moments(step: 0, expAvg: try Tensor.zeros([count]), expAvgSq: try Tensor.zeros([count]),
                                     maxExpAvgSq: amsgrad ? try Tensor.zeros([count]) : nil)
        }
        if amsgrad && moments[index]!.maxExpAvgSq == nil {
            moments[index]!.maxExpAvgSq = try Tensor.zeros([count])
        }
        moments[index]!.step += 1
        let state = moments[index]!
        let t = Double(state.step)
        let stepSize = Float(learningRate / (1 - pow(beta1, t)))
        let correction2 = Float((1 - pow(beta2, t)).squareRoot())
        let b1 = Float(1 - beta1), b2 = Float(beta2), oneMinusB2 = Float(1 - beta2)
        let eps = Float(self.eps), wd = Float(weightDecay)
        let l2: Float = decoupled ? 0 : wd
        let shrink: Float = decoupled ? Float(1 - learningRate * weightDecay) : 1
        let m = state.expAvg.storage.pointer, v = state.expAvgSq.storage.pointer
        let vmax = state.maxExpAvgSq?.storage.pointer
        withExtendedLifetime(state) {
            Parallel.forRanges(count) { start, end in
                if let vmax {
                    for i in start..<end {
                        let grad = l2 == 0 ? g[i] : g[i] + l2 * p[i]
                        let mi = m[i] + b1 * (grad - m[i])
                        let vi = v[i] * b2 + oneMinusB2 * grad * grad
                        m[i] = mi
                        v[i] = vi
                        let second = max(vmax[i], vi)
                        vmax[i] = second
                        p[i] = p[i] * shrink - stepSize * (mi / (second.squareRoot() / correction2 + eps))
                    }
                } else if l2 == 0 {
                    Adam.kernel(p + start, g + start, m + start, v + start, end - start, shrink: shrink, b1: b1, b2: b2,
                                oneMinusB2: oneMinusB2, correction2: correction2, eps: eps, stepSize: stepSize)
                } else {
                    for i in start..<end {
                        let grad = g[i] + l2 * p[i]
                        let mi = m[i] + b1 * (grad - m[i])
                        let vi = v[i] * b2 + oneMinusB2 * grad * grad
                        m[i] = mi
                        v[i] = vi
                        p[i] = p[i] - stepSize * (mi / (vi.squareRoot() / correction2 + eps))
                    }
                }
            }
        }
    }

    /// The common Adam/AdamW update without L2 term or AMSGrad, in a form the compiler vectorizes.
    @inline(never)
    static func kernel(_ p: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>,
                       _ v: UnsafeMutablePointer<Float>, _ count: Int, shrink: Float, b1: Float, b2: Float,
                       oneMinusB2: Float, correction2: Float, eps: Float, stepSize: Float) {
        typealias Vector = SIMD8<Float>
        let vb1 = Vector(repeating: b1), vb2 = Vector(repeating: b2), vc2 = Vector(repeating: oneMinusB2)
        let vcorrection = Vector(repeating: correction2), veps = Vector(repeating: eps)
        let vshrink = Vector(repeating: shrink), vstep = Vector(repeating: stepSize)
        let vectorEnd = count & ~7
        var i = 0
        while i < vectorEnd {
            let grad = UnsafeRawPointer(g + i).loadUnaligned(as: Vector.self)
            let m0 = UnsafeRawPointer(m + i).loadUnaligned(as: Vector.self)
            let v0 = UnsafeRawPointer(v + i).loadUnaligned(as: Vector.self)
            let p0 = UnsafeRawPointer(p + i).loadUnaligned(as: Vector.self)
            let mi = m0 + vb1 * (grad - m0)
            let vi = v0 * vb2 + vc2 * grad * grad
            UnsafeMutableRawPointer(m + i).storeBytes(of: mi, as: Vector.self)
            UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: Vector.self)
            let updated = p0 * vshrink - vstep * (mi / (vi.squareRoot() / vcorrection + veps))
            UnsafeMutableRawPointer(p + i).storeBytes(of: updated, as: Vector.self)
            i += 8
        }
        while i < count {
            let grad = g[i]
            let mi = m[i] + b1 * (grad - m[i])
            let vi = v[i] * b2 + oneMinusB2 * grad * grad
            m[i] = mi
            v[i] = vi
            p[i] = p[i] * shrink - stepSize * (mi / (vi.squareRoot() / correction2 + eps))
            i += 1
        }
    }

    override func hyperparameters() -> [String: Double] {
        ["beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weightDecay, "amsgrad": amsgrad ? 1 : 0,
         "decoupled_weight_decay": decoupled ? 1 : 0]
    }

    override func validateHyperparameters(_ values: [String: Double]) throws {
        guard (values["decoupled_weight_decay"]! != 0) == decoupled else {
            throw LoupeError("the state is from \(decoupled ? "Adam" : "AdamW"), not \(name)")
        }
        try Adam.validate(name: name, beta1: values["beta1"]!, beta2: values["beta2"]!, eps: values["eps"]!,
                          weightDecay: values["weight_decay"]!)
    }

    override func setHyperparameters(_ values: [String: Double]) {
        beta1 = values["beta1"]!
        beta2 = values["beta2"]!
        eps = values["eps"]!
        weightDecay = values["weight_decay"]!
        amsgrad = values["amsgrad"]! != 0
    }

    override var perParameterTensorKeys: [String] { ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"] }
    override var perParameterScalarKeys: [String] { ["step"] }

    override func parameterState(_ index: Int) -> [String: Tensor] {
        guard let state = moments[index] else { return [:] }
        let shape = parameters[index].shape
        func shaped(_ t: Tensor) -> Tensor { (try? t.reshaped(shape)) ?? t }
        var result = ["exp_avg": shaped(state.expAvg), "exp_avg_sq": shaped(state.expAvgSq)]
        if let vmax = state.maxExpAvgSq { result["max_exp_avg_sq"] = shaped(vmax) }
        return result
    }

    override func parameterScalars(_ index: Int) -> [String: Double] {
        guard let state = moments[index] else { return [:] }
        return ["step": Double(state.step)]
    }

    override func makeParameterState(_ index: Int, tensors: [String: Tensor], scalars: [String: Double]) throws -> Any {
        let prefix = "\(name).load: parameter \(index)"
        guard let step = scalars["step"] else {
            guard tensors.isEmpty else {
                throw LoupeError("\(prefix) has moment tensors but no scalar '\(index).step'")
            }
            return Optional<Moments>.none as Any
        }
        guard step >= 1, step == step.rounded(), step < 1e15 else {
            throw LoupeError("\(prefix): scalar '\(index).step' is not a step count (\(step))")
        }
        guard let expAvg = tensors["exp_avg"], let expAvgSq = tensors["exp_avg_sq"] else {
            throw LoupeError("\(prefix): missing tensor '\(index).exp_avg' or '\(index).exp_avg_sq'")
        }
        let count = parameters[index].count
        func flat(_ t: Tensor) throws -> Tensor { try t.contiguousCopy().reshaped([count]) }
        return Optional(Moments(step: Int(step), expAvg: try flat(expAvg), expAvgSq: try flat(expAvgSq),
                                maxExpAvgSq: try tensors["max_exp_avg_sq"].map(flat))) as Any
    }

    override func setParameterState(_ index: Int, _ state: Any) {
        moments[index] = state as? Moments
    }
}
