import LoupeTensor

extension VisionTransformer {
    /// Random initial weights as timm's default `init_weights_vit_timm`: linear weights (and
    /// `pos_embed`) normal with std 0.02 truncated to [-2, 2], biases zero, `cls_token` normal
    /// with std 1e-6, the patch convolution uniform in ±1/sqrt(fan_in) (torch's default),
    /// layer norms at identity, LayerScale at `config.layerScale`.
    public func initialize(generator: inout RandomGenerator) throws {
        func truncatedNormal(_ shape: [Int], std: Float) throws -> Tensor {
            let count = try Tensor.checkedCount(shape, op: "initialize")
            var values = [Float](repeating: 0, count: count)
            for i in 0..<count {
                var v = std * generator.nextNormal()
                while abs(v) > 2 { v = std * generator.nextNormal() }
                values[i] = v
            }
            return try Tensor(shape: shape, scalars: values)
        }
        func set(_ parameter: Parameter, _ value: Tensor) { assign(value, to: parameter) }
        for (_, module) in namedModules() {
            switch module {
            case let linear as Linear:
                set(linear.weight, try truncatedNormal(linear.weight.shape, std: 0.02))
                if let bias = linear.bias { set(bias, try Tensor.zeros(bias.shape)) }
            case let norm as LayerNorm:
                set(norm.weight, try Tensor.ones(norm.weight.shape))
                set(norm.bias, try Tensor.zeros(norm.bias.shape))
            case let scale as LayerScale:
                set(scale.gamma, try Tensor.full(scale.gamma.shape, config.layerScale ?? 1))
            case let conv as Conv2d:
                let fanIn = conv.weight.shape.dropFirst().reduce(1, *)
                let bound = 1 / Float(max(fanIn, 1)).squareRoot()
                set(conv.weight, try Tensor.uniform(conv.weight.shape, low: -bound, high: bound, generator: &generator))
                if let bias = conv.bias { set(bias, try Tensor.uniform(bias.shape, low: -bound, high: bound, generator: &generator)) }
            default:
                break
            }
        }
        set(positionEmbedding, try truncatedNormal(positionEmbedding.shape, std: 0.02))
        if let classToken { set(classToken, try Tensor.normal(classToken.shape, std: 1e-6, generator: &generator)) }
    }
}
