import Foundation
import LoupeTensor

/// Bindings of the neural-network functions (NN.*): one line each, also tensor methods.
enum NNBindings {
    static func op(_ signature: String, _ doc: String, _ body: @escaping (inout Arguments) throws -> Tensor) -> Builtin {
        Builtin(signature, methodOf: "tensor", doc) { a in .tensor(try body(&a)) }
    }

    static func reduction(_ a: Arguments, _ i: Int) throws -> Reduction {
        Reduction(rawValue: try a.choice(i, ["mean", "sum", "none"]))!
    }

    static let all: [Builtin] = [
        op("softmax(x, axis: -1)", "Softmax along an axis.") { a in try NN.softmax(try a.tensor(0), axis: try a.int(1)) },
        op("log_softmax(x, axis: -1)", "Log of the softmax along an axis, computed stably.") { a in try NN.logSoftmax(try a.tensor(0), axis: try a.int(1)) },
        op("linear(x, weight, bias: nil)", "x @ weight.T + bias, with weight [out, in] as in PyTorch.") { a in try NN.linear(try a.tensor(0), weight: try a.tensor(1), bias: try a.optionalTensor(2)) },
        op("conv2d(x, weight, bias: nil, stride: 1, padding: 0, dilation: 1, groups: 1)", "2-D convolution of x [N, C, H, W] with weight [O, C / groups, kh, kw].") { a in
            try NN.conv2d(try a.tensor(0), weight: try a.tensor(1), bias: try a.optionalTensor(2), stride: try a.int(3),
                          padding: try a.int(4), dilation: try a.int(5), groups: try a.int(6))
        },
        op("max_pool2d(x, kernel, stride: nil, padding: 0)", "2-D max pooling (stride defaults to kernel).") { a in
            try NN.maxPool2d(try a.tensor(0), kernel: try a.int(1), stride: try a.optionalInt(2), padding: try a.int(3))
        },
        op("avg_pool2d(x, kernel, stride: nil, padding: 0)", "2-D average pooling (stride defaults to kernel).") { a in
            try NN.avgPool2d(try a.tensor(0), kernel: try a.int(1), stride: try a.optionalInt(2), padding: try a.int(3))
        },
        op("adaptive_avg_pool2d(x, size)", "Average pooling to a size x size output.") { a in try NN.adaptiveAvgPool2d(try a.tensor(0), outputSize: try a.int(1)) },
        op("layer_norm(x, shape, weight: nil, bias: nil, eps: 1e-5)", "Normalizes over the trailing axes given by shape.") { a in
            try NN.layerNorm(try a.tensor(0), shape: try a.ints(1), weight: try a.optionalTensor(2), bias: try a.optionalTensor(3), eps: try a.float(4))
        },
        op("group_norm(x, groups, weight: nil, bias: nil, eps: 1e-5)", "Group normalization of x [N, C, ...].") { a in
            try NN.groupNorm(try a.tensor(0), groups: try a.int(1), weight: try a.optionalTensor(2), bias: try a.optionalTensor(3), eps: try a.float(4))
        },
        op("upsample(x, scale, mode: \"nearest\")", "Resizes x [N, C, H, W] by a scale factor (mode nearest or bilinear).") { a in
            let x = try a.tensor(0), scale = try a.float(1)
            return try a.choice(2, ["nearest", "bilinear"]) == "nearest" ? try NN.upsampleNearest2d(x, scale: scale) : try NN.upsampleBilinear2d(x, scale: scale)
        },
        op("dropout(x, p, training: true)", "Zeroes values with probability p (scaling the rest), drawing from the session generator.") { a in
            try NN.dropout(try a.tensor(0), p: try a.float(1), training: try a.bool(2), generator: &a.interpreter.rng)
        },
        op("cross_entropy(logits, targets, reduction: \"mean\")", "Cross-entropy of logits [N, K] against class indices [N].") { a in
            try NN.crossEntropy(logits: try a.tensor(0), targets: try a.tensor(1), reduction: try reduction(a, 2))
        },
        op("mse(input, target, reduction: \"mean\")", "Mean squared error.") { a in try NN.mse(try a.tensor(0), try a.tensor(1), reduction: try reduction(a, 2)) },
        op("l1(input, target, reduction: \"mean\")", "Mean absolute error.") { a in try NN.l1(try a.tensor(0), try a.tensor(1), reduction: try reduction(a, 2)) },
        op("bce_with_logits(logits, target, reduction: \"mean\")", "Binary cross-entropy on logits, computed stably.") { a in
            try NN.bceWithLogits(try a.tensor(0), try a.tensor(1), reduction: try reduction(a, 2))
        },
    ]
}
