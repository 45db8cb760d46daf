import LoupeModels

/// What sampling and training need to know about a class-conditional diffusion model with DiT's
/// inputs (x, t, y): the shape of x, the number of classes (the null class is that number) and
/// whether the output carries learned-range variance values after epsilon.
public struct DiffusionModelShape: Equatable, Sendable {
    public var channels: Int
    public var size: Int
    public var classes: Int
    public var learnSigma: Bool

    public init(channels: Int, size: Int, classes: Int, learnSigma: Bool) {
        self.channels = channels
        self.size = size
        self.classes = classes
        self.learnSigma = learnSigma
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
