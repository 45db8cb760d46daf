import LoupeTensor

extension DiT {
    /// Random initial weights as DiT's `initialize_weights`: every linear weight
    /// `xavier_uniform_` with a zero bias, the patch embedding's weight `xavier_uniform_` on its
    /// `[D, C p p]` view (as a linear layer) with a zero bias, the label table normal with std
    /// 0.02, both timestep-MLP weights normal with std 0.02, and every `adaLN_modulation` and
    /// `final_layer.linear` zero (adaLN-Zero: each block starts as the identity). `pos_embed`
    /// is reset to the sin-cos embedding. Draws in module order from `generator`.
    public func initialize(generator: inout RandomGenerator) throws {
        func xavier(_ parameter: Parameter) throws {
            let shape = parameter.value.shape
            let fanOut = shape[0], fanIn = shape.dropFirst().reduce(1, *)
            let bound = (6 / Float(max(fanIn + fanOut, 1))).squareRoot()
            assign(try Tensor.uniform(shape, low: -bound, high: bound, generator: &generator), to: parameter)
        }
        func zero(_ parameter: Parameter?) throws {
            if let parameter { assign(try Tensor.zeros(parameter.value.shape), to: parameter) }
        }
        func normal(_ parameter: Parameter, std: Float) throws {
            assign(try Tensor.normal(parameter.value.shape, std: std, generator: &generator), to: parameter)
        }
        for (_, module) in namedModules() {
            guard let linear = module as? Linear else { continue }
            try xavier(linear.weight)
            try zero(linear.bias)
        }
        assign(try DiTOps.sinCosPositionEmbedding(dim: config.hiddenSize, gridSize: config.gridSize)
            .reshaped(positionEmbedding.value.shape), to: positionEmbedding)
        try xavier(xEmbedder.proj.weight)
        try zero(xEmbedder.proj.bias)
        try normal(yEmbedder.embeddingTable.weight, std: 0.02)
        for layer in tEmbedder.mlp.layers.compactMap({ $0 as? Linear }) { try normal(layer.weight, std: 0.02) }
        let modulations = blocks.layers.compactMap { ($0 as? DiTBlock)?.adaLNModulation } + [finalLayer.adaLNModulation]
        for linear in modulations.flatMap({ $0.layers.compactMap { $0 as? Linear } }) + [finalLayer.linear] {
            try zero(linear.weight)
            try zero(linear.bias)
        }
    }
}
