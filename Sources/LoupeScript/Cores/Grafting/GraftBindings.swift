import Foundation
import LoupeGrafting
import LoupeModels
import LoupeTensor

/// DiT, the SD VAE and grafting from the language: building the models, grafting operators into
/// blocks, distilling them (stage 1), finetuning (stage 2) and restructuring depth.
enum GraftBindings {
    static let all: [Builtin] = [
        Builtin("dit(preset: nil, input_size: 32, patch: 2, in_channels: 4, dim: 1152, depth: 28, heads: 16, mlp_ratio: 4, classes: 1000, learn_sigma: true, class_dropout: 0.1, seed: nil)",
                """
                A DiT (facebookresearch/DiT models.py) with its names and numerics: x_embedder (patches), the \
                fixed 2-D sin-cos pos_embed, t_embedder (DiT's 256 frequencies), y_embedder (classes + 1 rows; \
                the last is the null class), blocks.N with adaLN-Zero modulation (attn, mlp, adaLN_modulation), \
                final_layer. preset: "S/2" ... "XL/8" (DiT_models; input_size and classes still apply). \
                m(x, t, y) returns [N, 2 in_channels, H, W] (epsilon, then the variance values) for noisy x \
                [N, in_channels, input_size, input_size], timesteps t [N] and classes y [N]. Sites: c (the \
                conditioning), blocks.3.attn (input: the modulated norm1 output; output: before the gate), \
                blocks.3.mlp, blocks.3.adaLN_modulation. Initialised as DiT (adaLN and the final layer zero).
                """) { a in
            var config: DiTConfig
            if a.isNil("preset") {
                config = DiTConfig(inputSize: try ModelBindings.positive(a, "input_size"), patchSize: try ModelBindings.positive(a, "patch"),
                                   inChannels: try ModelBindings.positive(a, "in_channels"), hiddenSize: try ModelBindings.positive(a, "dim"),
                                   depth: try ModelBindings.positive(a, "depth"), numHeads: try ModelBindings.positive(a, "heads"),
                                   mlpRatio: try a.number("mlp_ratio"), classDropoutProb: try a.number("class_dropout"),
                                   numClasses: try ModelBindings.positive(a, "classes"), learnSigma: try a.bool("learn_sigma"))
            } else {
                config = try DiTConfig.preset(try a.string("preset"), inputSize: try ModelBindings.positive(a, "input_size"),
                                              numClasses: try ModelBindings.positive(a, "classes"))
            }
            try config.validate()
            try ModelBindings.checkSize(Double(config.parameterCount), a)
            let m = try DiT(config)
            try ModelBindings.initialize(&a, seed: "seed") { try m.initialize(generator: &$0) }
            return .handle(ModelHandle(m))
        },
        Builtin("autoencoder_kl(block_channels: [128, 256, 512, 512], layers_per_block: 2, latent_channels: 4, channels: 3, groups: 32, scaling: 0.18215, seed: nil)",
                """
                The Stable Diffusion VAE (diffusers AutoencoderKL, as sd-vae-ft-ema that DiT decodes with): \
                encoder (down blocks of ResNet blocks, a mid block with attention), quant_conv, \
                post_quant_conv, decoder. vae_encode and vae_decode use it; model(...) loads converted \
                checkpoints (Scripts/export_vae.py).
                """) { a in
            let channels = try a.list("block_channels").items.map { item -> Int in
                guard case .number(let n) = item, n >= 1, n == n.rounded() else { throw a.typeError("block_channels", "a list of channel counts") }
                return Int(n)
            }
            let config = AutoencoderKLConfig(inChannels: try ModelBindings.positive(a, "channels"), outChannels: try ModelBindings.positive(a, "channels"),
                                             latentChannels: try ModelBindings.positive(a, "latent_channels"), blockOutChannels: channels,
                                             layersPerBlock: try ModelBindings.positive(a, "layers_per_block"),
                                             normNumGroups: try ModelBindings.positive(a, "groups"), scalingFactor: try a.number("scaling"))
            let vae = try AutoencoderKL(config)
            try ModelBindings.checkSize(Double(vae.parameterCount), a)
            try ModelBindings.initialize(&a, seed: "seed") { try vae.initialize(generator: &$0) }
            return .handle(ModelHandle(vae))
        },
        Builtin("vae_encode(vae, images, sample: false, seed: nil)",
                """
                Latents of images [N, 3, H, W] in [0, 1] under the VAE, times its scaling factor (what a DiT \
                is trained on): the posterior mean, or with sample: true a draw from the posterior (seeded).
                """) { a in
            let vae = try GraftingArguments.vae(a)
            let images = try InversionBindings.images(a, "images")
            let posterior = try GradMode.withoutGrad { try vae.encode(try images * 2 - 1) }
            var latents = posterior.mean
            if try a.bool("sample") {
                var generator = RandomGenerator(seed: try TrainBindings.trainingSeed(a))
                latents = try posterior.sample(generator: &generator)
            }
            return .tensor(try latents * Float(vae.config.scalingFactor))
        },
        Builtin("vae_decode(vae, latents)",
                "Images [N, 3, 8h, 8w] in [0, 1] decoded by the VAE from latents [N, 4, h, w] scaled as vae_encode returns them (divided by the scaling factor first).") { a in
            let vae = try GraftingArguments.vae(a)
            let latents = try a.tensor("latents").detached()
            let images = try GradMode.withoutGrad { try vae.decode(try latents / Float(vae.config.scalingFactor)) }
            return .tensor(try (images * 0.5 + 0.5).clamped(min: 0, max: 1))
        },
        Builtin("graft(m, blocks, operator, copy_weights: false, seed: nil)",
                """
                Grafting (Chandrasegaran et al.): a new model, a copy of the DiT m whose blocks listed in \
                `blocks` (indices) have a new operator in place of their attention (hyena_x, hyena_y, hyena_se, \
                swa: sliding-window attention with 4 tokens each side, mamba2, mha: fresh attention, the \
                self-grafting control) or of their MLP (mlp_ratio_3, mlp_ratio_6, mlp_hyena_x). The operators \
                are initialised as their references (from seed); copy_weights starts swa and mha from the \
                replaced attention's weights. m is untouched. Next: distill, then finetune.
                """) { a in
            let m = try GraftingArguments.model(a)
            guard let dit = ((m as? ReplacedModel)?.base ?? m) as? DiT else {
                throw a.error("m", "graft: m must be a DiT (dit(...) or a converted checkpoint), got a \(m.typeName)")
            }
            let name = try a.string("operator")
            guard let op = GraftOperator(rawValue: name) else {
                throw a.error("operator", "graft: unknown operator '\(name)' (known: \(GraftOperator.namesText))")
            }
            let blocks = try GraftingArguments.indices(a, "blocks", below: dit.config.depth)
            let copyWeights = try a.bool("copy_weights")
            var generator = RandomGenerator(seed: try TrainBindings.trainingSeed(a))
            let config = dit.config
            let grafted = try graft(m, paths: blocks.map { "blocks.\($0).\(op.site)" }, architectures: a.interpreter.architectures) { _, replaced in
                try op.make(dim: config.hiddenSize, heads: config.numHeads, tokens: config.tokenCount, replaced: replaced,
                            copyWeights: copyWeights, generator: &generator)
            }
            return .handle(ModelHandle(grafted))
        },
        Builtin("distill(grafted, teacher, data, samples: 8000, epochs: 10, batch: 64, lr: 0.001, weight_decay: 0, loss: \"l1\", label_dropout: 0.1, capture_batch: 64, seed: nil, label: \"distill\")",
                """
                Stage 1 of grafting, activation distillation: the teacher (the model grafted from) runs on \
                `samples` training images of data {images, labels} (or {latents, labels}) noised at uniform \
                random timesteps, with their labels (dropped to the null class at rate label_dropout); the \
                input and output of every grafted operator are captured, and each new operator is regressed \
                alone on its pairs (loss "l1", "l2" or "huber"; AdamW) for `epochs` passes. Only the new \
                operators change. Returns {losses: {path: [mean loss per epoch]}, paths}.
                """) { a in
            let student = try GraftingArguments.model(a, "grafted")
            guard let grafted = student as? ReplacedModel else {
                throw a.error("grafted", "distill: grafted must be a model made by graft(...), got a \(student.typeName)")
            }
            let teacher = try GraftingArguments.model(a, "teacher")
            let shape = try GraftingArguments.shape(a, teacher, "teacher")
            let (images, labels) = try GraftingArguments.data(a, "data", shape: shape)
            var options = DistillationOptions()
            options.samples = try ModelBindings.positive(a, "samples")
            options.epochs = try ModelBindings.positive(a, "epochs")
            options.batchSize = try ModelBindings.positive(a, "batch")
            options.learningRate = try a.number("lr")
            options.weightDecay = try a.number("weight_decay")
            guard let loss = DistillationLoss(rawValue: try a.choice("loss", DistillationLoss.allCases.map(\.rawValue))) else {
                throw a.error("loss", "distill: unknown loss")
            }
            options.loss = loss
            options.labelDropout = shape.hasNullClass ? try a.number("label_dropout") : 0
            options.captureBatch = try ModelBindings.positive(a, "capture_batch")
            options.seed = try TrainBindings.trainingSeed(a)
            let distillation = try OperatorDistillation(student: grafted, teacher: teacher, diffusion: try GaussianDiffusion.dit(learnSigma: shape.learnSigma),
                                                        images: images, labels: labels, nullClass: shape.classes, options: options)
            let label = try a.string("label")
            let captureBar = ProgressBar(label + " (capture)", total: options.samples)
            let pairs = try distillation.capture(progress: captureBar)
            captureBar.finish()
            let interpreter = a.interpreter, position = interpreter.builtinCallPos
            try interpreter.checkInterrupt(position)
            let trainBar = ProgressBar(label, total: distillation.trainingSteps)
            defer { trainBar.finish() }
            let history = try distillation.train(pairs, progress: trainBar) { _, _, _ in try interpreter.checkInterrupt(position) }
            return .record(RecordBox([
                ("losses", .record(RecordBox(distillation.paths.map { path in
                    (path, .list(ListBox((history[path] ?? []).map { .number(Double($0)) })))
                }))),
                ("paths", .list(ListBox(distillation.paths.map { .string($0) }))),
            ]))
        },
        Builtin("finetune(m, data, fraction: 0.1, steps: 1000, batch: 32, lr: 0.0001, weight_decay: 0, warmup: 0, clip_grad: nil, ema: 0.9999, label_dropout: 0.1, mirror: false, snapshots: nil, seed: nil, label: \"finetune\")",
                """
                Stage 2 of grafting: trains the whole (grafted) model m in place with DiT's diffusion loss on a \
                random `fraction` of data (the paper: 10%), as train_diffusion does. Returns the same record \
                {model (the moving average), losses, steps, snapshots}.
                """) { a in
            let m = try GraftingArguments.model(a)
            let shape = try GraftingArguments.shape(a, m)
            let (images, labels) = try GraftingArguments.data(a, "data", shape: shape)
            let fraction = try a.number("fraction")
            guard fraction > 0, fraction <= 1 else { throw a.error("fraction", "finetune: fraction must be in (0, 1], got \(Value.number(fraction).display)") }
            var options = try GraftingArguments.trainingOptions(a)
            if !shape.hasNullClass { options.labelDropout = 0 }
            var generator = RandomGenerator(seed: options.seed, stream: 0x66726163)
            let keep = max(1, Int((Double(labels.count) * fraction).rounded()))
            let chosen = Array(generator.permutation(labels.count).prefix(keep)).sorted()
            let subset = try images.indexSelect(axis: 0, indices: chosen)
            let trainer = try DiffusionTrainer(model: m, diffusion: GaussianDiffusion.dit(learnSigma: shape.learnSigma), images: subset,
                                               labels: chosen.map { labels[$0] }, nullClass: shape.classes, options: options,
                                               architectures: a.interpreter.architectures, op: "finetune")
            return try GraftingArguments.run(trainer, a)
        },
        Builtin("parallelize(m, groups: nil)",
                """
                The paper's depth restructuring: a copy of the DiT m (grafted or not) whose blocks in each \
                group run in parallel (each sees the same input; the group adds their residual updates). \
                groups: lists of consecutive block indices, default every consecutive pair [[0, 1], [2, 3], \
                ...] (depth halved). Same weights; finetune it to recover quality.
                """) { a in
            let m = try GraftingArguments.model(a)
            guard let dit = ((m as? ReplacedModel)?.base ?? m) as? DiT else {
                throw a.error("m", "parallelize: m must be a DiT, got a \(m.typeName)")
            }
            let groups: [[Int]]
            if a.isNil("groups") {
                groups = consecutivePairs(depth: dit.config.depth)
            } else {
                groups = try a.list("groups").items.map { item in
                    guard case .list(let inner) = item else { throw a.typeError("groups", "a list of lists of block indices") }
                    return try inner.items.map { value in
                        guard case .number(let n) = value, n >= 0, n == n.rounded() else { throw a.typeError("groups", "lists of block indices") }
                        return Int(n)
                    }
                }
            }
            return .handle(ModelHandle(try parallelize(m, groups: groups, architectures: a.interpreter.architectures)))
        },
    ]
}

extension GraftingArguments {
    /// The VAE argument `vae`.
    static func vae(_ a: Arguments, _ name: String = "vae") throws -> AutoencoderKL {
        let module = try model(a, name)
        guard let vae = module as? AutoencoderKL else {
            throw a.error(name, "\(a.builtin.name): \(name) must be an AutoencoderKL (autoencoder_kl(...) or a converted SD VAE), got a \(module.typeName)")
        }
        return vae
    }

    /// A list of distinct block indices below `count`.
    static func indices(_ a: Arguments, _ name: String, below count: Int) throws -> [Int] {
        let values: [Int] = try a.list(name).items.map { item in
            guard case .number(let n) = item, n == n.rounded() else { throw a.typeError(name, "a list of block indices") }
            guard n >= 0, Int(n) < count else { throw a.error(name, "\(a.builtin.name): block \(Int(n)) is outside 0..<\(count)") }
            return Int(n)
        }
        guard !values.isEmpty else { throw a.error(name, "\(a.builtin.name): \(name) is empty") }
        guard Set(values).count == values.count else { throw a.error(name, "\(a.builtin.name): a block is listed twice in \(name)") }
        return values
    }
}
