import Foundation
import LoupeInputOptimization
import LoupeInversion
import LoupeTensor
import LoupeModels

/// Inversion rows on a demo-sized Fashion-MNIST ViT (28x28, patch 4, dim 96, depth 6, 3 heads,
/// random timm initialisation): 200 Adam steps of pixel inversion against the block-5 output,
/// and one epoch of modular inverse-chain training. Shapes match Scripts/bench_torch.py.
enum InversionWorkloads {
    static func demoViT() throws -> VisionTransformer {
        let model = try VisionTransformer(ViTConfig(imageSize: 28, patchSize: 4, dim: 96, depth: 6, heads: 3, classes: 10,
                                                    channels: 1))
        var generator = RandomGenerator(seed: 1)
        try model.initialize(generator: &generator)
        return model
    }

    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        try add("invert vit-fmnist blocks.5 200 steps b1") {
            let model = try demoViT()
            var generator = RandomGenerator(seed: 2)
            let image = try Tensor.uniform([1, 1, 28, 28], generator: &generator)
            let target = try GradMode.withoutGrad { try activation(model, image, at: "blocks.5").detached() }
            var options = InversionOptions()
            options.steps = 200
            options.learningRate = 0.05
            let seconds = try Timing.median {
                _ = try invert(model, target: target, layer: "blocks.5", imageShape: [1, 28, 28], options: options)
            }
            return BenchRow(name: "invert vit-fmnist blocks.5 200 steps b1", unit: .ms, loupe: seconds * 1e3)
        }
        try add("train_inverse vit-fmnist 512 images 1 epoch") {
            let model = try demoViT()
            var generator = RandomGenerator(seed: 3)
            let images = try Tensor.uniform([512, 1, 28, 28], generator: &generator)
            var options = InverseTrainingOptions()
            options.epochs = 1
            options.batchSize = 64
            let seconds = try Timing.median { _ = try trainInverse(model, images: images, options: options) }
            return BenchRow(name: "train_inverse vit-fmnist 512 images 1 epoch", unit: .ms, loupe: seconds * 1e3)
        }
    }
}
