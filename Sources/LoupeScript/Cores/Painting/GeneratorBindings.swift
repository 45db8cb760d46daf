import Foundation
import LoupeModels
import LoupePainting
import LoupeTensor

/// StyleGAN2 from the language: building generators and discriminators, generating, running the
/// synthesis network on edited `w`, and training.
enum GeneratorBindings {
    static let all: [Builtin] = [
        Builtin("stylegan2(z_dim: 512, w_dim: 512, resolution: 256, channels: 3, classes: 0, channel_base: 32768, channel_max: 512, mapping_layers: 8, architecture: \"skip\", conv_clamp: nil, seed: nil)",
                """
                A StyleGAN2-ADA generator with NVlabs' names and numerics (stylegan2-ada-pytorch): a mapping \
                network (mapping.fc0...; lr multiplier 0.01; the tracked mapping.w_avg) and synthesis blocks \
                synthesis.b4 ... b{resolution} with modulated, demodulated 3x3 convolutions (conv0 upsamples \
                2x through the [1, 3, 3, 1] filter), per-pixel noise, leaky ReLU with gain sqrt(2), conv_clamp, \
                and toRGB layers whose images are summed ("skip"; "orig": the last block's only). Block \
                channels are min(channel_base / resolution, channel_max). m(z) or m(z, c: labels, \
                truncation_psi: 0.7, truncation_cutoff: 8) returns images [B, channels, R, R] in about [-1, 1] \
                (constant noise). Sites: mapping (the ws), synthesis.b16.conv1 (a layer's features), its \
                input.w, affine (its styles) and noise. Initialised as NVlabs (N(0, 1) weights, style biases 1) \
                from the session generator, or from seed.
                """) { a in
            let config = StyleGAN2Config(
                zDim: try a.int("z_dim"), wDim: try ModelBindings.positive(a, "w_dim"), resolution: try ModelBindings.positive(a, "resolution"),
                channels: try ModelBindings.positive(a, "channels"), classes: try a.int("classes"),
                channelBase: try ModelBindings.positive(a, "channel_base"), channelMax: try ModelBindings.positive(a, "channel_max"),
                mappingLayers: try ModelBindings.positive(a, "mapping_layers"), architecture: try a.string("architecture"),
                convClamp: a.isNil("conv_clamp") ? nil : try a.number("conv_clamp"))
            try config.validate()
            let synthesis = config.blockResolutions.reduce(0.0) { total, r in
                let c = Double(config.channels(at: r)), previous = Double(r == 4 ? 0 : config.channels(at: r / 2))
                return total + 9 * c * (c + previous) + Double(config.wDim) * (c + previous)
            }
            try ModelBindings.checkSize(synthesis + Double(config.mappingLayers * config.wDim * max(config.wDim, config.zDim)), a)
            let g = try StyleGAN2(config)
            try ModelBindings.initialize(&a, seed: "seed") { try g.initialize(generator: &$0) }
            return .handle(ModelHandle(g))
        },
        Builtin("stylegan2_discriminator(resolution: 256, channels: 3, channel_base: 32768, channel_max: 512, conv_clamp: nil, mbstd_group_size: 4, mbstd_num_channels: 1, seed: nil)",
                """
                A StyleGAN2-ADA discriminator (NVlabs' resnet architecture, unconditional): blocks \
                b{resolution} ... b8 (fromrgb on the first, conv0, conv1 with 2x downsampling through the \
                [1, 3, 3, 1] filter, and a 1x1 skip, both paths scaled by sqrt(1/2)), then b4: minibatch \
                standard deviation (groups of mbstd_group_size), conv, fc and the logit out. d(images) returns \
                logits [B, 1] (images in [-1, 1]).
                """) { a in
            let config = StyleGAN2DiscriminatorConfig(
                resolution: try ModelBindings.positive(a, "resolution"), channels: try ModelBindings.positive(a, "channels"),
                channelBase: try ModelBindings.positive(a, "channel_base"), channelMax: try ModelBindings.positive(a, "channel_max"),
                convClamp: a.isNil("conv_clamp") ? nil : try a.number("conv_clamp"),
                mbstdGroupSize: try ModelBindings.positive(a, "mbstd_group_size"), mbstdChannels: try a.int("mbstd_num_channels"))
            try config.validate()
            let d = try StyleGAN2Discriminator(config)
            try ModelBindings.checkSize(Double(d.parameterCount), a)
            try ModelBindings.initialize(&a, seed: "seed") { try d.initialize(generator: &$0) }
            return .handle(ModelHandle(d))
        },
        Builtin("generate(G, seed: nil, count: 1, z: nil, labels: nil, truncation: 1, cutoff: nil, noise: \"const\")",
                """
                Generations of the StyleGAN2 generator G: latents z [count, z_dim] drawn N(0, 1) from seed (the \
                same seed and count give the same images on every run; default: the session generator), or the \
                given z; labels [count, classes] one-hot for a conditional G. truncation (psi) pulls the first \
                `cutoff` ws (all by default) towards w_avg. noise: "const" (NVlabs' stored noise, as the paper \
                uses), "random" (drawn from seed) or "none". Returns {image [count, C, R, R] in [0, 1], w \
                [count, num_ws, w_dim] (the synthesis input: edit it and call synthesize), z}.
                """) { a in
            let g = try PaintingArguments.generator(a)
            let seed = try TrainBindings.trainingSeed(a)
            let z: Tensor
            if let given = try a.optionalTensor("z") {
                z = given.rank == 1 ? try given.detached().reshaped([1, given.count]) : given.detached()
            } else {
                z = try GANPainting.latents(g, seed: seed, count: try ModelBindings.positive(a, "count"))
            }
            let generation = try GANPainting.generate(g, z: z, labels: try a.optionalTensor("labels"), truncation: try a.number("truncation"),
                                                      cutoff: try a.optionalInt("cutoff"), noise: try PaintingArguments.noise(a, seed: seed))
            return .record(RecordBox([
                ("image", .tensor(try PaintingArguments.pictures(generation.images))),
                ("w", .tensor(generation.ws)),
                ("z", .tensor(generation.z)),
            ]))
        },
        Builtin("synthesize(G, w, noise: \"const\", seed: nil)",
                """
                The images G's synthesis network makes from w ([B, num_ws, w_dim] as generate returns it, \
                [num_ws, w_dim], or one [w_dim] vector for every layer), in [0, 1]: edit w (mix two \
                generations' ws, move along a direction) and look.
                """) { a in
            let g = try PaintingArguments.generator(a)
            let noise = try PaintingArguments.noise(a, seed: try TrainBindings.trainingSeed(a))
            return .tensor(try PaintingArguments.pictures(GANPainting.synthesize(g, ws: try PaintingArguments.ws(a, g), noise: noise).images))
        },
        Builtin("train_gan(G, D, images, steps: 1000, batch: 32, lr: 0.0025, d_lr: nil, gamma: nil, r1_interval: 16, ema_kimg: nil, ema_rampup: 0.05, mirror: false, snapshots: nil, seed: nil, label: \"train_gan\")",
                """
                Trains the StyleGAN2 generator G against the discriminator D as StyleGAN2-ADA's training loop \
                does without augmentation, style mixing or path-length regularisation: per step one generator \
                update (non-saturating logistic loss softplus(-D(G(z))), random noise) and one discriminator \
                update (softplus(D(G(z))) + softplus(-D(x)) on a random batch of `images`, [N, C, R, R] in \
                [0, 1], scaled to [-1, 1]), Adam with betas (0, 0.99); every r1_interval steps a lazy R1 step \
                (gamma / 2 |grad_x D(x)|^2 x r1_interval; the discriminator's lr and betas scaled by \
                r1_interval / (r1_interval + 1); gamma default 0.0002 R^2 / batch, NVlabs' auto). Keeps a \
                moving average of G (half-life ema_kimg thousand images, default batch x 10 / 32, ramped up \
                over the first images / ema_rampup): that average is the generator to sample from. G and D are \
                trained in place. snapshots: a list of steps after which a copy of the average is kept. \
                Returns {generator (the average, a new model), g_losses, d_losses, r1 (the last penalty), \
                steps, snapshots (one {step, generator} per snapshot step)}.
                """) { a in
            let g = try PaintingArguments.generator(a)
            guard case .handle(let h) = a["D"], let dHandle = h as? ModelHandle, let d = dHandle.module as? StyleGAN2Discriminator else {
                throw a.typeError("D", "a StyleGAN2 discriminator (stylegan2_discriminator(...))")
            }
            let pictures = try InversionBindings.images(a, "images")
            var options = GANTrainingOptions()
            options.steps = try ModelBindings.positive(a, "steps")
            options.batchSize = try ModelBindings.positive(a, "batch")
            options.generatorLearningRate = try a.number("lr")
            options.discriminatorLearningRate = a.isNil("d_lr") ? options.generatorLearningRate : try a.number("d_lr")
            guard options.generatorLearningRate > 0, options.discriminatorLearningRate > 0 else {
                throw a.error("lr", "train_gan: learning rates must be positive")
            }
            options.r1Gamma = a.isNil("gamma") ? nil : try a.number("gamma")
            options.r1Interval = try ModelBindings.positive(a, "r1_interval")
            options.emaKimg = a.isNil("ema_kimg") ? nil : try a.number("ema_kimg")
            options.emaRampup = a.isNil("ema_rampup") ? nil : try a.number("ema_rampup")
            options.mirror = try a.bool("mirror")
            options.snapshotSteps = try TrainBindings.snapshotSteps(a, "snapshots")
            options.seed = try TrainBindings.trainingSeed(a)
            let interpreter = a.interpreter, position = interpreter.builtinCallPos
            options.onStep = { _, _ in try interpreter.checkInterrupt(position) }
            let trainer = try GANTrainer(generator: g, discriminator: d, images: try pictures * 2 - 1, options: options)
            let bar = ProgressBar(try a.string("label"), total: options.steps)
            defer { bar.finish() }
            let history = try trainer.train(progress: bar)
            return .record(RecordBox([
                ("generator", .handle(ModelHandle(trainer.ema))),
                ("g_losses", PaintingArguments.numbers(history.map(\.generator))),
                ("d_losses", PaintingArguments.numbers(history.map(\.discriminator))),
                ("r1", .number(Double(history.last?.r1 ?? 0))),
                ("steps", .number(Double(history.count))),
                ("snapshots", .list(ListBox(trainer.snapshots.map {
                    .record(RecordBox([("step", .number(Double($0.step))), ("generator", .handle(ModelHandle($0.generator)))]))
                }))),
            ]))
        },
    ]
}
