import LoupeTensor

/// Transposed 2-D convolution (torch `nn.ConvTranspose2d`, square kernel): `weight [in, out, k, k]`,
/// `bias [out]`, `padding` and `outputPadding` as torch's (output
/// `(H - 1) * stride - 2 * padding + k + outputPadding`).
public final class ConvTranspose2d: Module {
    public let weight: Parameter
    public let bias: Parameter
    public let stride: Int
    public let padding: Int
    public let outputPadding: Int

    /// Zero weights (see `InverseInitialization` in LoupeInversion for torch's default
    /// initialisation).
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int, padding: Int = 0, outputPadding: Int = 0) throws {
        guard inChannels > 0, outChannels > 0, kernel > 0, stride > 0 else {
            throw LoupeError("ConvTranspose2d: channels \(inChannels) -> \(outChannels), kernel \(kernel) and stride \(stride) must be positive")
        }
        guard padding >= 0, outputPadding >= 0, outputPadding < stride else {
            throw LoupeError("ConvTranspose2d: padding \(padding) must be at least 0 and output padding \(outputPadding) in [0, stride \(stride))")
        }
        weight = Parameter(try Tensor.zeros([inChannels, outChannels, kernel, kernel]))
        bias = Parameter(try Tensor.zeros([outChannels]))
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.convTranspose2d(input, weight: weight.value, bias: bias.value, stride: stride, padding: padding,
                               outputPadding: outputPadding)
    }
}
