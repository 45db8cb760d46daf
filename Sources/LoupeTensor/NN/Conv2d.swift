extension NN {
    /// 2-D convolution (cross-correlation, as `torch.nn.functional.conv2d`) by im2col and sgemm
    /// on cache-sized bands of output rows, one image and group at a time, on all cores;
    /// includes depthwise (`groups == channels`).
    /// - Parameters:
    ///   - x: `[N, C, H, W]`.
    ///   - weight: `[O, C / groups, kh, kw]`.
    ///   - bias: optional `[O]`.
    ///   - stride, padding, dilation: `(height, width)` pairs; padding is zeros on both sides.
    /// - Returns: `[N, O, Ho, Wo]` with `Ho = (H + 2 ph - dh (kh - 1) - 1) / sh + 1`.
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                              stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                              dilation: (Int, Int) = (1, 1), groups: Int = 1) throws -> Tensor {
        try convolution(x, weight: weight, bias: bias, stride: stride,
                        padding: (padding.0, padding.0, padding.1, padding.1),
                        dilation: dilation, groups: groups, op: "conv2d")
    }

    /// `conv2d` with the same stride, padding and dilation along height and width (pass
    /// `stride:` to select this overload).
    public static func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int,
                              padding: Int = 0, dilation: Int = 1, groups: Int = 1) throws -> Tensor {
        try conv2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding),
                   dilation: (dilation, dilation), groups: groups)
    }

    /// 1-D convolution of `x: [N, C, L]` with `weight: [O, C / groups, k]`. With `causal`, the
    /// input is padded on the left only by `(k - 1) * dilation` (and `padding` is ignored), so
    /// output position `t` sees inputs `<= t` (the causal depthwise convolutions of Hyena/Mamba).
    public static func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1,
                              padding: Int = 0, dilation: Int = 1, groups: Int = 1,
                              causal: Bool = false) throws -> Tensor {
        guard x.rank == 3, weight.rank == 3 else {
            throw LoupeError("conv1d: expected input [N, C, L] and weight [O, C/groups, k], got \(describe(shape: x.shape)) and \(describe(shape: weight.shape))")
        }
        let k = weight.shape[2]
        let left = causal ? (k - 1) * dilation : padding
        let right = causal ? 0 : padding
        let x4 = try x.reshaped([x.shape[0], x.shape[1], 1, x.shape[2]])
        let w4 = try weight.reshaped([weight.shape[0], weight.shape[1], 1, k])
        let y = try convolution(x4, weight: w4, bias: bias, stride: (1, stride), padding: (0, 0, left, right),
                                dilation: (1, dilation), groups: groups, op: "conv1d")
        return try y.reshaped([y.shape[0], y.shape[1], y.shape[3]])
    }

    /// Validates convolution hyper-parameters.
    static func checkConvParameters(stride: (Int, Int), padding: [Int], dilation: (Int, Int), groups: Int,
                                    op: String, shapes: String) throws {
        let limit = 1 << 24
        guard stride.0 >= 1, stride.1 >= 1, dilation.0 >= 1, dilation.1 >= 1, groups >= 1,
              padding.allSatisfy({ $0 >= 0 && $0 <= limit }),
              [stride.0, stride.1, dilation.0, dilation.1, groups].allSatisfy({ $0 <= limit }) else {
            throw LoupeError("\(op): invalid stride (\(stride.0), \(stride.1)), padding \(describe(shape: padding)), dilation (\(dilation.0), \(dilation.1)) or groups \(groups) for \(shapes)")
        }
    }

    /// Convolution with padding (top, bottom, left, right); `tuning` sets the block size of
    /// the column matrices (tests shrink it).
    static func convolution(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int),
                            padding: (Int, Int, Int, Int), dilation: (Int, Int), groups: Int,
                            op: String, tuning: ConvTuning = .standard) throws -> Tensor {
        let shapes = "input \(describe(shape: x.shape)) and weight \(describe(shape: weight.shape))"
        guard x.rank == 4, weight.rank == 4 else {
            throw LoupeError("\(op): expected 4-D input [N, C, H, W] and weight [O, C/groups, kh, kw], got \(shapes)")
        }
        try checkConvParameters(stride: stride, padding: [padding.0, padding.1, padding.2, padding.3],
                                dilation: dilation, groups: groups, op: op, shapes: shapes)
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        let o = weight.shape[0], cg = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        guard cg * groups == c, o % groups == 0, o > 0, kh > 0, kw > 0 else {
            throw LoupeError("\(op): \(shapes) do not match with groups \(groups) (need C = weight.shape[1] * groups and O divisible by groups)")
        }
        try checkVector(bias, count: o, name: "bias", op: op, input: x.shape)
        let ho = (h + padding.0 + padding.1 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
        let wo = (w + padding.2 + padding.3 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
        guard h + padding.0 + padding.1 >= dilation.0 * (kh - 1) + 1,
              w + padding.2 + padding.3 >= dilation.1 * (kw - 1) + 1 else {
            throw LoupeError("\(op): kernel (\(kh), \(kw)) with dilation (\(dilation.0), \(dilation.1)) is larger than the padded input for \(shapes)")
        }
        let geometry = ConvGeometry(height: h, width: w, kh: kh, kw: kw, strideH: stride.0, strideW: stride.1,
                                    padTop: padding.0, padLeft: padding.2, dilationH: dilation.0,
                                    dilationW: dilation.1, outHeight: ho, outWidth: wo)
        _ = try Tensor.checkedCount([n, o, ho, wo], op: op)
        _ = try Tensor.checkedCount([cg * kh * kw, n * o, ho, wo], op: op)
        if cg == 1 && groups == c && groups > 1 {
            return depthwiseConvolution(x, weight: weight, bias: bias, geometry: geometry, op: op)
        }
        let products = ConvProducts(geometry: geometry, batch: n, groups: groups, channels: cg, outputs: o / groups,
                                    tuning: tuning)
        let xc = x.contiguous(), wc = weight.contiguous(), bc = bias?.contiguous()
        let result = Tensor.uninitialized([n, o, ho, wo])
        if result.count > 0 {
            withExtendedLifetime((xc, wc, bc)) {
                products.forward(base(xc), weight: base(wc), bias: bc.map { UnsafePointer(base($0)) }, into: base(result))
            }
        }
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let xd = xc.detached(), wd = wc.detached()
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        let hasBias = bias != nil
        return Tensor.record(result, op: op, inputs: inputs) { grad in
            let gc = grad.contiguous()
            let gx = needX ? zeroTensor([n, c, h, w]) : nil
            let gw = needW ? zeroTensor([o, cg, kh, kw]) : nil
            var gb: Tensor? = nil
            withExtendedLifetime((gc, xd, wd)) {
                let pg = base(gc)
                if let gx, result.count > 0 { products.dataGradient(pg, weight: base(wd), into: base(gx)) }
                if let gw, result.count > 0 { products.weightGradient(pg, image: base(xd), into: base(gw)) }
                if needB { gb = channelSums(pg, batch: n, channels: o, area: ho * wo) }
            }
            return hasBias ? [gx, gw, gb] : [gx, gw]
        }
    }
}
