import LoupeTensor

/// Transposed 2-D convolution (torch `nn.ConvTranspose2d`, square kernel, no padding):
/// `weight [in, out, k, k]`, `bias [out]`.
public final class ConvTranspose2d: Module {
    public let weight: Parameter
    public let bias: Parameter
    public let stride: Int

    /// Zero weights (see `InverseInitialization` in LoupeInversion for torch's default
    /// initialisation).
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int) throws {
        guard inChannels > 0, outChannels > 0, kernel > 0, stride > 0 else {
            throw LoupeError("ConvTranspose2d: channels \(inChannels) -> \(outChannels), kernel \(kernel) and stride \(stride) must be positive")
        }
        weight = Parameter(try Tensor.zeros([inChannels, outChannels, kernel, kernel]))
        bias = Parameter(try Tensor.zeros([outChannels]))
        self.stride = stride
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.convTranspose2d(input, weight: weight.value, bias: bias.value, stride: stride)
    }
}
