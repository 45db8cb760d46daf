import Foundation
import LoupeGrafting
import LoupeModels
import LoupeTensor

/// DiT (LoupeModels' `DiT`, facebookresearch/DiT numerics) against DiT's own `models.DiT` in
/// Scripts/bench_torch.py (a checkout named by DIT_REPO), both with random weights (DiT's
/// initialisation, then every adaLN and final-layer weight N(0, 0.02) so no block is skipped
/// as the identity; the work is the same either way). 256-pixel images: a 32x32x4 latent,
/// 1000 classes, learn_sigma; batch 1, t = 500, y = 207, forward without gradients.
/// DiT-S/2 always; DiT-XL/2 (675M parameters, 2.7 GB of weights) is left out of --quick.
///
/// Training steps as DiT's train.py takes them: DiT's loss (epsilon MSE plus the variational
/// bound) at a uniform timestep per image, backward, AdamW (lr 1e-4, no weight decay) and the
/// moving-average update, on random images with random labels (10% dropped to the null class):
/// the demo model of Examples/train/dit-fmnist.loupe (32x32x1 pixels, patch 4, width 96, 6 blocks,
/// 3 heads, 10 classes) at batch 64, and DiT-S/2 at 256 pixels (latent 32x32x4) at batch 8.
enum DiTWorkloads {
    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        for preset in ["S/2", "XL/2"] where preset == "S/2" || !Timing.quick {
            let name = "dit-\(preset.lowercased()) 256px fwd b1"
            try add(name) {
                let model = try self.model(preset)
                let x = try CoreWorkloads.random([1, 4, 32, 32], seed: 2)
                let inputs = ModuleInputs([("x", .tensor(x)), ("t", .tensor(Tensor([500]))), ("y", .tensor(Tensor([207])))])
                let seconds = try Timing.median {
                    _ = try GradMode.withoutGrad { try model(inputs: inputs) }
                }
                return BenchRow(name: name, unit: .ms, loupe: seconds * 1e3)
            }
        }
    }

    /// The training-step rows.
    static func runTraining(add: (String, () throws -> BenchRow) throws -> Void) throws {
        let demo = DiTConfig(inputSize: 32, patchSize: 4, inChannels: 1, hiddenSize: 96, depth: 6, numHeads: 3, numClasses: 10)
        let s2 = try DiTConfig.preset("S/2")
        for (name, config, batch) in [("dit-fmnist-demo train step b64", demo, 64), ("dit-s/2 256px train step b8", s2, 8)] {
            try add(name) {
                let model = try DiT(config)
                var generator = RandomGenerator(seed: 1)
                try model.initialize(generator: &generator)
                let images = try Tensor.normal([4 * batch, config.inChannels, config.inputSize, config.inputSize], generator: &generator)
                let labels = (0..<(4 * batch)).map { $0 % config.numClasses }
                let stepsPerRun = 2
                var options = DiffusionTrainingOptions()
                options.steps = stepsPerRun
                options.batchSize = batch
                options.seed = 3
                let trainer = try DiffusionTrainer(model: model, diffusion: try GaussianDiffusion.dit(), images: images, labels: labels,
                                                   nullClass: config.numClasses, options: options, architectures: ArchitectureCatalog.loupeModels)
                let seconds = try Timing.median { try trainer.train() }
                return BenchRow(name: name, unit: .ms, loupe: seconds * 1e3 / Double(stepsPerRun))
            }
        }
    }

    /// A DiT preset with random weights.
    static func model(_ preset: String) throws -> DiT {
        let model = try DiT(try DiTConfig.preset(preset))
        var generator = RandomGenerator(seed: 1)
        try model.initialize(generator: &generator)
        // In place: replacing 28 tensors of 32 MB would leave the freed ones in the heap and
        // inflate the process's peak memory, which is measured for the XL row.
        for (path, parameter) in model.namedParameters() where path.contains("adaLN_modulation") || path.hasPrefix("final_layer.linear") {
            let count = parameter.value.count
            parameter.value.withMutablePointer { values in
                for i in 0..<count { values[i] = 0.02 * generator.nextNormal() }
            }
        }
        return model
    }
}
