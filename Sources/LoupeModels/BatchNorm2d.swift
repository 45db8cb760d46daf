import LoupeTensor

/// Batch normalisation over channels (torch `nn.BatchNorm2d`): parameters `weight`, `bias`;
/// buffers `running_mean`, `running_var`, `num_batches_tracked`. Uses running statistics
/// (evaluation mode) unless `training` is set (`Module.setTraining`), when it normalises with batch statistics and
/// updates the running buffers as torch does.
public final class BatchNorm2d: Module {
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Parameter
    public let runningVar: Parameter
    public let batchesTracked: Parameter
    public let eps: Float
    public let momentum: Float

    /// Identity-initialised normalisation of `channels` channels.
    public init(_ channels: Int, eps: Float = 1e-5, momentum: Float = 0.1) throws {
        weight = Parameter(try Tensor.ones([channels]))
        bias = Parameter(try Tensor.zeros([channels]))
        runningMean = Parameter(try Tensor.zeros([channels]))
        runningVar = Parameter(try Tensor.ones([channels]))
        batchesTracked = Parameter(Tensor(0))
        self.eps = eps
        self.momentum = momentum
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
        registerBuffer("running_mean", runningMean)
        registerBuffer("running_var", runningVar)
        registerBuffer("num_batches_tracked", batchesTracked)
    }

    /// Back to identity: weight 1, bias 0, running mean 0 and variance 1, no batches tracked
    /// (torch's `reset_parameters` and `reset_running_stats`).
    public func resetToIdentity() throws {
        let channels = weight.shape[0]
        assign(try Tensor.ones([channels]), to: weight)
        assign(try Tensor.zeros([channels]), to: bias)
        assign(try Tensor.zeros([channels]), to: runningMean)
        assign(try Tensor.ones([channels]), to: runningVar)
        assign(Tensor(0), to: batchesTracked)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        let result = try NN.batchNorm(input, runningMean: runningMean.value, runningVar: runningVar.value,
                                      weight: weight.value, bias: bias.value, training: training,
                                      momentum: momentum, eps: eps)
        if training {
            if let mean = result.runningMean { runningMean.value = mean }
            if let variance = result.runningVar { runningVar.value = variance }
            batchesTracked.value = Tensor(try batchesTracked.value.item() + 1)
        }
        return result.output
    }
}

/// `max(x, 0)` as a module (torch `nn.ReLU`).
public final class ReLU: Module {
    public override init() { super.init() }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        input.relu()
    }
}

/// Max pooling (torch `nn.MaxPool2d`) with a square kernel.
public final class MaxPool2d: Module {
    public let kernel: Int, stride: Int, padding: Int

    public init(kernel: Int, stride: Int, padding: Int = 0) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        super.init()
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.maxPool2d(input, kernel: kernel, stride: stride, padding: padding)
    }
}

/// Adaptive average pooling to `outputSize` x `outputSize` (torch `nn.AdaptiveAvgPool2d`).
public final class AdaptiveAvgPool2d: Module {
    public let outputSize: Int

    public init(_ outputSize: Int) {
        self.outputSize = outputSize
        super.init()
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        try NN.adaptiveAvgPool2d(input, outputSize: outputSize)
    }
}
