import LoupeModels

/// What sampling and training need to know about a class-conditional diffusion model with DiT's
/// inputs (x, t, y): the shape of x, the number of classes (the null class is that number) and
/// whether the output carries learned-range variance values after epsilon.
public struct DiffusionModelShape: Equatable, Sendable {
    public var channels: Int
    public var size: Int
    public var classes: Int
    public var learnSigma: Bool
    /// Whether the model has a null class (trained with label dropout): guidance needs it.
    public var hasNullClass: Bool

    public init(channels: Int, size: Int, classes: Int, learnSigma: Bool, hasNullClass: Bool = true) {
        self.channels = channels
        self.size = size
        self.classes = classes
        self.learnSigma = learnSigma
        self.hasNullClass = hasNullClass
    }
}

/// A model that describes its diffusion inputs (DiT does).
public protocol DiffusionModelDescribing {
    var diffusionShape: DiffusionModelShape { get }
}

/// The diffusion shape of `model`, looking through grafting's edits to the model underneath.
public func diffusionShape(of model: Module) -> DiffusionModelShape? {
    let root = (model as? ReplacedModel)?.base ?? model
    return (root as? DiffusionModelDescribing)?.diffusionShape
}
