import LoupeTensor

/// Image helpers on float32 tensors [C, H, W] (any leading dimensions: [..., H, W]). They are not
/// differentiable and work on detached values.
public enum Images {
    /// Resampling filters for `resize`.
    public enum ResizeMode: String, Sendable {
        /// Bilinear, PyTorch `F.interpolate(mode="bilinear", align_corners=False)`; with
        /// `antialias` it matches `antialias=True` (a triangle filter widened by the scale factor
        /// when downscaling).
        case bilinear
        /// Box average over the source pixels each output covers, PyTorch `mode="area"`
        /// (`adaptive_avg_pool2d`).
        case area
    }

    /// Splits a shape [..., H, W] into (planes, H, W).
    static func planes(_ image: Tensor, op: String) throws -> (Int, Int, Int) {
        guard image.rank >= 2 else {
            throw LoupeError("\(op): expected an image [C, H, W] or [H, W], got shape \(describe(shape: image.shape))")
        }
        let h = image.shape[image.rank - 2], w = image.shape[image.rank - 1]
        return (h * w == 0 ? 0 : image.count / (h * w), h, w)
    }

    /// Resizes the last two dimensions to `height` x `width`.
    public static func resize(_ image: Tensor, height: Int, width: Int, mode: ResizeMode = .bilinear,
                              antialias: Bool = false) throws -> Tensor {
        let (planes, h, w) = try planes(image, op: "resize")
        guard height >= 1, width >= 1, height <= 1 << 20, width <= 1 << 20 else {
            throw LoupeError("resize: output size \(height) x \(width) is invalid for image of shape \(describe(shape: image.shape))")
        }
        guard h >= 1, w >= 1 else {
            throw LoupeError("resize: cannot resize an empty image of shape \(describe(shape: image.shape))")
        }
        var outShape = image.shape
        outShape[outShape.count - 2] = height
        outShape[outShape.count - 1] = width
        _ = try Tensor.checkedCount(outShape, op: "resize")
        let rows = Taps(input: h, output: height, mode: mode, antialias: antialias)
        let cols = Taps(input: w, output: width, mode: mode, antialias: antialias)
        let result = Tensor.uninitialized(outShape)
        if planes == 0 { return result }
        image.withContiguousPointer { source in
            let destination = result.storage.pointer
            Parallel.forEach(planes) { plane in
                // Horizontal pass into a [h, width] scratch plane, then vertical.
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: h * width)
                defer { scratch.deallocate() }
                let src = source + plane * h * w
                for y in 0..<h {
                    cols.apply(src + y * w, stride: 1, into: scratch + y * width, outStride: 1)
                }
                let dst = destination + plane * height * width
                rows.applyRows(scratch, width: width, into: dst)
            }
        }
        return result
    }

    /// Per-axis filter taps: for each output index, the first source index, tap count and weights.
    struct Taps {
        var starts: [Int] = []
        var counts: [Int] = []
        var weights: [Float] = []
        var maxTaps = 0

        init(input: Int, output: Int, mode: ResizeMode, antialias: Bool) {
            var lists: [(Int, [Float])] = []
            let scale = Double(input) / Double(output)
            switch mode {
            case .area:
                for i in 0..<output {
                    let start = (i * input) / output
                    let end = ((i + 1) * input + output - 1) / output
                    let n = end - start
                    lists.append((start, [Float](repeating: 1 / Float(n), count: n)))
                }
            case .bilinear where antialias && scale > 1:
                let support = scale  // bilinear support 1, widened by the scale
                let invScale = 1 / scale
                for i in 0..<output {
                    let center = scale * (Double(i) + 0.5)
                    let lo = max(Int(center - support + 0.5), 0)
                    let hi = min(Int(center + support + 0.5), input)
                    var ws: [Double] = []
                    var total = 0.0
                    for j in lo..<max(hi, lo) {
                        let x = (Double(j) - center + 0.5) * invScale
                        let weight = max(0, 1 - abs(x))
                        ws.append(weight)
                        total += weight
                    }
                    lists.append((lo, ws.map { Float(total != 0 ? $0 / total : $0) }))
                }
            case .bilinear:
                let fscale = Float(input) / Float(output)
                for i in 0..<output {
                    let real = max(fscale * (Float(i) + 0.5) - 0.5, 0)
                    let i0 = min(Int(real), input - 1)
                    let lambda = min(max(real - Float(i0), 0), 1)
                    if i0 < input - 1 {
                        lists.append((i0, [1 - lambda, lambda]))
                    } else {
                        lists.append((i0, [1]))
                    }
                }
            }
            maxTaps = lists.map { $0.1.count }.max() ?? 0
            for (start, ws) in lists {
                starts.append(start)
                counts.append(ws.count)
                weights.append(contentsOf: ws + [Float](repeating: 0, count: maxTaps - ws.count))
            }
        }

        /// Filters one line of `starts.count` outputs.
        func apply(_ src: UnsafePointer<Float>, stride: Int, into dst: UnsafeMutablePointer<Float>, outStride: Int) {
            weights.withUnsafeBufferPointer { wp in
                for o in 0..<starts.count {
                    let s = starts[o], n = counts[o], base = o * maxTaps
                    var sum: Float = 0
                    for k in 0..<n { sum += wp[base + k] * src[(s + k) * stride] }
                    dst[o * outStride] = sum
                }
            }
        }

        /// Filters along rows: dst row o = sum_k w[o][k] * src row (start + k), rows of `width`.
        func applyRows(_ src: UnsafePointer<Float>, width: Int, into dst: UnsafeMutablePointer<Float>) {
            weights.withUnsafeBufferPointer { wp in
                for o in 0..<starts.count {
                    let row = dst + o * width
                    row.initialize(repeating: 0, count: width)
                    let s = starts[o], base = o * maxTaps
                    for k in 0..<counts[o] {
                        let weight = wp[base + k]
                        let line = src + (s + k) * width
                        for x in 0..<width { row[x] += weight * line[x] }
                    }
                }
            }
        }
    }
}
