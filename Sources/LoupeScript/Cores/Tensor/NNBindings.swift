import Foundation
import LoupeTensor

/// Bindings of the neural-network functions (NN.*): one line each, also tensor methods.
enum NNBindings {
    static func op(_ signature: String, _ doc: String, _ body: @escaping (inout Arguments) throws -> Tensor) -> Builtin {
        Builtin(signature, methodOf: "tensor", doc) { a in .tensor(try body(&a)) }
    }

    static func reduction(_ a: Arguments, _ name: String) throws -> Reduction {
        Reduction(rawValue: try a.choice(name, ["mean", "sum", "none"]))!
    }

    /// An integer or a list of two (height, width), as torch's `int or tuple` arguments.
    static func pair(_ a: Arguments, _ name: String) throws -> (Int, Int) {
        switch a[name] {
        case .number, .list: break
        default: throw a.typeError(name, "an integer or a list of two integers")
        }
        let v = try a.ints(name)
        guard v.count == 1 || v.count == 2 else {
            throw a.error(name, "\(a.builtin.name): argument '\(name)' must be an integer or a list of two integers, got \(a[name].display)")
        }
        return (v[0], v[v.count - 1])
    }

    /// A number or a list of two numbers (height, width).
    static func floatPair(_ a: Arguments, _ name: String) throws -> (Float, Float) {
        if case .list(let l) = a[name] {
            let v: [Float] = l.items.compactMap { if case .number(let n) = $0 { return Float(n) }; return nil }
            guard v.count == 2, l.items.count == 2 else {
                throw a.error(name, "\(a.builtin.name): argument '\(name)' must be a number or a list of two, got \(a[name].display)")
            }
            return (v[0], v[1])
        }
        let f = try a.float(name)
        return (f, f)
    }

    /// Checks that a tensor argument holds only 0 and 1.
    static func keepMask(_ a: Arguments, _ name: String) throws -> Tensor {
        let t = try a.tensor(name)
        guard t.scalars.allSatisfy({ $0 == 0 || $0 == 1 }) else {
            throw a.error(name, "\(a.builtin.name): argument '\(name)' must hold only 0 and 1 (1 = attend); pass an additive float mask as attn_mask")
        }
        return t
    }

    static let all: [Builtin] = [
        op("softmax(x, axis: -1)", "Softmax along an axis.") { a in try NN.softmax(try a.tensor("x"), axis: try a.int("axis")) },
        op("log_softmax(x, axis: -1)", "Log of the softmax along an axis, computed stably.") { a in try NN.logSoftmax(try a.tensor("x"), axis: try a.int("axis")) },
        op("linear(x, weight, bias: nil)", "x @ weight.T + bias, with weight [out, in] as in PyTorch.") { a in try NN.linear(try a.tensor("x"), weight: try a.tensor("weight"), bias: try a.optionalTensor("bias")) },
        op("conv2d(x, weight, bias: nil, stride: 1, padding: 0, dilation: 1, groups: 1)", "2-D convolution of x [N, C, H, W] with weight [O, C / groups, kh, kw]; stride, padding and dilation are integers or [h, w] pairs.") { a in
            try NN.conv2d(try a.tensor("x"), weight: try a.tensor("weight"), bias: try a.optionalTensor("bias"), stride: try pair(a, "stride"),
                          padding: try pair(a, "padding"), dilation: try pair(a, "dilation"), groups: try a.int("groups"))
        },
        op("conv1d(x, weight, bias: nil, stride: 1, padding: 0, dilation: 1, groups: 1, causal: false)", "1-D convolution of x [N, C, L] with weight [O, C / groups, k]; causal: true pads only on the left, dilation * (k - 1) positions.") { a in
            try NN.conv1d(try a.tensor("x"), weight: try a.tensor("weight"), bias: try a.optionalTensor("bias"), stride: try a.int("stride"),
                          padding: try a.int("padding"), dilation: try a.int("dilation"), groups: try a.int("groups"), causal: try a.bool("causal"))
        },
        op("conv_transpose2d(x, weight, bias: nil, stride: 1, padding: 0, output_padding: 0, groups: 1, dilation: 1)",
           """
           Transposed 2-D convolution (torch conv_transpose2d, the adjoint of conv2d) of x [N, Cin, H, W] with weight \
           [Cin, Cout / groups, kh, kw]: output H' = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1. \
           stride, padding, output_padding and dilation are integers or [h, w] pairs; output_padding must be smaller than \
           stride or dilation.
           """) { a in
            try NN.convTranspose2d(try a.tensor("x"), weight: try a.tensor("weight"), bias: try a.optionalTensor("bias"),
                                   stride: try pair(a, "stride"), padding: try pair(a, "padding"),
                                   outputPadding: try pair(a, "output_padding"), dilation: try pair(a, "dilation"),
                                   groups: try a.int("groups"))
        },
        op("upfirdn2d(x, filter, up: 1, down: 1, padding: 0, gain: 1, flip_filter: false)",
           """
           Upsample, FIR-filter and downsample (NVlabs' upfirdn2d, as StyleGAN2 resamples): insert up - 1 zeros \
           after every pixel of x [N, C, H, W], pad (negative: crop) by padding (an integer, or [left, right, top, \
           bottom] of the upsampled image), convolve each channel with filter ([fh, fw], or [taps] applied along \
           both axes; a true convolution unless flip_filter) scaled to total gain `gain`, keep every down-th pixel.
           """) { a in
            let padding: NN.FIRPadding
            switch a["padding"] {
            case .list(let l):
                let values = try l.items.map { item -> Int in
                    guard case .number(let n) = item, n == n.rounded() else { throw a.typeError("padding", "an integer or [left, right, top, bottom]") }
                    return Int(n)
                }
                guard values.count == 4 else { throw a.error("padding", "upfirdn2d: padding must be an integer or [left, right, top, bottom], got \(values.count) numbers") }
                padding = NN.FIRPadding(left: values[0], right: values[1], top: values[2], bottom: values[3])
            default: padding = NN.FIRPadding(try a.int("padding"))
            }
            return try NN.upfirdn2d(try a.tensor("x"), filter: try a.tensor("filter").detached(), up: try a.int("up"), down: try a.int("down"),
                                    padding: padding, gain: try a.float("gain"), flipFilter: try a.bool("flip_filter"))
        },
        op("causal_depthwise_conv1d(x, weight, bias: nil)",
           """
           Causal depthwise 1-D convolution along the tokens of x [N, L, C] (Hyena's and Mamba's causal_conv1d): \
           y[n, t, c] = bias[c] + sum_j weight[c, j] x[n, t - k + 1 + j, c], zeros before the first token; \
           weight [C, k] or torch's Conv1d [C, 1, k]. Equals torch's conv1d(x.transpose(1, 2), weight, bias, \
           padding: k - 1, groups: C)[..., :L] transposed back.
           """) { a in
            try NN.causalDepthwiseConv1d(try a.tensor("x"), weight: try a.tensor("weight"), bias: try a.optionalTensor("bias"))
        },
        op("sliding_window_attention(qkv, heads, left: 4, right: 4, scale: nil)",
           """
           Multi-head softmax attention in which token i of qkv [N, L, 3C] (a fused qkv projection, laid out \
           (three, heads, head_dim) as timm's) attends to tokens i - left ... i + right only (flash-attn's \
           window_size, non-causal), computed on the band: time and memory grow as L (left + right + 1). Returns \
           [N, L, C] (heads merged). scale defaults to 1 / sqrt(head_dim).
           """) { a in
            try NN.slidingWindowAttention(qkv: try a.tensor("qkv"), heads: try a.int("heads"), left: try a.int("left"),
                                          right: try a.int("right"), scale: a.isNil("scale") ? nil : try a.float("scale"))
        },
        op("selective_scan(x, dt, A, B, C, head_dim, D: nil, groups: 1)",
           """
           Mamba-2's selective state-space scan by its exact recurrence: for each head h (group g) and token t, \
           S_t = exp(dt[t, h] A[h]) S_(t-1) + dt[t, h] x[t, h] B[t, g]^T and y[t, h] = S_t C[t, g] + D[h] x[t, h], \
           with x [N, L, H head_dim], dt [N, L, H] (after softplus), A [H], B and C [N, L, groups state]. \
           Returns y [N, L, H head_dim].
           """) { a in
            try NN.selectiveScan(x: try a.tensor("x"), dt: try a.tensor("dt"), A: try a.tensor("A"), B: try a.tensor("B"),
                                 C: try a.tensor("C"), D: try a.optionalTensor("D"), headDim: try a.int("head_dim"),
                                 groups: try a.int("groups"))
        },
        op("max_pool2d(x, kernel, stride: nil, padding: 0, dilation: 1, ceil_mode: false)",
           "2-D max pooling (stride defaults to kernel; kernel, stride, padding and dilation are integers or [h, w] pairs); ceil_mode: true rounds the output size up, adding a last partial window.") { a in
            try NN.maxPool2d(try a.tensor("x"), kernel: try pair(a, "kernel"), stride: a.isNil("stride") ? nil : try pair(a, "stride"),
                             padding: try pair(a, "padding"), dilation: try pair(a, "dilation"), ceilMode: try a.bool("ceil_mode"))
        },
        op("avg_pool2d(x, kernel, stride: nil, padding: 0)", "2-D average pooling (stride defaults to kernel).") { a in
            try NN.avgPool2d(try a.tensor("x"), kernel: try a.int("kernel"), stride: try a.optionalInt("stride"), padding: try a.int("padding"))
        },
        op("adaptive_avg_pool2d(x, size)", "Average pooling to a size x size output.") { a in try NN.adaptiveAvgPool2d(try a.tensor("x"), outputSize: try a.int("size")) },
        op("layer_norm(x, shape, weight: nil, bias: nil, eps: 1e-5)", "Normalizes over the trailing axes given by shape.") { a in
            try NN.layerNorm(try a.tensor("x"), shape: try a.ints("shape"), weight: try a.optionalTensor("weight"), bias: try a.optionalTensor("bias"), eps: try a.float("eps"))
        },
        op("group_norm(x, groups, weight: nil, bias: nil, eps: 1e-5)", "Group normalization of x [N, C, ...].") { a in
            try NN.groupNorm(try a.tensor("x"), groups: try a.int("groups"), weight: try a.optionalTensor("weight"), bias: try a.optionalTensor("bias"), eps: try a.float("eps"))
        },
        op("upsample(x, scale, mode: \"nearest\")", "Resizes x [N, C, H, W] by a scale factor (mode nearest or bilinear).") { a in
            let x = try a.tensor("x"), scale = try a.float("scale")
            return try a.choice("mode", ["nearest", "bilinear"]) == "nearest" ? try NN.upsampleNearest2d(x, scale: scale) : try NN.upsampleBilinear2d(x, scale: scale)
        },
        op("interpolate(x, size: nil, scale: nil, mode: \"nearest\", align_corners: nil)",
           """
           Resizes images x [N, C, H, W] as torch.nn.functional.interpolate: to size (an integer or [h, w]) or by \
           scale (torch's scale_factor; a number or [h, w]; the output is floor(in * scale)), with mode "nearest", \
           "nearest-exact", "bilinear", "bicubic" (a = -0.75, edge-clamped) or "area" (adaptive average pooling). \
           align_corners (bilinear and bicubic only, default false) maps corner pixel centres onto each other.
           """) { a in
            let x = try a.tensor("x")
            guard x.rank == 4 else { throw a.error("x", "interpolate: expected images [N, C, H, W], got shape \(describe(shape: x.shape))") }
            guard a.isNil("size") != a.isNil("scale") else {
                throw a.error(a.isNil("size") ? "x" : "scale", "interpolate: give exactly one of size and scale")
            }
            let mode = NN.InterpolationMode(rawValue: try a.choice("mode", NN.InterpolationMode.allCases.map(\.rawValue)))!
            if !a.isNil("align_corners") && mode != .bilinear && mode != .bicubic {
                throw a.error("align_corners", "interpolate: align_corners applies only to the bilinear and bicubic modes, not \"\(mode.rawValue)\"")
            }
            let alignCorners = a.isNil("align_corners") ? false : try a.bool("align_corners")
            if !a.isNil("size") {
                return try NN.interpolate(x, size: try pair(a, "size"), mode: mode, alignCorners: alignCorners)
            }
            let scale = try floatPair(a, "scale")
            guard scale.0 > 0, scale.1 > 0, scale.0.isFinite, scale.1.isFinite else {
                throw a.error("scale", "interpolate: argument 'scale' must be positive, got \(a["scale"].display)")
            }
            return try NN.interpolate(x, scale: scale, mode: mode, alignCorners: alignCorners)
        },
        op("dropout(x, p, training: true)", "Zeroes values with probability p (scaling the rest), drawing from the session generator.") { a in
            try NN.dropout(try a.tensor("x"), p: try a.float("p"), training: try a.bool("training"), generator: &a.interpreter.rng)
        },
        op("cross_entropy(logits, targets, weight: nil, ignore_index: -100, reduction: \"mean\", label_smoothing: 0)",
           """
           Cross-entropy of logits [N, C] (or [N, C, d...], or [C]) against class indices [N] (or [N, d...]), as torch: \
           weight [C] scales each class's terms, positions whose target is ignore_index count for nothing, the mean \
           divides by the total weight of the targets not ignored, and label_smoothing s mixes the one-hot target \
           with the uniform distribution, (1 - s) onehot + s / C (the smoothing term weighted by class too).
           """) { a in
            let smoothing = try a.float("label_smoothing")
            guard smoothing >= 0, smoothing <= 1 else {
                throw a.error("label_smoothing", "cross_entropy: argument 'label_smoothing' must be in [0, 1], got \(a["label_smoothing"].display)")
            }
            return try NN.crossEntropy(logits: try a.tensor("logits"), targets: try a.tensor("targets"), labelSmoothing: smoothing,
                                       weight: try a.optionalTensor("weight"), ignoreIndex: try a.int("ignore_index"),
                                       reduction: try reduction(a, "reduction"))
        },
        op("mse(input, target, reduction: \"mean\")", "Mean squared error.") { a in try NN.mse(try a.tensor("input"), try a.tensor("target"), reduction: try reduction(a, "reduction")) },
        op("l1(input, target, reduction: \"mean\")", "Mean absolute error.") { a in try NN.l1(try a.tensor("input"), try a.tensor("target"), reduction: try reduction(a, "reduction")) },
        op("huber(input, target, delta: 1, reduction: \"mean\")", "Huber loss (torch huber_loss): 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target.") { a in
            let delta = try a.float("delta")
            guard delta > 0 else { throw a.error("delta", "huber: argument 'delta' must be positive, got \(a["delta"].display)") }
            return try NN.huber(try a.tensor("input"), try a.tensor("target"), delta: delta, reduction: try reduction(a, "reduction"))
        },
        op("smooth_l1(input, target, beta: 1, reduction: \"mean\")", "Smooth L1 loss (torch smooth_l1_loss): 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta 0 is l1.") { a in
            let beta = try a.float("beta")
            guard beta >= 0, beta.isFinite else { throw a.error("beta", "smooth_l1: argument 'beta' must be non-negative, got \(a["beta"].display)") }
            return try NN.smoothL1(try a.tensor("input"), try a.tensor("target"), beta: beta, reduction: try reduction(a, "reduction"))
        },
        op("bce_with_logits(logits, target, weight: nil, reduction: \"mean\", pos_weight: nil)",
           "Binary cross-entropy on logits, computed stably, as torch: weight (broadcast to the logits) scales each element's loss; pos_weight (broadcast to the logits, usually [C] for the last axis) weighs the positive term: (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x).") { a in
            let logits = try a.tensor("logits"), red = try reduction(a, "reduction")
            let loss = try NN.bceWithLogits(logits, try a.tensor("target"), posWeight: try a.optionalTensor("pos_weight"),
                                            reduction: a.isNil("weight") ? red : .none)
            guard let weight = try a.optionalTensor("weight") else { return loss }
            guard (try? Tensor.broadcastShape(logits.shape, weight.shape, op: "bce_with_logits")) == logits.shape else {
                throw a.error("weight", "bce_with_logits: weight \(describe(shape: weight.shape)) does not broadcast to logits \(describe(shape: logits.shape))")
            }
            return NN.reduce(try loss * weight, red)
        },
        op("scaled_dot_product_attention(query, key, value, attn_mask: nil, is_causal: false, scale: nil, bool_mask: nil)",
           """
           Attention softmax(query @ key.T * scale + mask) @ value on [..., L, D] operands (batch axes broadcast), as \
           torch scaled_dot_product_attention; scale defaults to 1 / sqrt(D). attn_mask is torch's float mask: added \
           to the scores (0 keeps, -inf drops), so a 0/1 tensor there does not mask. bool_mask is torch's boolean \
           mask as 0/1 values: 1 = take part in attention. is_causal lets query i attend to keys j <= i and excludes \
           the masks. A query with every key masked gets zeros (torch gives NaN).
           """) { a in
            let isCausal = try a.bool("is_causal")
            if !a.isNil("attn_mask") && !a.isNil("bool_mask") {
                throw a.error("bool_mask", "scaled_dot_product_attention: give attn_mask or bool_mask, not both")
            }
            if isCausal, let masked = ["attn_mask", "bool_mask"].first(where: { !a.isNil($0) }) {
                throw a.error(masked, "scaled_dot_product_attention: \(masked) cannot be combined with is_causal: true")
            }
            var mask = try a.optionalTensor("attn_mask")
            if !a.isNil("bool_mask") { mask = NN.additiveMask(keep: try keepMask(a, "bool_mask")) }
            return try NN.scaledDotProductAttention(query: try a.tensor("query"), key: try a.tensor("key"), value: try a.tensor("value"),
                                                    mask: mask, causal: isCausal, scale: try a.optionalNumber("scale").map { Float($0) })
        },
        op("batch_norm(x, running_mean, running_var, weight: nil, bias: nil, training: false, momentum: 0.1, eps: 1e-5)",
           "Batch normalization of x [N, C, ...] per channel (torch batch_norm): batch statistics when training, else the running ones; the running statistics given are not updated (tensors are values).") { a in
            try NN.batchNorm(try a.tensor("x"), runningMean: try a.optionalTensor("running_mean"), runningVar: try a.optionalTensor("running_var"),
                             weight: try a.optionalTensor("weight"), bias: try a.optionalTensor("bias"), training: try a.bool("training"),
                             momentum: try a.float("momentum"), eps: try a.float("eps")).output
        },
        op("embedding(input, weight)", "Rows of weight [V, D] picked by the integer ids in input (any shape), giving [..., D]; the gradient flows to weight.") { a in
            try NN.embedding(try a.tensor("input"), weight: try a.tensor("weight"))
        },
        op("rfft2(x, norm: \"backward\")", "2-D real FFT of the last two axes, [..., H, W] -> [..., H, W / 2 + 1, 2] (real, imaginary: torch view_as_real(fft.rfft2(x))); norm \"backward\", \"ortho\" or \"forward\".") { a in
            try NN.rfft2(try a.tensor("x"), norm: FFTNorm(rawValue: try a.choice("norm", ["backward", "ortho", "forward"]))!)
        },
        op("irfft2(x, s, norm: \"backward\")", "Inverse of rfft2: a spectrum [..., H', W', 2] to real [..., s[0], s[1]] (torch fft.irfft2(view_as_complex(x), s)).") { a in
            try NN.irfft2(try a.tensor("x"), size: try pair(a, "s"), norm: FFTNorm(rawValue: try a.choice("norm", ["backward", "ortho", "forward"]))!)
        },
    ]
}
