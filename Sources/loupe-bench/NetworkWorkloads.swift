import Foundation
import LoupeModels
import LoupeTensor

/// Whole networks built by LoupeModels with seeded random weights, as Scripts/bench_torch.py
/// builds them with timm / torchvision: ViT-Ti/S/B/16 and ResNet-50 at 224. Forward rows run
/// without the tape; the fwd+bwd rows take the gradient of the logits' sum with respect to the
/// input only (weights need no gradient), as inversion and saliency do.
enum NetworkWorkloads {
    static let vits: [(name: String, dim: Int, heads: Int)] = [
        ("vit-ti/16", 192, 3), ("vit-s/16", 384, 6), ("vit-b/16", 768, 12),
    ]

    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        for spec in vits {
            let prefix = "\(spec.name) 224"
            let names = ["\(prefix) fwd b1", "\(prefix) fwd b8", "\(prefix) fwd+bwd input b1"]
            guard names.contains(where: wanted) else { continue }
            let model = try vit(dim: spec.dim, heads: spec.heads)
            try add(names[0]) { try forwardRow(names[0], model, batch: 1) }
            // ViT-B at batch 8 takes seconds per run: left out of --quick.
            if !(Timing.quick && spec.name == "vit-b/16") {
                try add(names[1]) { try forwardRow(names[1], model, batch: 8) }
            }
            try add(names[2]) { try inputGradientRow(names[2], model) }
        }
        try add("resnet-50 224 fwd b1") { try forwardRow("resnet-50 224 fwd b1", try resnet50(), batch: 1) }
        try add("vit-b/16 224 fwd b1 peak memory") { try peakMemoryRow("vit-b/16 224 fwd b1 peak memory") }
        try add("fashion-mnist vit train b128") { try fashionTrainingRow("fashion-mnist vit train b128") }
        try add("fashion-mnist cnn train b128") { try fashionCNNTrainingRow("fashion-mnist cnn train b128") }
        try add("fashion-mnist vit train b128 peak memory") {
            try trainingMemoryRow("fashion-mnist vit train b128 peak memory", try fashionViT(), learningRate: 1e-3)
        }
        try add("fashion-mnist cnn train b128 peak memory") {
            try trainingMemoryRow("fashion-mnist cnn train b128 peak memory", try fashionCNN(), learningRate: 3e-3)
        }
        try add("fashion-mnist resnet-18 w16 train b128") { try fashionCNNTrainingRow("fashion-mnist resnet-18 w16 train b128", depth: 18) }
        try add("stylegan2 discriminator 32px w64 step b32") { try discriminatorStepRow("stylegan2 discriminator 32px w64 step b32") }
    }

    /// One discriminator step of the demo GAN (Examples/train/stylegan2-fmnist.loupe: NVlabs'
    /// resnet discriminator at 32x32, 1 channel, channel_base 1024, channel_max 64, so 32 channels at
    /// 32x32 and 64 below): softplus(D(fakes)) + softplus(-D(reals)) on 32 of each, backward to the
    /// weights, Adam (lr 0.0025, betas (0, 0.99)), as GANTrainer's discriminator update without R1.
    static func discriminatorStepRow(_ name: String) throws -> BenchRow {
        let model = try StyleGAN2Discriminator(StyleGAN2DiscriminatorConfig(resolution: 32, channels: 1, channelBase: 1024, channelMax: 64))
        var generator = RandomGenerator(seed: 32)
        try model.initialize(generator: &generator)
        let leaves = model.parameters(trainable: true)
        let optimizer = try Adam(parameters: leaves, learningRate: 0.0025, betas: (0, 0.99), eps: 1e-8)
        let reals = try CoreWorkloads.random([32, 1, 32, 32], seed: 33)
        let fakes = try CoreWorkloads.random([32, 1, 32, 32], seed: 34)
        let seconds = try Timing.median {
            optimizer.zeroGrad()
            let loss = try GradMode.withGrad {
                try forward(model, fakes).softplus().mean() + forward(model, reals).negated().softplus().mean()
            }
            try loss.backward()
            try optimizer.step()
        }
        return BenchRow(name: name, unit: .ms, loupe: seconds * 1e3)
    }

    /// Training throughput of the demo CNN's shape (Examples/train/cnn-fmnist.loupe: ResNet-10,
    /// width 16, 3x3 stride-1 stem, 28x28), or ResNet-18 of the same width, as images per second.
    static func fashionCNNTrainingRow(_ name: String, depth: Int = 10) throws -> BenchRow {
        try trainingRow(name, try fashionCNN(depth: depth), learningRate: 3e-3)
    }

    /// Training throughput of the demo ViT's shape, as images per second.
    static func fashionTrainingRow(_ name: String) throws -> BenchRow {
        try trainingRow(name, try fashionViT(), learningRate: 1e-3)
    }

    /// The demo CNN's shape (ResNet-10 or -18, width 16, small stem, 1 channel), seeded.
    static func fashionCNN(depth: Int = 10) throws -> ResNet {
        let model = try ResNet(ResNetConfig(depth: depth, classes: 10, channels: 1, width: 16, stem: .small))
        var generator = RandomGenerator(seed: 28)
        try model.initialize(generator: &generator)
        return model
    }

    /// The demo ViT's shape (Examples/train/vit-fmnist.loupe: 28x28, patch 4, dim 64, depth 6,
    /// 4 heads, MLP ratio 2), seeded.
    static func fashionViT() throws -> VisionTransformer {
        let model = try VisionTransformer(ViTConfig(imageSize: 28, patchSize: 4, dim: 64, depth: 6, heads: 4,
                                                    classes: 10, channels: 1, mlpRatio: 2))
        var generator = RandomGenerator(seed: 28)
        try model.initialize(generator: &generator)
        return model
    }

    /// One AdamW step (weight decay 0.05) on a batch of 128 seeded random Fashion-MNIST-sized
    /// images: forward, cross-entropy, backward, update.
    static func trainingStep(_ model: Module, learningRate: Double) throws -> () throws -> Void {
        let optimizer = try AdamW(parameters: model.parameters(trainable: true), learningRate: learningRate, weightDecay: 0.05)
        let images = try CoreWorkloads.random([128, 1, 28, 28], seed: 29)
        let labels = try Tensor(shape: [128], scalars: (0..<128).map { Float($0 % 10) })
        return {
            optimizer.zeroGrad()
            let loss = try NN.crossEntropy(logits: try forward(model, images), targets: labels)
            try loss.backward()
            try optimizer.step()
        }
    }

    /// The median training step as images per second.
    static func trainingRow(_ name: String, _ model: Module, learningRate: Double) throws -> BenchRow {
        let seconds = try Timing.median(try trainingStep(model, learningRate: learningRate))
        return BenchRow(name: name, unit: .imagesPerSecond, loupe: 128 / seconds)
    }

    /// The growth of the resident set during one training step (after a warm-up step, which
    /// allocates the optimizer's moments and the gradients), as `peakMemoryRow`.
    static func trainingMemoryRow(_ name: String, _ model: Module, learningRate: Double) throws -> BenchRow {
        guard let bytes = try PeakMemory.growth(during: try trainingStep(model, learningRate: learningRate)) else {
            throw BenchError("loupe-bench: \(name) needs Linux /proc/self/clear_refs and /proc/self/status")
        }
        return BenchRow(name: name, unit: .mb, loupe: Double(bytes) / 1e6)
    }

    /// A 224x224 ViT with 12 blocks and 1000 classes, initialised as timm (seeded).
    static func vit(dim: Int, heads: Int) throws -> VisionTransformer {
        let model = try VisionTransformer(ViTConfig(imageSize: 224, patchSize: 16, dim: dim, depth: 12, heads: heads, classes: 1000))
        var generator = RandomGenerator(seed: UInt64(dim))
        try model.initialize(generator: &generator)
        return model
    }

    /// torchvision's ResNet-50 shape with seeded normal weights scaled by 1/sqrt(fan-in) and
    /// batch norms at identity.
    static func resnet50() throws -> ResNet {
        let model = try ResNet(ResNetConfig(depth: 50, classes: 1000))
        var seed: UInt64 = 500
        for (path, parameter) in model.namedState() where !path.hasSuffix("num_batches_tracked") {
            let shape = parameter.shape
            if path.hasSuffix("running_var") || (shape.count == 1 && path.hasSuffix("weight") && !path.hasPrefix("fc")) {
                parameter.value = try Tensor.ones(shape)
            } else if shape.count == 1 {
                parameter.value = try Tensor.zeros(shape)
            } else {
                seed += 1
                let fanIn = Float(shape.dropFirst().reduce(1, *))
                parameter.value = try CoreWorkloads.random(shape, seed: seed) * (1 / fanIn.squareRoot())
            }
        }
        return model
    }

    static func input(batch: Int) throws -> Tensor {
        try CoreWorkloads.random([batch, 3, 224, 224], seed: 224)
    }

    static func forwardRow(_ name: String, _ model: Module, batch: Int) throws -> BenchRow {
        let x = try input(batch: batch)
        let seconds = try Timing.median { _ = try GradMode.withoutGrad { try forward(model, x) } }
        return BenchRow(name: name, unit: .ms, loupe: seconds * 1e3)
    }

    static func inputGradientRow(_ name: String, _ model: Module) throws -> BenchRow {
        let x = try input(batch: 1).requiringGrad()
        let seconds = try Timing.median {
            let logits = try forward(model, x)
            try logits.sum().backward()
            x.node?.zeroGrad()
        }
        return BenchRow(name: name, unit: .ms, loupe: seconds * 1e3)
    }

    /// The growth of the resident set while one forward runs (peak RSS minus RSS before), with
    /// the weights already allocated, after one warm-up run, and freed heap memory returned to the
    /// system first.
    static func peakMemoryRow(_ name: String) throws -> BenchRow {
        let model = try vit(dim: 768, heads: 12)
        let x = try input(batch: 1)
        guard let bytes = try PeakMemory.growth(during: { _ = try GradMode.withoutGrad { try forward(model, x) } }) else {
            throw BenchError("loupe-bench: \(name) needs Linux /proc/self/clear_refs and /proc/self/status")
        }
        return BenchRow(name: name, unit: .mb, loupe: Double(bytes) / 1e6)
    }
}

/// Peak resident memory on Linux: `/proc/self/clear_refs` resets VmHWM, `/proc/self/status`
/// reports VmRSS and VmHWM.
enum PeakMemory {
    /// Resident bytes (`VmRSS`) or peak resident bytes since the last reset (`VmHWM`).
    static func status(_ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            let digits = line.dropFirst(field.count + 1).filter(\.isNumber)
            return Int(digits).map { $0 * 1024 }
        }
        return nil
    }

    /// Gives freed memory back to the system: Loupe's idle tensor buffers and glibc's free heap
    /// (`malloc_trim(0)`, when available).
    static func trimHeap() {
        TensorStorage.releaseIdleBuffers()
        typealias Trim = @convention(c) (Int) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }

    /// Peak RSS during `body` minus RSS before it, or nil when the system cannot tell.
    static func growth(during body: () throws -> Void) throws -> Int? {
        try body()  // warm-up: one-time allocations (thread pools, caches) are not the body's
        trimHeap()
        guard (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil,
              let before = status("VmRSS") else { return nil }
        try body()
        guard let peak = status("VmHWM") else { return nil }
        return max(0, peak - before)
    }
}
