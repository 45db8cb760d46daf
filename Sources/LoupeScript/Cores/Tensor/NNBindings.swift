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

    static let all: [Builtin] = [
        op("softmax(x, axis: -1)", "Softmax along an axis.") { a in try NN.softmax(try a.tensor("x"), axis: try a.int("axis")) },
        op("log_softmax(x, axis: -1)", "Log of the softmax along an axis, computed stably.") { a in try NN.logSoftmax(try a.tensor("x"), axis: try a.int("axis")) },
        op("linear(x, weight, bias: nil)", "x @ weight.T + bias, with weight [out, in] as in PyTorch.") { a in try NN.linear(try a.tensor("x"), weight: try a.tensor("weight"), bias: try a.optionalTensor("bias")) },
        op("conv2d(x, weight, bias: nil, stride: 1, padding: 0, dilation: 1, groups: 1)", "2-D convolution of x [N, C, H, W] with weight [O, C / groups, kh, kw].") { a in
            try NN.conv2d(try a.tensor("x"), weight: try a.tensor("weight"), bias: try a.optionalTensor("bias"), stride: try a.int("stride"),
                          padding: try a.int("padding"), dilation: try a.int("dilation"), groups: try a.int("groups"))
        },
        op("max_pool2d(x, kernel, stride: nil, padding: 0)", "2-D max pooling (stride defaults to kernel).") { a in
            try NN.maxPool2d(try a.tensor("x"), kernel: try a.int("kernel"), stride: try a.optionalInt("stride"), padding: try a.int("padding"))
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
        op("dropout(x, p, training: true)", "Zeroes values with probability p (scaling the rest), drawing from the session generator.") { a in
            try NN.dropout(try a.tensor("x"), p: try a.float("p"), training: try a.bool("training"), generator: &a.interpreter.rng)
        },
        op("cross_entropy(logits, targets, reduction: \"mean\")", "Cross-entropy of logits [N, K] against class indices [N].") { a in
            try NN.crossEntropy(logits: try a.tensor("logits"), targets: try a.tensor("targets"), reduction: try reduction(a, "reduction"))
        },
        op("mse(input, target, reduction: \"mean\")", "Mean squared error.") { a in try NN.mse(try a.tensor("input"), try a.tensor("target"), reduction: try reduction(a, "reduction")) },
        op("l1(input, target, reduction: \"mean\")", "Mean absolute error.") { a in try NN.l1(try a.tensor("input"), try a.tensor("target"), reduction: try reduction(a, "reduction")) },
        op("bce_with_logits(logits, target, reduction: \"mean\")", "Binary cross-entropy on logits, computed stably.") { a in
            try NN.bceWithLogits(try a.tensor("logits"), try a.tensor("target"), reduction: try reduction(a, "reduction"))
        },
    ]
}
