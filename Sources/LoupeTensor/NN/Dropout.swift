extension NN {
    /// Inverted dropout: in training each element is zeroed with probability `p` (drawn from
    /// `generator`) and survivors are scaled by `1 / (1 - p)`; otherwise `x` is returned.
    public static func dropout(_ x: Tensor, p: Float, training: Bool,
                               generator: inout RandomGenerator) throws -> Tensor {
        guard p >= 0, p <= 1 else {
            throw LoupeError("dropout: probability \(p) is not in [0, 1] for input \(describe(shape: x.shape))")
        }
        if !training || p == 0 { return x }
        let keepScale: Float = p == 1 ? 0 : 1 / (1 - p)
        var maskValues = [Float](repeating: 0, count: x.count)
        for i in maskValues.indices { maskValues[i] = generator.nextUniform() >= p ? keepScale : 0 }
        let mask = try Tensor(shape: x.shape, scalars: maskValues)
        return try x * mask
    }
}
