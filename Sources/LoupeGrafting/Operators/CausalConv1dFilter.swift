import LoupeModels
import LoupeTensor

/// A causal depthwise 1-D convolution with torch `Conv1d` parameters (`weight [C, 1, k]`,
/// `bias [C]`): the grafting code's `CausalConv1D_filter` (and Mamba-2's `conv1d`), where output
/// position `t` sees inputs `t - k + 1 ... t`. The convolution runs along the token axis of
/// `[N, L, C]` inputs (`tokensLast`: Hyena, Mamba-2) or along the last axis of `[N, C, L]` inputs
/// (`featuresLast`, torch's own layout, which MLP-Hyena-X uses with the tokens as channels).
public final class CausalConv1dFilter: Module {
    /// Which axis of the input is convolved.
    public enum Layout: String, Codable, Sendable {
        /// `[N, L, C]`, convolved along `L` (the second axis).
        case tokensLast
        /// `[N, C, L]`, convolved along `L` (the last axis), as torch's `Conv1d`.
        case featuresLast
    }

    public let weight: Parameter
    public let bias: Parameter
    public let layout: Layout

    /// A zero-initialised filter of `channels` channels and `kernel` taps.
    public init(channels: Int, kernel: Int, layout: Layout = .tokensLast) throws {
        guard channels > 0, kernel > 0 else {
            throw LoupeError("CausalConv1dFilter: needs positive channels and kernel, got \(channels) and \(kernel)")
        }
        weight = Parameter(try Tensor.zeros([channels, 1, kernel]))
        bias = Parameter(try Tensor.zeros([channels]))
        self.layout = layout
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    /// The number of channels.
    public var channels: Int { weight.shape[0] }
    /// The number of taps.
    public var kernel: Int { weight.shape[2] }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        switch layout {
        case .tokensLast:
            return try NN.causalDepthwiseConv1d(input, weight: weight.value, bias: bias.value)
        case .featuresLast:
            guard input.rank == 3, input.shape[1] == channels else {
                throw LoupeError("CausalConv1dFilter: input \(describe(shape: input.shape)) is not [N, \(channels), L]")
            }
            return try NN.conv1d(input, weight: weight.value, bias: bias.value, groups: channels, causal: true)
        }
    }

    /// torch's default `Conv1d` initialisation: weight and bias uniform in ±1/sqrt(k) (fan-in
    /// `1 * k` for a depthwise filter).
    public func resetParameters(generator: inout RandomGenerator) throws {
        let bound = 1 / Float(kernel).squareRoot()
        weight.value = try Tensor.uniform(weight.shape, low: -bound, high: bound, generator: &generator)
        bias.value = try Tensor.uniform(bias.shape, low: -bound, high: bound, generator: &generator)
    }

    /// The identity filter of the grafting code's `_initialize_inner_filter_as_identity`: every
    /// channel's last tap (the current token) 1, the others and the bias 0.
    public func setIdentity() throws {
        var taps = [Float](repeating: 0, count: channels * kernel)
        for c in 0..<channels { taps[c * kernel + kernel - 1] = 1 }
        weight.value = try Tensor(shape: weight.shape, scalars: taps)
        bias.value = try Tensor.zeros(bias.shape)
    }
}
