import LoupeTensor

/// A tensor slot owned by a module: a learnable parameter or a buffer (e.g. BatchNorm's
/// `running_mean`). A reference, so loading weights and optimizers' in-place updates reach the
/// module that owns it.
public final class Parameter {
    /// The current value. Loading weights replaces it; optimizers update its storage in place.
    public var value: Tensor

    /// Wraps `value`.
    public init(_ value: Tensor) { self.value = value }

    /// The shape of the current value.
    public var shape: [Int] { value.shape }
}
