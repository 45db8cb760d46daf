import Foundation
import LoupeTensor

/// The operations of NVlabs' StyleGAN2-ADA layers (`torch_utils/ops`: `bias_act`,
/// `conv2d_resample`, `modulated_conv2d`), with the reference implementations' numerics.
public enum StyleGAN2Ops {
    /// NVlabs' default low-pass filter `[1, 3, 3, 1]` as its `setup_filter` prepares it: the outer
    /// product, normalised to sum 1 (`[4, 4]`).
    public static func resampleFilter(_ taps: [Float] = [1, 3, 3, 1]) throws -> Tensor {
        let total = taps.reduce(0, +)
        let values = taps.flatMap { a in taps.map { b in a * b / (total * total) } }
        return try Tensor(shape: [taps.count, taps.count], scalars: values)
    }

    /// `bias_act`: adds `bias` along axis 1, applies leaky ReLU (slope 0.2) when `leaky`,
    /// multiplies by `gain`, clamps to +-`clamp`.
    public static func biasActivation(_ x: Tensor, bias: Tensor?, leaky: Bool, gain: Float, clamp: Float?) throws -> Tensor {
        var y = x
        if let bias {
            var shape = [Int](repeating: 1, count: x.rank)
            if x.rank > 1 { shape[1] = bias.count } else { shape[0] = bias.count }
            y = try y + bias.reshaped(shape)
        }
        if leaky { y = y.leakyRelu(slope: 0.2) }
        if gain != 1 { y = try y * gain }
        if let clamp { y = try y.clamped(min: -clamp, max: clamp) }
        return y
    }

    /// `conv2d_resample` with one group: convolution of `x` with `weight [O, I, kh, kw]`, with
    /// upsampling (transposed convolution, then the filter) or downsampling (filter, then a strided
    /// convolution) by `filter`; `padding` is with respect to the upsampled image.
    /// `flipWeight` false makes it a true convolution (NVlabs flips for upsampling layers).
    public static func conv2dResample(_ x: Tensor, weight: Tensor, filter: Tensor?, up: Int = 1, down: Int = 1,
                                      padding: Int = 0, flipWeight: Bool = true) throws -> Tensor {
        let kh = weight.shape[2], kw = weight.shape[3]
        let fh = filter?.shape[0] ?? 1, fw = filter.map { $0.shape[$0.rank - 1] } ?? 1
        var px0 = padding, px1 = padding, py0 = padding, py1 = padding
        if up > 1 {
            px0 += (fw + up - 1) / 2; px1 += (fw - up) / 2
            py0 += (fh + up - 1) / 2; py1 += (fh - up) / 2
        }
        if down > 1 {
            px0 += (fw - down + 1) / 2; px1 += (fw - down) / 2
            py0 += (fh - down + 1) / 2; py1 += (fh - down) / 2
        }
        let f = try filter ?? Tensor.ones([1, 1])
        func conv(_ x: Tensor, _ w: Tensor, stride: Int = 1, padding: (Int, Int) = (0, 0), flip: Bool) throws -> Tensor {
            try NN.conv2d(x, weight: flip ? w : w.flipped(axes: [2, 3]), stride: (stride, stride), padding: padding)
        }
        func pad(_ l: Int, _ r: Int, _ t: Int, _ b: Int) -> NN.FIRPadding { NN.FIRPadding(left: l, right: r, top: t, bottom: b) }

        if kw == 1, kh == 1, down > 1, up == 1 {
            let y = try NN.upfirdn2d(x, filter: f, down: down, padding: pad(px0, px1, py0, py1))
            return try conv(y, weight, flip: flipWeight)
        }
        if kw == 1, kh == 1, up > 1, down == 1 {
            let y = try conv(x, weight, flip: flipWeight)
            return try NN.upfirdn2d(y, filter: f, up: up, padding: pad(px0, px1, py0, py1), gain: Float(up * up))
        }
        if down > 1, up == 1 {
            let y = try NN.upfirdn2d(x, filter: f, padding: pad(px0, px1, py0, py1))
            return try conv(y, weight, stride: down, flip: flipWeight)
        }
        if up > 1 {
            let transposedWeight = try weight.transposed(0, 1)
            px0 -= kw - 1; px1 -= kw - up
            py0 -= kh - 1; py1 -= kh - up
            let pxt = max(min(-px0, -px1), 0), pyt = max(min(-py0, -py1), 0)
            let w = flipWeight ? try transposedWeight.flipped(axes: [2, 3]) : transposedWeight
            var y = try NN.convTranspose2d(x, weight: w.contiguous(), stride: (up, up), padding: (pyt, pxt))
            y = try NN.upfirdn2d(y, filter: f, padding: pad(px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt), gain: Float(up * up))
            if down > 1 { y = try NN.upfirdn2d(y, filter: f, down: down) }
            return y
        }
        if px0 == px1, py0 == py1, px0 >= 0, py0 >= 0 {
            return try conv(x, weight, padding: (py0, px0), flip: flipWeight)
        }
        var y = try NN.upfirdn2d(x, filter: f, padding: pad(px0, px1, py0, py1))
        y = try conv(y, weight, flip: flipWeight)
        if down > 1 { y = try NN.upfirdn2d(y, filter: f, down: down) }
        return y
    }

    /// `modulated_conv2d`: the convolution of `x [B, I, H, W]` with `weight [O, I, k, k]` scaled
    /// per sample by `styles [B, I]` on its input channels and, with `demodulate`, normalised per
    /// sample and output channel (`rsqrt(sum (w s)^2 + 1e-8)`); `noise` is added after. Computed
    /// as NVlabs' unfused path (scale the activations, one shared convolution, scale again),
    /// which equals its fused grouped convolution.
    public static func modulatedConv2d(_ x: Tensor, weight: Tensor, styles: Tensor, noise: Tensor?, up: Int = 1,
                                       padding: Int = 0, filter: Tensor?, demodulate: Bool = true,
                                       flipWeight: Bool = true) throws -> Tensor {
        var y = try modulatedConvolution(x, weight: weight, styles: styles, up: up, padding: padding, filter: filter,
                                         flipWeight: flipWeight)
        if demodulate {
            y = try y * demodulation(weight: weight, styles: styles).reshaped([x.shape[0], weight.shape[0], 1, 1])
        }
        if let noise { y = try y + noise }
        return y
    }

    /// The convolution of the style-scaled input, before demodulation and noise.
    static func modulatedConvolution(_ x: Tensor, weight: Tensor, styles: Tensor, up: Int, padding: Int, filter: Tensor?,
                                     flipWeight: Bool) throws -> Tensor {
        let batch = x.shape[0], inChannels = weight.shape[1]
        guard x.rank == 4, x.shape[1] == inChannels, styles.shape == [batch, inChannels] else {
            throw LoupeError("modulated_conv2d: input \(describe(shape: x.shape)) and styles \(describe(shape: styles.shape)) do not fit the weight \(describe(shape: weight.shape))")
        }
        let y = try x * styles.reshaped([batch, inChannels, 1, 1])
        return try conv2dResample(y, weight: weight, filter: filter, up: up, padding: padding, flipWeight: flipWeight)
    }

    /// The demodulation coefficients `rsqrt(sum_{i,k} (w_oik s_bi)^2 + 1e-8)`, `[B, O]`.
    static func demodulation(weight: Tensor, styles: Tensor) throws -> Tensor {
        let weightSquares = try (weight * weight).sum(axes: [2, 3])
        return try ((styles * styles).matmul(weightSquares.transposed()) + 1e-8).rsqrt()
    }

    /// The elementwise tail of a synthesis or toRGB layer in one pass, for forward passes that
    /// record no gradient: each output `((y scale[b, c]) + noise) + bias[c]`, leaky ReLU, times
    /// `gain`, clamped, the same operations in the same order as the separate ops
    /// (`modulatedConv2d` then `biasActivation`), so the same bits.
    /// - Parameters:
    ///   - y: `[B, C, H, W]`.
    ///   - scale: `[B, C]` or nil; noise: `[H, W]` or `[B, 1, H, W]` or nil; bias: `[C]` or nil.
    static func fusedTail(_ y: Tensor, scale: Tensor?, noise: Tensor?, bias: Tensor?, leaky: Bool, gain: Float,
                          clamp: Float?) -> Tensor {
        let b = y.shape[0], c = y.shape[1], plane = y.shape[2] * y.shape[3]
        let source = y.contiguous(), scales = scale?.contiguous(), noises = noise?.contiguous(), biases = bias?.contiguous()
        let noisePerImage = noise.map { $0.count == b * plane } ?? false
        let result = Tensor.uninitialized(y.shape)
        let lo = -(clamp ?? .infinity), hi = clamp ?? .infinity
        let clamps = clamp != nil, scales1 = gain != 1
        withExtendedLifetime((source, scales, noises, biases)) {
            let src = UnsafePointer(source.storage.pointer + source.offset), dst = result.storage.pointer
            let sp = scales.map { UnsafePointer($0.storage.pointer + $0.offset) }
            let np = noises.map { UnsafePointer($0.storage.pointer + $0.offset) }
            let bp = biases.map { UnsafePointer($0.storage.pointer + $0.offset) }
            Parallel.forEach(b * c) { index in
                let image = index / c, channel = index % c
                let d = sp?[index], add = bp?[channel]
                let n = np.map { noisePerImage ? $0 + image * plane : $0 }
                let input = src + index * plane, output = dst + index * plane
                for i in 0..<plane {
                    var v = input[i]
                    if let d { v = v * d }
                    if let n { v = v + n[i] }
                    if let add { v = v + add }
                    if leaky { v = v > 0 ? v : v * 0.2 }
                    if scales1 { v = v * gain }
                    if clamps {
                        let raised = v < lo ? lo : v
                        v = raised > hi ? hi : raised
                    }
                    output[i] = v
                }
            }
        }
        return result
    }

    /// Whether a forward pass through these tensors records no gradient (so `fusedTail` may run).
    static func recordsNothing(_ tensors: [Tensor?]) -> Bool {
        !GradMode.isEnabled || !tensors.contains { $0?.requiresGrad ?? false }
    }

    /// `normalize_2nd_moment`: each row divided by its root mean square (+1e-8 inside the root).
    public static func normalizeSecondMoment(_ x: Tensor) throws -> Tensor {
        try x * ((x * x).mean(axes: [1], keepDims: true) + 1e-8).rsqrt()
    }
}

/// NVlabs' `FullyConnectedLayer`: `weight [out, in]` stored divided by the learning-rate
/// multiplier and scaled at run time by `lr_multiplier / sqrt(in)` (the bias by
/// `lr_multiplier`), then leaky ReLU with gain sqrt(2) or none.
public final class StyleGAN2FullyConnected: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let leaky: Bool
    public let lrMultiplier: Float
    public override var typeName: String { "FullyConnectedLayer" }

    /// Zero weights and `biasInit` biases; load a checkpoint or call `initialize`.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, leaky: Bool = false,
                lrMultiplier: Float = 1, biasInit: Float = 0) throws {
        weight = Parameter(try Tensor.zeros([outFeatures, inFeatures]))
        self.bias = bias ? Parameter(try Tensor.full([outFeatures], biasInit)) : nil
        self.leaky = leaky
        self.lrMultiplier = lrMultiplier
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let inFeatures = weight.value.shape[1]
        guard input.rank == 2, input.shape[1] == inFeatures else {
            throw LoupeError("FullyConnectedLayer at '\(context.currentPath)': expected [B, \(inFeatures)], got \(describe(shape: input.shape))")
        }
        let w = try weight.value * (lrMultiplier / Float(inFeatures).squareRoot())
        let b = try bias.map { lrMultiplier == 1 ? $0.value : try $0.value * lrMultiplier }
        if !leaky { return try NN.linear(input, weight: w, bias: b) }
        return try StyleGAN2Ops.biasActivation(NN.linear(input, weight: w), bias: b, leaky: true,
                                               gain: Float(2).squareRoot(), clamp: nil)
    }

    /// NVlabs' initial values: weights N(0, 1) / lr_multiplier (biases keep their initial value).
    public func initialize(generator: inout RandomGenerator) throws {
        weight.value = try Tensor.normal(weight.shape, generator: &generator) / lrMultiplier
    }
}

/// NVlabs' `Conv2dLayer` (the discriminator's convolutions): weight scaled by
/// `1 / sqrt(in k k)`, optional up- or downsampling through the resample filter, bias, leaky ReLU
/// (gain sqrt(2)) or linear, times `gain`, clamped to +-`conv_clamp * gain`.
public final class StyleGAN2Conv2dLayer: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let resampleFilter: Parameter
    public let leaky: Bool
    public let up: Int, down: Int
    public let convClamp: Float?
    /// The extra gain its block calls it with (NVlabs' `forward(x, gain)`: sqrt(1/2) on the
    /// residual paths of resnet blocks).
    public let gain: Float
    public override var typeName: String { "Conv2dLayer" }

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, bias: Bool = true, leaky: Bool = false,
                up: Int = 1, down: Int = 1, convClamp: Float? = nil, gain: Float = 1) throws {
        weight = Parameter(try Tensor.zeros([outChannels, inChannels, kernel, kernel]))
        self.bias = bias ? Parameter(try Tensor.zeros([outChannels])) : nil
        resampleFilter = Parameter(try StyleGAN2Ops.resampleFilter())
        self.leaky = leaky
        self.up = up
        self.down = down
        self.convClamp = convClamp
        self.gain = gain
        super.init()
        registerBuffer("resample_filter", resampleFilter)
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let shape = weight.shape
        guard input.rank == 4, input.shape[1] == shape[1] else {
            throw LoupeError("Conv2dLayer at '\(context.currentPath)': expected [B, \(shape[1]), H, W], got \(describe(shape: input.shape))")
        }
        let w = try weight.value * (1 / Float(shape[1] * shape[2] * shape[3]).squareRoot())
        let y = try StyleGAN2Ops.conv2dResample(input, weight: w, filter: resampleFilter.value, up: up, down: down,
                                                padding: shape[2] / 2, flipWeight: up == 1)
        let actGain = (leaky ? Float(2).squareRoot() : 1) * gain
        return try StyleGAN2Ops.biasActivation(y, bias: bias?.value, leaky: leaky, gain: actGain,
                                               clamp: convClamp.map { $0 * gain })
    }

    /// NVlabs' initial values: weights N(0, 1), biases 0.
    public func initialize(generator: inout RandomGenerator) throws {
        weight.value = try Tensor.normal(weight.shape, generator: &generator)
        if let bias { bias.value = try Tensor.zeros(bias.shape) }
    }
}
