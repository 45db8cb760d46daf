import LoupeTensor

extension Linear {
    /// torch's default `nn.Linear` initialisation: weight and bias uniform in
    /// ±1/sqrt(in_features) (`kaiming_uniform_(a=sqrt(5))`).
    public func resetParameters(generator: inout RandomGenerator) throws {
        let bound = 1 / Float(max(weight.shape[1], 1)).squareRoot()
        assign(try Tensor.uniform(weight.shape, low: -bound, high: bound, generator: &generator), to: weight)
        if let bias { assign(try Tensor.uniform(bias.shape, low: -bound, high: bound, generator: &generator), to: bias) }
    }
}

extension MLP {
    /// torch's default initialisation of both linear layers.
    public func resetParameters(generator: inout RandomGenerator) throws {
        try fc1.resetParameters(generator: &generator)
        try fc2.resetParameters(generator: &generator)
    }
}

extension Conv2d {
    /// torch's default `nn.Conv2d` initialisation: weight and bias uniform in ±1/sqrt(fan_in),
    /// fan_in = in_channels / groups * kernel height * kernel width.
    public func resetParameters(generator: inout RandomGenerator) throws {
        let fanIn = weight.shape.dropFirst().reduce(1, *)
        let bound = 1 / Float(max(fanIn, 1)).squareRoot()
        assign(try Tensor.uniform(weight.shape, low: -bound, high: bound, generator: &generator), to: weight)
        if let bias { assign(try Tensor.uniform(bias.shape, low: -bound, high: bound, generator: &generator), to: bias) }
    }
}
