import LoupeTensor

/// The optimised leaf tensor and how it becomes `[B, C, H, W]` images in (0, 1).
public struct ImageParameterization {
    /// How the image is parameterised.
    public enum Kind: String, Sendable, CaseIterable {
        /// One logit per pixel; the image is `sigmoid(logits)`, so it stays in (0, 1).
        case pixel
        /// lucent's `fft_image`: a spectrum scaled by `1 / max(f, 1 / max(h, w))` (decay power
        /// 1), `irfft2` with orthonormal scaling, divided by 4, then the sigmoid. Low
        /// frequencies dominate, which regularises the image.
        case fourier
    }

    public let kind: Kind
    /// The images' shape `[B, C, H, W]`.
    public let shape: [Int]
    /// The leaf the optimiser updates (requires a gradient).
    public let parameter: Tensor
    /// Whether the parameters live in lucent's decorrelated colour space (3 channels only).
    public let decorrelate: Bool
    /// The Fourier spectrum's per-frequency scale `[1, 1, H, W / 2 + 1, 2]` (`.fourier` only).
    let scale: Tensor?

    /// lucent divides the inverse FFT by 4 before the sigmoid.
    static let fourierDivisor: Float = 4

    /// Parameters for images of `shape` `[B, C, H, W]`: from `initial` (`[B, C, H, W]`, `[1, C, H,
    /// W]` or `[C, H, W]` in (0, 1)) when given, else drawn normal with std 0.01 from `generator`
    /// (near gray, as lucent). `decorrelate` applies to 3-channel images only. `op` prefixes errors.
    public init(_ kind: Kind, shape: [Int], initial: Tensor? = nil, decorrelate: Bool = false,
                generator: inout RandomGenerator, op: String = "image") throws {
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 }) else {
            throw LoupeError("\(op): image shape must be [B, C, H, W] with positive sizes, got \(describe(shape: shape))")
        }
        self.kind = kind
        self.shape = shape
        self.decorrelate = decorrelate && shape[1] == 3
        let h = shape[2], w = shape[3]
        var logits: Tensor?
        if let initial {
            var start = initial
            if start.rank == 3 { start = try start.unsqueezed(axis: 0) }
            if start.rank == 4 && start.shape[0] == 1 && shape[0] > 1 && Array(start.shape.dropFirst()) == Array(shape.dropFirst()) {
                start = try start.expanded(to: shape)
            }
            guard start.shape == shape else {
                throw LoupeError("\(op): initial image \(describe(shape: initial.shape)) does not match the images \(describe(shape: shape))")
            }
            let p = try start.detached().clamped(min: 1e-3, max: 1 - 1e-3)
            var startLogits = try (p / (1 - p)).log()
            if self.decorrelate { startLogits = try ColorDecorrelation.apply(startLogits, inverse: true) }
            logits = startLogits
        }
        switch kind {
        case .pixel:
            scale = nil
            parameter = try (logits ?? Tensor.normal(shape, std: 0.01, generator: &generator)).contiguousCopy().requiringGrad()
        case .fourier:
            let scale = try ImageParameterization.spectrumScale(height: h, width: w)
            self.scale = scale
            if let logits {
                let spectrum = try NN.rfft2(try logits * ImageParameterization.fourierDivisor, norm: .ortho)
                parameter = try (spectrum / scale).contiguousCopy().requiringGrad()
            } else {
                parameter = try Tensor.normal([shape[0], shape[1], h, w / 2 + 1, 2], std: 0.01, generator: &generator).requiringGrad()
            }
        }
    }

    /// Parameters given as they are: `parameter` is the pixel logits `[B, C, H, W]` or the
    /// unscaled spectrum `[B, C, H, W / 2 + 1, 2]` (lucent's `spectrum_real_imag_t`), copied.
    public init(_ kind: Kind, shape: [Int], parameter: Tensor, decorrelate: Bool = false, op: String = "image") throws {
        guard shape.count == 4, shape.allSatisfy({ $0 > 0 }) else {
            throw LoupeError("\(op): image shape must be [B, C, H, W] with positive sizes, got \(describe(shape: shape))")
        }
        let expected = kind == .pixel ? shape : [shape[0], shape[1], shape[2], shape[3] / 2 + 1, 2]
        guard parameter.shape == expected else {
            throw LoupeError("\(op): \(kind.rawValue) parameters must be \(describe(shape: expected)) for images \(describe(shape: shape)), got \(describe(shape: parameter.shape))")
        }
        self.kind = kind
        self.shape = shape
        self.decorrelate = decorrelate && shape[1] == 3
        self.scale = kind == .fourier ? try ImageParameterization.spectrumScale(height: shape[2], width: shape[3]) : nil
        self.parameter = try parameter.detached().contiguousCopy().requiringGrad()
    }

    /// lucent's `rfft2d_freqs` scale `1 / max(sqrt(fx^2 + fy^2), 1 / max(h, w))` with numpy's
    /// `fftfreq`, for both the real and imaginary part: `[1, 1, h, w / 2 + 1, 2]`.
    static func spectrumScale(height h: Int, width w: Int) throws -> Tensor {
        let wf = w / 2 + 1
        var values = [Float](repeating: 0, count: h * wf * 2)
        for y in 0..<h {
            let fy = Float(y <= (h - 1) / 2 ? y : y - h) / Float(h)
            for x in 0..<wf {
                let fx = Float(x) / Float(w)
                let s = 1 / max((fx * fx + fy * fy).squareRoot(), 1 / Float(max(h, w)))
                values[(y * wf + x) * 2] = s
                values[(y * wf + x) * 2 + 1] = s
            }
        }
        return try Tensor(shape: [1, 1, h, wf, 2], scalars: values)
    }

    /// The images in (0, 1). Differentiable in `parameter`.
    public func render() throws -> Tensor {
        var logits: Tensor
        switch (kind, scale) {
        case (.fourier, let scale?):
            let spatial = try NN.irfft2(try parameter * scale, size: (shape[2], shape[3]), norm: .ortho)
            logits = try spatial / ImageParameterization.fourierDivisor
        default:
            logits = parameter
        }
        if decorrelate { logits = try ColorDecorrelation.apply(logits) }
        return logits.sigmoid()
    }
}
