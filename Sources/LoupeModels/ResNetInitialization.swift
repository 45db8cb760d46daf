import LoupeTensor

extension ResNet {
    /// Random initial weights as torchvision's `ResNet.__init__`: convolutions
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")` (normal with std
    /// sqrt(2 / (out_channels * kh * kw))), batch norms weight 1 and bias 0 with fresh running
    /// statistics, `fc` torch's `nn.Linear` default. Draws in module order from `generator`.
    public func initialize(generator: inout RandomGenerator) throws {
        for (_, module) in namedModules() {
            switch module {
            case let conv as Conv2d:
                let shape = conv.weight.shape
                let fanOut = shape[0] * shape.dropFirst(2).reduce(1, *)
                let std = (2 / Float(max(fanOut, 1))).squareRoot()
                assign(try Tensor.normal(shape, std: std, generator: &generator), to: conv.weight)
                if let bias = conv.bias { assign(try Tensor.zeros(bias.shape), to: bias) }
            case let norm as BatchNorm2d:
                try norm.resetToIdentity()
            case let linear as Linear:
                try linear.resetParameters(generator: &generator)
            default:
                break
            }
        }
    }
}
