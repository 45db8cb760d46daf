import LoupeTensor

/// 2-D convolution (torch `nn.Conv2d`): parameters `weight [out, in / groups, kh, kw]`,
/// optional `bias [out]`.
public final class Conv2d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: (Int, Int)
    public let padding: (Int, Int)
    public let groups: Int

    /// A zero-initialised convolution with a square `kernel`.
    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
                groups: Int = 1, bias: Bool = true) throws {
        guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
            throw LoupeError("Conv2d: channels \(inChannels) -> \(outChannels) are not divisible by groups \(groups)")
        }
        weight = Parameter(try Tensor.zeros([outChannels, inChannels / groups, kernel, kernel]))
        self.bias = bias ? Parameter(try Tensor.zeros([outChannels])) : nil
        self.stride = (stride, stride)
        self.padding = (padding, padding)
        self.groups = groups
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.conv2d(input, weight: weight.value, bias: bias?.value, stride: stride, padding: padding, groups: groups)
    }
}
