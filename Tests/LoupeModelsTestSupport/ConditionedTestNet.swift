import LoupeModels
import LoupeTensor

/// A block with two inputs, in the shape of a DiT block: the token stream `x [B, T, D]` and a
/// conditioning vector `c [B, D]` that scales and shifts it:
/// `out = x + fc(x * (1 + scale(c)) + shift(c))`. Sites: `scale`, `shift`, `modulated`.
public final class ConditionedBlock: Module {
    public let scale: Linear
    public let shift: Linear
    public let fc: Linear

    public init(dim: Int) throws {
        scale = try Linear(dim, dim)
        shift = try Linear(dim, dim)
        fc = try Linear(dim, dim)
        super.init()
        registerModule("scale", scale)
        registerModule("shift", shift)
        registerModule("fc", fc)
    }

    public override var inputSignature: [InputParameter] { [InputParameter("x"), InputParameter("c")] }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        let x = try inputs.tensor("x"), c = try inputs.tensor("c")
        let s = try context.apply(scale, c).unsqueezed(axis: 1)
        let b = try context.apply(shift, c).unsqueezed(axis: 1)
        let h = try context.site("modulated", try x * (1 + s) + b)
        return .tensor(try x + context.apply(fc, h))
    }
}

/// A model with two named inputs (`x [B, T, D]`, `c [B, E]`, and an optional `gain` number) and a
/// record output `{logits, features, per_block: [...]}`: `embed` maps `c` to the width, two
/// `ConditionedBlock`s at `blocks.0` and `blocks.1`, a `head` on the mean token.
public final class ConditionedTestNet: Module {
    public let embed: Linear
    public let blocks: Sequential
    public let head: Linear

    public init(dim: Int, conditionDim: Int, classes: Int, seed: UInt64) throws {
        embed = try Linear(conditionDim, dim)
        blocks = Sequential([try ConditionedBlock(dim: dim), try ConditionedBlock(dim: dim)])
        head = try Linear(dim, classes)
        super.init()
        registerModule("embed", embed)
        registerModule("blocks", blocks)
        registerModule("head", head)
        var generator = RandomGenerator(seed: seed)
        for (_, parameter) in namedParameters() {
            parameter.value = try Tensor.normal(parameter.value.shape, std: 0.5, generator: &generator)
        }
    }

    public override var inputSignature: [InputParameter] {
        [InputParameter("x"), InputParameter("c"), InputParameter("gain", optional: true)]
    }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        var x = try inputs.tensor("x")
        let gain = Float(try inputs.number("gain", default: 1))
        let c = try context.site("cond", try context.apply(embed, try inputs.tensor("c")))
        var perBlock: [ModuleValue] = []
        for (index, block) in blocks.layers.enumerated() {
            let output = try context.apply(block, named: "blocks.\(index)", inputs: ModuleInputs([("x", .tensor(x)), ("c", .tensor(c))]))
            x = try output.tensor("block output")
            perBlock.append(.tensor(try x.mean(axes: [1])))
        }
        let logits = try context.apply(head, try x.mean(axes: [1])) * gain
        return .record([("logits", .tensor(logits)), ("features", .tensor(x)), ("per_block", .list(perBlock))])
    }

    /// The same function written directly with the weights, without contexts or sites; with
    /// `blockCondition` the blocks see that conditioning instead of `embed(c)`.
    public func reference(x: Tensor, c: Tensor, gain: Float = 1, blockCondition: [Int: Tensor] = [:]) throws -> (logits: Tensor, features: Tensor) {
        func linear(_ layer: Linear, _ input: Tensor) throws -> Tensor {
            try NN.linear(input, weight: layer.weight.value, bias: layer.bias?.value)
        }
        let condition = try linear(embed, c)
        var h = x
        for (index, layer) in blocks.layers.enumerated() {
            guard let block = layer as? ConditionedBlock else { throw LoupeError("not a ConditionedBlock") }
            let cc = blockCondition[index] ?? condition
            let s = try linear(block.scale, cc).unsqueezed(axis: 1)
            let b = try linear(block.shift, cc).unsqueezed(axis: 1)
            h = try h + linear(block.fc, try h * (1 + s) + b)
        }
        return (try linear(head, try h.mean(axes: [1])) * gain, h)
    }
}
