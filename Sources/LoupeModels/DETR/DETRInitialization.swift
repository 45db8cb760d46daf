import LoupeTensor

extension DETR {
    /// Random initial weights as facebookresearch/detr builds a model: the backbone as
    /// torchvision's ResNet (convolutions `kaiming_normal_(mode="fan_out")`, normalisation at
    /// identity), the transformer's matrices (attention projections and linear weights)
    /// `xavier_uniform_` with attention biases zero and linear biases torch's default, layer norms
    /// at identity, `class_embed`, `bbox_embed` and `input_proj` torch's defaults, and
    /// `query_embed` standard normal. Draws in module order from `generator`.
    public func initialize(generator: inout RandomGenerator) throws {
        func xavier(_ parameter: Parameter) throws {
            let shape = parameter.value.shape
            let bound = (6 / Float(shape[0] + shape[1])).squareRoot()
            assign(try Tensor.uniform(shape, low: -bound, high: bound, generator: &generator), to: parameter)
        }
        for (path, module) in namedModules() {
            let inTransformer = path.hasPrefix("transformer.")
            switch module {
            case let attention as MultiheadAttention:
                try xavier(attention.inProjWeight)
                assign(try Tensor.zeros(attention.inProjBias.shape), to: attention.inProjBias)
                try xavier(attention.outProj.weight)
                if let bias = attention.outProj.bias { assign(try Tensor.zeros(bias.shape), to: bias) }
            case let linear as Linear where inTransformer:
                if path.hasSuffix("out_proj") { continue }
                try linear.resetParameters(generator: &generator)
                try xavier(linear.weight)
            case let linear as Linear:
                try linear.resetParameters(generator: &generator)
            case let norm as LayerNorm:
                assign(try Tensor.ones(norm.weight.shape), to: norm.weight)
                assign(try Tensor.zeros(norm.bias.shape), to: norm.bias)
            case let conv as Conv2d where path.hasPrefix("backbone."):
                let shape = conv.weight.shape
                let std = (2 / Float(max(shape[0] * shape[2] * shape[3], 1))).squareRoot()
                assign(try Tensor.normal(shape, std: std, generator: &generator), to: conv.weight)
            case let conv as Conv2d:
                try conv.resetParameters(generator: &generator)
            case let norm as BatchNorm2d:
                try norm.resetToIdentity()
            case let norm as FrozenBatchNorm2d:
                assign(try Tensor.ones(norm.weight.shape), to: norm.weight)
                assign(try Tensor.zeros(norm.bias.shape), to: norm.bias)
                assign(try Tensor.zeros(norm.runningMean.shape), to: norm.runningMean)
                assign(try Tensor.ones(norm.runningVar.shape), to: norm.runningVar)
            case let embedding as Embedding:
                assign(try Tensor.normal(embedding.weight.shape, generator: &generator), to: embedding.weight)
            default:
                break
            }
        }
    }
}
