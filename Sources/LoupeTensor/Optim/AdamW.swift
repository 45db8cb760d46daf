/// AdamW, exactly as `torch.optim.AdamW`: Adam with decoupled weight decay, which shrinks the
/// parameter by `1 - learningRate * weightDecay` before the Adam update instead of adding an
/// L2 term to the gradient. Parameters are updated in place (see `Optimizer`).
public final class AdamW: Adam {
    /// Throws when a beta is outside [0, 1), `eps` or `weightDecay` is negative or not finite,
    /// or a parameter is not a contiguous leaf.
    public init(parameters: [Tensor], learningRate: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 0.01, amsgrad: Bool = false,
                schedule: LearningRateSchedule? = nil) throws {
        try super.init(name: "AdamW", decoupled: true, parameters: parameters, learningRate: learningRate, betas: betas,
                       eps: eps, weightDecay: weightDecay, amsgrad: amsgrad, schedule: schedule)
    }
}
