extension NN {
    /// One output position's window along an axis: input range and divisor contribution.
    struct Window { var start: Int, end: Int, size: Int }

    /// Average pooling over the last two axes of `x` (`[..., H, W]`, usually NCHW), as torch
    /// `avg_pool2d` without ceil mode. `stride` defaults to `kernel`; `padding` must be at most
    /// half the kernel. With `countIncludePad` the divisor counts padded positions.
    public static func avgPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: (Int, Int) = (0, 0), countIncludePad: Bool = true) throws -> Tensor {
        let op = "avgPool2d"
        let s = stride ?? kernel
        let (h, w) = try poolCheck(x, kernel: kernel, stride: s, padding: padding, op: op)
        func windows(_ size: Int, _ k: Int, _ st: Int, _ p: Int) -> [Window] {
            let out = (size + 2 * p - k) / st + 1
            return (0..<out).map { o in
                let start = o * st - p, end = min(start + k, size + p)
                let full = end - start
                let cs = max(start, 0), ce = min(end, size)
                return Window(start: cs, end: ce, size: countIncludePad ? full : ce - cs)
            }
        }
        return try windowAverage(x, rows: windows(h, kernel.0, s.0, padding.0),
                                 columns: windows(w, kernel.1, s.1, padding.1), op: op)
    }

    /// `avgPool2d` with square kernel, stride and padding.
    public static func avgPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0,
                                 countIncludePad: Bool = true) throws -> Tensor {
        try avgPool2d(x, kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding),
                      countIncludePad: countIncludePad)
    }

    /// Adaptive average pooling of the last two axes to `outputSize` (torch windows:
    /// `floor(i H / out) ..< ceil((i + 1) H / out)`).
    public static func adaptiveAvgPool2d(_ x: Tensor, outputSize: (Int, Int)) throws -> Tensor {
        guard x.rank >= 2, outputSize.0 > 0, outputSize.1 > 0, x.shape[x.rank - 2] > 0, x.shape[x.rank - 1] > 0 else {
            throw LoupeError("adaptiveAvgPool2d: cannot pool input \(describe(shape: x.shape)) to (\(outputSize.0), \(outputSize.1))")
        }
        func windows(_ size: Int, _ out: Int) -> [Window] {
            (0..<out).map { i in
                let start = (i * size) / out, end = ((i + 1) * size + out - 1) / out
                return Window(start: start, end: end, size: end - start)
            }
        }
        return try windowAverage(x, rows: windows(x.shape[x.rank - 2], outputSize.0),
                                 columns: windows(x.shape[x.rank - 1], outputSize.1), op: "adaptiveAvgPool2d")
    }

    /// `adaptiveAvgPool2d` to a square output.
    public static func adaptiveAvgPool2d(_ x: Tensor, outputSize: Int) throws -> Tensor {
        try adaptiveAvgPool2d(x, outputSize: (outputSize, outputSize))
    }

    /// Max pooling over the last two axes (torch `max_pool2d`, padding counts as -inf, the
    /// first maximum of a window receives the gradient). `stride` defaults to `kernel`. With
    /// `ceilMode` the output size rounds up, so a last, partial window covers the remaining
    /// rows and columns (torch's rule: a window must start inside the input or left padding).
    public static func maxPool2d(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil,
                                 padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
                                 ceilMode: Bool = false) throws -> Tensor {
        let op = "maxPool2d"
        let s = stride ?? kernel
        let (h, w) = try poolCheck(x, kernel: kernel, stride: s, padding: padding, op: op)
        guard dilation.0 >= 1, dilation.1 >= 1, dilation.0 <= 1 << 24, dilation.1 <= 1 << 24,
              h + 2 * padding.0 >= dilation.0 * (kernel.0 - 1) + 1,
              w + 2 * padding.1 >= dilation.1 * (kernel.1 - 1) + 1 else {
            throw LoupeError("\(op): invalid dilation (\(dilation.0), \(dilation.1)) for kernel (\(kernel.0), \(kernel.1)) and input \(describe(shape: x.shape))")
        }
        func outputSize(_ size: Int, _ k: Int, _ st: Int, _ p: Int, _ d: Int) -> Int {
            let span = size + 2 * p - d * (k - 1) - 1
            var out = (ceilMode ? (span + st - 1) / st : span / st) + 1
            if ceilMode && (out - 1) * st >= size + p { out -= 1 }
            return out
        }
        let ho = outputSize(h, kernel.0, s.0, padding.0, dilation.0)
        let wo = outputSize(w, kernel.1, s.1, padding.1, dilation.1)
        let planes = x.count / (h * w)
        let outShape = Array(x.shape.dropLast(2)) + [ho, wo]
        let result = Tensor.uninitialized(outShape)
        var argmax = [Int32](repeating: -1, count: max(planes * ho * wo, 1))
        let xc = x.contiguous()
        withExtendedLifetime(xc) {
            argmax.withUnsafeMutableBufferPointer { arg in
                let src = base(xc), dst = base(result), ap = arg.baseAddress!
                Parallel.forEach(planes) { p in
                    let plane = src + p * h * w
                    for oy in 0..<ho {
                        for ox in 0..<wo {
                            var best = -Float.infinity, bestIndex: Int32 = -1
                            for ki in 0..<kernel.0 {
                                let y = oy * s.0 - padding.0 + ki * dilation.0
                                if y < 0 || y >= h { continue }
                                for kj in 0..<kernel.1 {
                                    let xx = ox * s.1 - padding.1 + kj * dilation.1
                                    if xx < 0 || xx >= w { continue }
                                    let v = plane[y * w + xx]
                                    if v > best || v.isNaN || bestIndex < 0 {
                                        best = v; bestIndex = Int32(y * w + xx)
                                        if v.isNaN { break }
                                    }
                                }
                            }
                            let o = (p * ho + oy) * wo + ox
                            dst[o] = best
                            ap[o] = bestIndex
                        }
                    }
                }
            }
        }
        let inShape = x.shape
        return Tensor.record(result, op: op, inputs: [x]) { grad in
            let g = grad.contiguous()
            let gx = zeroTensor(inShape)
            withExtendedLifetime(g) {
                let pg = base(g), dx = base(gx)
                for p in 0..<planes {
                    for j in 0..<(ho * wo) {
                        let a = argmax[p * ho * wo + j]
                        if a >= 0 { dx[p * h * w + Int(a)] += pg[p * ho * wo + j] }
                    }
                }
            }
            return [gx]
        }
    }

    /// `maxPool2d` with square kernel, stride and padding.
    public static func maxPool2d(_ x: Tensor, kernel: Int, stride: Int? = nil, padding: Int = 0,
                                 dilation: Int = 1, ceilMode: Bool = false) throws -> Tensor {
        try maxPool2d(x, kernel: (kernel, kernel), stride: stride.map { ($0, $0) }, padding: (padding, padding),
                      dilation: (dilation, dilation), ceilMode: ceilMode)
    }

    /// Validates pooling arguments; returns the input's (H, W).
    private static func poolCheck(_ x: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
                                  op: String) throws -> (Int, Int) {
        guard x.rank >= 3 else {
            throw LoupeError("\(op): expected input [..., H, W] of rank >= 3, got \(describe(shape: x.shape))")
        }
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let limit = 1 << 24
        guard kernel.0 >= 1, kernel.1 >= 1, stride.0 >= 1, stride.1 >= 1, padding.0 >= 0, padding.1 >= 0,
              [kernel.0, kernel.1, stride.0, stride.1].allSatisfy({ $0 <= limit }),
              padding.0 * 2 <= kernel.0, padding.1 * 2 <= kernel.1 else {
            throw LoupeError("\(op): invalid kernel (\(kernel.0), \(kernel.1)), stride (\(stride.0), \(stride.1)) or padding (\(padding.0), \(padding.1)) (padding must be at most half the kernel) for input \(describe(shape: x.shape))")
        }
        guard h > 0, w > 0, h + 2 * padding.0 >= kernel.0, w + 2 * padding.1 >= kernel.1 else {
            throw LoupeError("\(op): kernel (\(kernel.0), \(kernel.1)) is larger than the padded input \(describe(shape: x.shape))")
        }
        return (h, w)
    }

    /// Averages separable windows of the last two axes. Differentiable.
    private static func windowAverage(_ x: Tensor, rows: [Window], columns: [Window], op: String) throws -> Tensor {
        let h = x.shape[x.rank - 2], w = x.shape[x.rank - 1]
        let ho = rows.count, wo = columns.count
        let planes = x.count / (h * w)
        let result = Tensor.uninitialized(Array(x.shape.dropLast(2)) + [ho, wo])
        let xc = x.contiguous()
        withExtendedLifetime(xc) {
            let src = base(xc), dst = base(result)
            Parallel.forEach(planes) { p in
                let plane = src + p * h * w
                for (oy, r) in rows.enumerated() {
                    for (ox, c) in columns.enumerated() {
                        var acc: Float = 0
                        for y in r.start..<max(r.start, r.end) {
                            for xx in c.start..<max(c.start, c.end) { acc += plane[y * w + xx] }
                        }
                        dst[(p * ho + oy) * wo + ox] = acc / Float(r.size * c.size)
                    }
                }
            }
        }
        let inShape = x.shape
        return Tensor.record(result, op: op, inputs: [x]) { grad in
            let g = grad.contiguous()
            let gx = zeroTensor(inShape)
            withExtendedLifetime(g) {
                let pg = base(g), dx = base(gx)
                Parallel.forEach(planes) { p in
                    let plane = dx + p * h * w
                    for (oy, r) in rows.enumerated() {
                        for (ox, c) in columns.enumerated() {
                            let v = pg[(p * ho + oy) * wo + ox] / Float(r.size * c.size)
                            for y in r.start..<max(r.start, r.end) {
                                for xx in c.start..<max(c.start, c.end) { plane[y * w + xx] += v }
                            }
                        }
                    }
                }
            }
            return [gx]
        }
    }
}
