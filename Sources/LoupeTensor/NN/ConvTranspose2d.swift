extension NN {
    /// Transposed 2-D convolution (as `torch.nn.functional.conv_transpose2d`): the adjoint of
    /// `conv2d`, computed as sgemm and col2im on cache-sized bands of rows, on all cores.
    /// - Parameters:
    ///   - x: `[N, Cin, H, W]`.
    ///   - weight: `[Cin, Cout / groups, kh, kw]`.
    ///   - bias: optional `[Cout]`.
    ///   - outputPadding: extra rows/columns added on the bottom/right; must be smaller than
    ///     the stride or the dilation.
    /// - Returns: `[N, Cout, Ho, Wo]` with `Ho = (H - 1) sh - 2 ph + dh (kh - 1) + oph + 1`.
    public static func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil,
                                       stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
                                       outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                                       groups: Int = 1) throws -> Tensor {
        try convTranspose2d(x, weight: weight, bias: bias, stride: stride, padding: padding,
                            outputPadding: outputPadding, dilation: dilation, groups: groups, tuning: .standard)
    }

    /// `convTranspose2d` with the block size of its column matrices set by `tuning`.
    static func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor?, stride: (Int, Int), padding: (Int, Int),
                                outputPadding: (Int, Int), dilation: (Int, Int), groups: Int,
                                tuning: ConvTuning) throws -> Tensor {
        let op = "convTranspose2d"
        let shapes = "input \(describe(shape: x.shape)) and weight \(describe(shape: weight.shape))"
        guard x.rank == 4, weight.rank == 4 else {
            throw LoupeError("\(op): expected 4-D input [N, Cin, H, W] and weight [Cin, Cout/groups, kh, kw], got \(shapes)")
        }
        try checkConvParameters(stride: stride, padding: [padding.0, padding.1, outputPadding.0, outputPadding.1],
                                dilation: dilation, groups: groups, op: op, shapes: shapes)
        guard (outputPadding.0 < stride.0 || outputPadding.0 < dilation.0),
              (outputPadding.1 < stride.1 || outputPadding.1 < dilation.1) else {
            throw LoupeError("\(op): output padding (\(outputPadding.0), \(outputPadding.1)) must be smaller than stride or dilation for \(shapes)")
        }
        let n = x.shape[0], cin = x.shape[1], h = x.shape[2], w = x.shape[3]
        let cog = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        guard weight.shape[0] == cin, cin % groups == 0, cog > 0, kh > 0, kw > 0 else {
            throw LoupeError("\(op): \(shapes) do not match with groups \(groups) (need weight.shape[0] = Cin divisible by groups)")
        }
        let cig = cin / groups, cout = cog * groups
        try checkVector(bias, count: cout, name: "bias", op: op, input: x.shape)
        let ho = (h - 1) * stride.0 - 2 * padding.0 + dilation.0 * (kh - 1) + outputPadding.0 + 1
        let wo = (w - 1) * stride.1 - 2 * padding.1 + dilation.1 * (kw - 1) + outputPadding.1 + 1
        guard ho > 0, wo > 0 else {
            throw LoupeError("\(op): output size (\(ho), \(wo)) is not positive for \(shapes)")
        }
        let geometry = ConvGeometry(height: ho, width: wo, kh: kh, kw: kw, strideH: stride.0, strideW: stride.1,
                                    padTop: padding.0, padLeft: padding.1, dilationH: dilation.0,
                                    dilationW: dilation.1, outHeight: h, outWidth: w)
        let kk = cog * kh * kw, l = h * w
        _ = try Tensor.checkedCount([n, cout, ho, wo], op: op)
        _ = try Tensor.checkedCount([kk, n * cin, h, w], op: op)
        // The products of the convolution this one is the adjoint of: its images are this
        // op's outputs (`cog` channels per group), its outputs this op's inputs (`cig`).
        let products = ConvProducts(geometry: geometry, batch: n, groups: groups, channels: cog, outputs: cig,
                                    tuning: tuning)
        let xc = x.contiguous(), wc = weight.contiguous(), bc = bias?.contiguous()
        let result = zeroTensor([n, cout, ho, wo])
        if n * l > 0 {
            withExtendedLifetime((xc, wc)) {
                products.dataGradient(base(xc), weight: base(wc), into: base(result))
            }
        }
        if let bc {
            withExtendedLifetime(bc) {
                addChannelBias(base(bc), batch: n, channels: cout, area: ho * wo, to: base(result))
            }
        }
        let needX = x.requiresGrad, needW = weight.requiresGrad, needB = bias?.requiresGrad ?? false
        let xd = xc.detached(), wd = wc.detached()
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        let hasBias = bias != nil
        return Tensor.record(result, op: op, inputs: inputs) { grad in
            let gc = grad.contiguous()
            let gx = needX ? Tensor.uninitialized([n, cin, h, w]) : nil
            let gw = needW ? zeroTensor([cin, cog, kh, kw]) : nil
            var gb: Tensor? = nil
            withExtendedLifetime((gc, xd, wd)) {
                if n * l > 0 {
                    if let gx { products.forward(base(gc), weight: base(wd), bias: nil, into: base(gx)) }
                    if let gw { products.weightGradient(base(xd), image: base(gc), into: base(gw)) }
                }
                if needB { gb = channelSums(base(gc), batch: n, channels: cout, area: ho * wo) }
            }
            return hasBias ? [gx, gw, gb] : [gx, gw]
        }
    }

    /// `convTranspose2d` with the same value along height and width (pass `stride:` to select
    /// this overload).
    public static func convTranspose2d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int,
                                       padding: Int = 0, outputPadding: Int = 0, dilation: Int = 1,
                                       groups: Int = 1) throws -> Tensor {
        try convTranspose2d(x, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding),
                            outputPadding: (outputPadding, outputPadding), dilation: (dilation, dilation),
                            groups: groups)
    }
}
