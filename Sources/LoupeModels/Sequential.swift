import LoupeTensor

/// Children numbered `0`, `1`, ... run one after another (torch `nn.Sequential`; also
/// `nn.ModuleList` when iterated in order, as timm's `blocks`). Paths: `blocks.3.attn...`.
public final class Sequential: Module {
    /// The children in order.
    public private(set) var layers: [Module] = []

    /// Registers `layers` as children `0`, `1`, ...
    public init(_ layers: [Module]) {
        super.init()
        for layer in layers { append(layer) }
    }

    /// Appends a child named by its position.
    public func append(_ layer: Module) {
        registerModule(String(layers.count), layer)
        layers.append(layer)
    }

    /// The number of children.
    public var count: Int { layers.count }

    /// The child at `index`.
    public subscript(index: Int) -> Module { layers[index] }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        var x = input
        for (index, layer) in layers.enumerated() { x = try context.apply(layer, named: String(index), x) }
        return x
    }
}
