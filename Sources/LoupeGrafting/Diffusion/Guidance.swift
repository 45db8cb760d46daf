import LoupeModels
import LoupeTensor

/// Denoisers from class-conditional diffusion models that take inputs `x` (the noisy batch),
/// `t` (timesteps) and `y` (class indices, the null class being the number of classes), as DiT.
public enum ConditionalDenoiser {
    /// The model's output for `x` at timesteps `t` with labels `labels`.
    public static func output(_ model: Module, x: Tensor, timesteps: Tensor, labels: Tensor,
                              context: ForwardContext = ForwardContext()) throws -> Tensor {
        let inputs = ModuleInputs([("x", .tensor(x)), ("t", .tensor(timesteps)), ("y", .tensor(labels))])
        return try context.run(model, inputs: inputs).tensor("the diffusion model's output")
    }

    /// The model conditioned on `labels` ([N] class indices).
    public static func conditioned(_ model: Module, labels: [Int]) -> Denoiser {
        let y = Tensor(labels.map(Float.init))
        return { x, t in
            guard x.shape.first == labels.count else {
                throw LoupeError("sample: \(labels.count) labels for a batch of \(x.shape.first ?? 0)")
            }
            return try output(model, x: x, timesteps: t, labels: y)
        }
    }

    /// Classifier-free guidance as DiT's `forward_with_cfg` applies it: the batch runs once with
    /// `labels` and once with `nullClass`, and the first `guidedChannels` output channels become
    /// uncond + scale (cond - uncond); the remaining channels (DiT's fourth latent channel and the
    /// variance values) are the conditional pass's. DiT as released guides 3 of its 4 latent
    /// channels; `guidedChannels` is clamped to the model's epsilon channels (`inputChannels`),
    /// so a 1- or 3-channel pixel model is guided on every epsilon channel and never on its
    /// variance. A scale of 1 runs the conditional pass alone (the same result).
    public static func guided(_ model: Module, labels: [Int], nullClass: Int, scale: Float,
                              inputChannels: Int, guidedChannels: Int = 3) -> Denoiser {
        guard scale != 1 else { return conditioned(model, labels: labels) }
        let n = labels.count
        let y = Tensor((labels + Array(repeating: nullClass, count: n)).map(Float.init))
        let guidedCount = max(1, min(guidedChannels, inputChannels))
        return { x, t in
            guard x.shape.count >= 2, x.shape[0] == n else {
                throw LoupeError("sample: \(n) labels for a batch of \(x.shape.first ?? 0)")
            }
            let both = try output(model, x: Tensor.concat([x, x], axis: 0), timesteps: Tensor.concat([t, t], axis: 0), labels: y)
            let halves = try both.chunk(2, axis: 0)
            let channels = both.shape[1]
            guard guidedCount <= channels else {
                throw LoupeError("sample: the model returned \(channels) channels, fewer than the \(guidedCount) to guide")
            }
            guard guidedCount < channels else { return try halves[1] + scale * (halves[0] - halves[1]) }
            let conditional = try halves[0].split(sizes: [guidedCount, channels - guidedCount], axis: 1)
            let unconditional = try halves[1].split(sizes: [guidedCount, channels - guidedCount], axis: 1)
            let epsilon = try unconditional[0] + scale * (conditional[0] - unconditional[0])
            return try Tensor.concat([epsilon, conditional[1]], axis: 1)
        }
    }
}
