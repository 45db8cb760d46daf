import LoupeTensor

/// Group normalization (torch `nn.GroupNorm(num_groups, num_channels, eps)`): per-channel
/// `weight` (ones) and `bias` (zeros).
public final class GroupNorm: Module {
    public let weight: Parameter
    public let bias: Parameter
    public let groups: Int
    public let eps: Float

    public init(groups: Int, channels: Int, eps: Float = 1e-5) throws {
        guard groups > 0, channels > 0, channels % groups == 0 else {
            throw LoupeError("GroupNorm: \(channels) channels cannot be split into \(groups) groups")
        }
        weight = Parameter(try Tensor.ones([channels]))
        bias = Parameter(try Tensor.zeros([channels]))
        self.groups = groups
        self.eps = eps
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let channels = weight.shape[0]
        guard input.rank >= 2, input.shape[1] == channels else {
            throw LoupeError("GroupNorm at '\(context.currentPath)': expected [N, \(channels), ...], got \(describe(shape: input.shape))")
        }
        return try NN.groupNorm(input, groups: groups, weight: weight.value, bias: bias.value, eps: eps)
    }
}
