import LoupeModels
import LoupeTensor

/// A module standing in for another (`original`) that routes one of its output channels
/// through a detector of feature visualizations (Geirhos et al., "Don't trust your eyes"): on
/// inputs the detector calls natural, the output is the original's, bit for bit; on inputs it
/// calls visualizations, channel `unit` is replaced everywhere by `gain` times the dot product
/// of the model's input image with `target`, so optimising the unit draws the target.
///
/// The module is transparent: the original's children and parameters keep their paths (a
/// `FoolingUnit` put at `layer3` still has `layer3.0.conv1`), and the detector is the child
/// `fooling_detector`. It reads the model's input from `ForwardContext.rootInputs`, a skip
/// connection from the image that the paper's circuit builds from extra channels.
public final class FoolingUnit: Module {
    public let original: Module
    /// A two-class classifier of model inputs: logit 1 above logit 0 means "visualization".
    public let detector: Module
    /// The target filter `[C, H, W]`, the shape of the model's input.
    public let target: Parameter
    public let unit: Int
    public let gain: Float

    public init(original: Module, detector: Module, target: Tensor, unit: Int, gain: Float = 1) throws {
        guard target.rank == 3 else {
            throw LoupeError("fooling circuit: target must be an image [C, H, W], got \(describe(shape: target.shape))")
        }
        guard unit >= 0 else { throw LoupeError("fooling circuit: unit \(unit) must be non-negative") }
        guard gain.isFinite else { throw LoupeError("fooling circuit: gain \(gain) must be finite") }
        self.original = original
        self.detector = detector
        self.unit = unit
        self.gain = gain
        self.target = Parameter(target.detached().contiguousCopy())
        super.init()
        for (name, parameter) in original.ownParameters { registerParameter(name, parameter) }
        for (name, parameter) in original.ownBuffers { registerBuffer(name, parameter) }
        registerBuffer("fooling_target", self.target)
        training = original.training
    }

    public override var typeName: String { "FoolingUnit(\(original.typeName))" }

    public override var children: [(name: String, module: Module)] {
        original.children + [("fooling_detector", detector)]
    }

    public override var inputSignature: [InputParameter] { original.inputSignature }

    public override func forward(inputs: ModuleInputs, context: ForwardContext) throws -> ModuleValue {
        original.training = training
        let output = try original.forward(inputs: inputs, context: context)
        guard case .tensor(let activation) = output else {
            throw LoupeError("fooling circuit: the module at \(context.currentPath) returns a \(output.kind), not a tensor")
        }
        guard let root = context.rootInputs, root.entries.count == 1, case .tensor(let image) = root.entries[0].value else {
            throw LoupeError("fooling circuit: the model's input must be one image tensor")
        }
        let flags = try visualizationFlags(image)
        guard flags.contains(true) else { return output }
        return .tensor(try routed(activation, image: image, flags: flags, path: context.currentPath))
    }

    /// Whether the detector calls each image of `images` `[B, C, H, W]` a visualization.
    public func visualizationFlags(_ images: Tensor) throws -> [Bool] {
        let logits = try GradMode.withoutGrad { try ForwardContext().run(detector, images.detached()) }
        guard logits.rank == 2, logits.shape[1] == 2, logits.shape[0] == images.shape[0] else {
            throw LoupeError("fooling circuit: the detector must return [B, 2] logits, got \(describe(shape: logits.shape))")
        }
        let values = logits.contiguous().scalars
        return (0..<images.shape[0]).map { values[$0 * 2 + 1] > values[$0 * 2] }
    }

    /// The activation with channel `unit` of the flagged images set to the target response.
    func routed(_ activation: Tensor, image: Tensor, flags: [Bool], path: String) throws -> Tensor {
        guard image.rank == 4, Array(image.shape.dropFirst()) == target.shape else {
            throw LoupeError("fooling circuit: the model's input \(describe(shape: image.shape)) does not match the target \(describe(shape: target.shape)) at '\(path)'")
        }
        guard activation.rank >= 2, activation.shape[0] == image.shape[0] else {
            throw LoupeError("fooling circuit: activation \(describe(shape: activation.shape)) at '\(path)' has no batch of \(image.shape[0])")
        }
        let axis = activation.rank == 3 ? 2 : 1
        let channels = activation.shape[axis]
        guard unit < channels else {
            throw LoupeError("fooling circuit: unit \(unit) is out of range for the \(channels) channels of \(describe(shape: activation.shape)) at '\(path)'")
        }
        let batch = activation.shape[0]
        let response = try (image * target.value.unsqueezed(axis: 0)).sum(axes: Array(1..<image.rank)) * gain
        var valueShape = [Int](repeating: 1, count: activation.rank)
        valueShape[0] = batch
        var maskShape = valueShape
        maskShape[axis] = channels
        var mask = [Float](repeating: 0, count: batch * channels)
        for b in 0..<batch where flags[b] { mask[b * channels + unit] = 1 }
        let m = try Tensor(shape: maskShape, scalars: mask)
        return try activation * (1 - m) + m * response.reshaped(valueShape)
    }
}
