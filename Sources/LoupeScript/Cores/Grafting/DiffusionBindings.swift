import Foundation
import LoupeGrafting
import LoupeModels
import LoupeTensor

/// Diffusion from the language: sampling a class-conditional diffusion model (DiT) and training one.
enum DiffusionBindings {
    static let all: [Builtin] = [
        Builtin("sample(m, classes, steps: 250, cfg: 4, seed: nil, sampler: \"ddpm\", eta: 0, clip: nil, vae: nil, label: \"sample\")",
                """
                Samples the class-conditional diffusion model m (a DiT, grafted or not) as DiT's sample.py: \
                one image per entry of `classes` (class indices), starting from N(0, 1) noise drawn from seed \
                (the same seed gives the same images), through `steps` steps of DiT's 1000-step linear \
                schedule respaced ("250" as DiT; a number or DiT's respacing text such as "ddim50"), by \
                "ddpm" (p_sample with the model's learned variance) or "ddim" (eta 0: deterministic). cfg is \
                the classifier-free guidance scale (1: none), applied as DiT does to the first three epsilon \
                channels (all of them for models with fewer). clip limits each step's predicted x_0 to \
                [-1, 1] (default: on for pixel models, off for models of VAE latents, 4 channels). Returns \
                [N, C, H, W]: pixel models' images in [0, 1]; a latent model's latents, or with vae (an \
                autoencoder_kl) the images it decodes from them (divided by its scaling factor first, as \
                DiT's sample.py), in [0, 1]. A progress bar shows on a terminal.
                """) { a in
            let m = try GraftingArguments.model(a)
            let shape = try GraftingArguments.shape(a, m)
            let labels = try GraftingArguments.classes(a, "classes", shape: shape)
            let diffusion = try GaussianDiffusion(schedule: NoiseSchedule.dit(respacing: try GraftingArguments.respacing(a, "steps")),
                                                  varianceType: shape.learnSigma ? .learnedRange : .fixedLarge)
            let sampler: GaussianDiffusion.Sampler
            switch try a.choice("sampler", ["ddpm", "ddim"]) {
            case "ddim": sampler = .ddim(eta: Float(try a.number("eta")))
            default: sampler = .ddpm
            }
            let scale = try a.number("cfg")
            guard scale >= 0, scale.isFinite else { throw a.error("cfg", "sample: cfg must be a finite number >= 0, got \(scale)") }
            guard scale == 1 || shape.hasNullClass else {
                throw a.error("cfg", "sample: this model has no null class (trained without label dropout), so it cannot be guided; use cfg: 1")
            }
            let vae = a.isNil("vae") ? nil : try GraftingArguments.vae(a)
            let denoiser = scale == 1 ? ConditionalDenoiser.conditioned(m, labels: labels)
                : ConditionalDenoiser.guided(m, labels: labels, nullClass: shape.classes, scale: Float(scale), inputChannels: shape.channels)
            let pixels = shape.channels != 4
            let clip = a.isNil("clip") ? pixels : try a.bool("clip")
            var generator = RandomGenerator(seed: try TrainBindings.trainingSeed(a))
            let noise = try Tensor.normal([labels.count, shape.channels, shape.size, shape.size], generator: &generator)
            let bar = ProgressBar(try a.string("label"), total: diffusion.schedule.steps)
            defer { bar.finish() }
            let interpreter = a.interpreter, position = interpreter.builtinCallPos
            let samples = try diffusion.sample(denoiser, noise: noise, sampler: sampler, clip: clip, generator: &generator) { done, _ in
                bar.update(done)
            }
            try interpreter.checkInterrupt(position)
            if let vae {
                let images = try GradMode.withoutGrad { try vae.decode(try samples / Float(vae.config.scalingFactor)) }
                return .tensor(try (images * 0.5 + 0.5).clamped(min: 0, max: 1))
            }
            return .tensor(pixels ? try (samples * 0.5 + 0.5).clamped(min: 0, max: 1) : samples)
        },
        Builtin("denoise(m, x, t, classes, cfg: 1, seed: nil)",
                """
                One denoising step to look inside a class-conditional diffusion model (a DiT): noises x (in the \
                model's space: pixels in [-1, 1], or latents as vae_encode returns them) to timestep t of DiT's \
                1000-step schedule (0 is clean, 999 pure noise; one number, or one per image) with noise drawn \
                from seed, runs m once with `classes` (guided with scale cfg, as sample) and returns {noisy, \
                noise, epsilon (the model's prediction of the noise), predicted (its estimate of x_0: (noisy - \
                sqrt(1 - alpha_bar) epsilon) / sqrt(alpha_bar), not clipped), alpha_bar ([N])}.
                """) { a in
            let m = try GraftingArguments.model(a)
            let shape = try GraftingArguments.shape(a, m)
            let start = try a.tensor("x").detached()
            let expected = [shape.channels, shape.size, shape.size]
            guard start.rank == 4, Array(start.shape.dropFirst()) == expected else {
                throw a.error("x", "denoise: the model takes [N, \(expected.map(String.init).joined(separator: ", "))] inputs, got \(describe(shape: start.shape))")
            }
            let n = start.shape[0]
            let labels = try GraftingArguments.classes(a, "classes", shape: shape)
            guard labels.count == n || labels.count == 1 else {
                throw a.error("classes", "denoise: \(labels.count) classes for a batch of \(n) (give one, or one per image)")
            }
            let steps: [Int]
            switch a["t"] {
            case .number(let v): steps = Array(repeating: Int(v), count: n)
            case .tensor(let t): steps = t.scalars.map { Int($0) }
            case .list(let list): steps = try list.items.map { item in
                guard case .number(let v) = item else { throw a.typeError("t", "a timestep or one per image") }
                return Int(v)
            }
            default: throw a.typeError("t", "a timestep or one per image")
            }
            guard steps.count == n else { throw a.error("t", "denoise: \(steps.count) timesteps for a batch of \(n)") }
            if let bad = steps.first(where: { $0 < 0 || $0 > 999 }) {
                throw a.error("t", "denoise: timestep \(bad) is outside 0...999")
            }
            let scale = try a.number("cfg")
            guard scale >= 0, scale.isFinite else { throw a.error("cfg", "denoise: cfg must be a finite number >= 0, got \(scale)") }
            guard scale == 1 || shape.hasNullClass else {
                throw a.error("cfg", "denoise: this model has no null class (trained without label dropout), so it cannot be guided; use cfg: 1")
            }
            let perImage = labels.count == n ? labels : Array(repeating: labels[0], count: n)
            let diffusion = try GaussianDiffusion.dit(learnSigma: shape.learnSigma)
            var generator = RandomGenerator(seed: try TrainBindings.trainingSeed(a))
            let noise = try Tensor.normal(start.shape, generator: &generator)
            let denoiser = scale == 1 ? ConditionalDenoiser.conditioned(m, labels: perImage)
                : ConditionalDenoiser.guided(m, labels: perImage, nullClass: shape.classes, scale: Float(scale), inputChannels: shape.channels)
            return try GradMode.withoutGrad {
                let noisy = try diffusion.noised(start, steps: steps, noise: noise)
                let output = try denoiser(noisy, diffusion.modelTimesteps(steps))
                let step = try diffusion.reverseStep(modelOutput: output, noisy: noisy, steps: steps, clip: false)
                let epsilon = output.shape[1] == shape.channels ? output
                    : try output.split(sizes: [shape.channels, output.shape[1] - shape.channels], axis: 1)[0]
                return .record(RecordBox([
                    ("noisy", .tensor(noisy)), ("noise", .tensor(noise)), ("epsilon", .tensor(epsilon)),
                    ("predicted", .tensor(step.predictedStart)),
                    ("alpha_bar", .tensor(Tensor(steps.map { Float(diffusion.schedule.alphasCumprod[$0]) }))),
                ]))
            }
        },
        Builtin("train_diffusion(m, data, steps: 1000, batch: 32, lr: 0.0001, weight_decay: 0, warmup: 0, clip_grad: nil, ema: 0.9999, label_dropout: 0.1, mirror: false, snapshots: nil, seed: nil, label: \"train_diffusion\")",
                """
                Trains the class-conditional diffusion model m (a DiT) in place as DiT's train.py does: data \
                {images, labels} (images [N, C, H, W] in [0, 1], scaled to [-1, 1]; for a latent model pass \
                {latents, labels}, used as they are), shuffled epochs of `batch` images (mirrored at random \
                with mirror), labels replaced by the null class with probability label_dropout (what \
                classifier-free guidance needs), a uniform timestep per image, DiT's loss (epsilon MSE plus \
                the variational-bound term that trains the learned variance), AdamW (lr, weight_decay, a \
                linear warm-up over `warmup` steps, gradient norm clipped to clip_grad), and a moving average \
                of the weights (ema: its decay; DiT 0.9999). Returns {model (the average: sample from it), \
                losses, steps, snapshots (one {step, model} per step listed in snapshots)}.
                """) { a in
            let m = try GraftingArguments.model(a)
            let shape = try GraftingArguments.shape(a, m)
            let (images, labels) = try GraftingArguments.data(a, "data", shape: shape)
            let trainer = try DiffusionTrainer(model: m, diffusion: GaussianDiffusion.dit(learnSigma: shape.learnSigma), images: images,
                                               labels: labels, nullClass: shape.classes, options: try GraftingArguments.trainingOptions(a),
                                               architectures: a.interpreter.architectures)
            return try GraftingArguments.run(trainer, a)
        },
    ]
}

/// Arguments the grafting builtins share.
enum GraftingArguments {
    /// The model argument `name`.
    static func model(_ a: Arguments, _ name: String = "m") throws -> Module {
        try ModelBindings.model(a, name).module
    }

    /// The diffusion inputs of a model (DiT's config).
    static func shape(_ a: Arguments, _ m: Module, _ name: String = "m") throws -> DiffusionModelShape {
        guard let shape = diffusionShape(of: m) else {
            throw a.error(name, "\(a.builtin.name): \(name) must be a class-conditional diffusion model (dit(...) or a converted DiT), got a \(m.typeName)")
        }
        return shape
    }

    /// Class indices from a list or tensor, each in 0..<classes (or the null class).
    static func classes(_ a: Arguments, _ name: String, shape: DiffusionModelShape) throws -> [Int] {
        let values: [Double]
        switch a[name] {
        case .list(let list):
            values = try list.items.map { item in
                guard case .number(let n) = item else { throw a.typeError(name, "a list of class indices") }
                return n
            }
        case .tensor(let t): values = t.scalars.map(Double.init)
        case .number(let n): values = [n]
        default: throw a.typeError(name, "a list of class indices")
        }
        guard !values.isEmpty else { throw a.error(name, "\(a.builtin.name): \(name) is empty") }
        return try values.map { v in
            guard v.rounded() == v, v >= 0, v <= Double(shape.classes) else {
                throw a.error(name, "\(a.builtin.name): class \(Value.number(v).display) is not an index in 0..<\(shape.classes) (or \(shape.classes), the null class)")
            }
            return Int(v)
        }
    }

    /// The `steps` argument as a respacing: a step count or DiT's respacing text.
    static func respacing(_ a: Arguments, _ name: String) throws -> String {
        switch a[name] {
        case .number(let n):
            guard n >= 2, n <= 1000, n.rounded() == n else { throw a.error(name, "\(a.builtin.name): steps must be a whole number in 2...1000, got \(Value.number(n).display)") }
            return String(Int(n))
        case .string(let text): return text
        default: throw a.typeError(name, "a number of steps or a respacing such as \"ddim50\"")
        }
    }

    /// Training images in the model's range and their labels: {images (in [0, 1]), labels} or
    /// {latents, labels}, checked against the model's input shape.
    static func data(_ a: Arguments, _ name: String, shape: DiffusionModelShape) throws -> (Tensor, [Int]) {
        guard case .record(let record) = a[name] else { throw a.typeError(name, "a record {images, labels} or {latents, labels}") }
        let images: Tensor
        if case .tensor(let latents)? = record["latents"] {
            images = latents.detached()
        } else if case .tensor(let pictures)? = record["images"] {
            images = try pictures.detached() * 2 - 1
        } else {
            throw a.error(name, "\(a.builtin.name): \(name) needs a tensor 'images' (in [0, 1]) or 'latents' (keys: \(record.keys.joined(separator: ", ")))")
        }
        let expected = [shape.channels, shape.size, shape.size]
        guard images.rank == 4, Array(images.shape.dropFirst()) == expected else {
            throw a.error(name, "\(a.builtin.name): the model takes [N, \(expected.map(String.init).joined(separator: ", "))] inputs, got \(describe(shape: images.shape)) (pad or resize the images)")
        }
        let labels: [Int]
        switch record["labels"] {
        case .tensor(let t)?: labels = t.scalars.map { Int($0) }
        case .list(let list)?:
            labels = try list.items.map { item in
                guard case .number(let n) = item else { throw a.typeError(name, "labels as class indices") }
                return Int(n)
            }
        default: throw a.error(name, "\(a.builtin.name): \(name) needs 'labels' (class indices)")
        }
        return (images, labels)
    }

    /// The options train_diffusion and finetune share.
    static func trainingOptions(_ a: Arguments) throws -> DiffusionTrainingOptions {
        var options = DiffusionTrainingOptions()
        options.steps = try ModelBindings.positive(a, "steps")
        options.batchSize = try ModelBindings.positive(a, "batch")
        options.learningRate = try a.number("lr")
        guard options.learningRate >= 0 else { throw a.error("lr", "\(a.builtin.name): lr must be >= 0") }
        options.weightDecay = try a.number("weight_decay")
        options.warmupSteps = try a.int("warmup")
        options.gradientClip = a.isNil("clip_grad") ? nil : try a.number("clip_grad")
        options.emaDecay = try a.number("ema")
        options.labelDropout = try a.number("label_dropout")
        options.mirror = try a.bool("mirror")
        options.snapshotSteps = try TrainBindings.snapshotSteps(a, "snapshots")
        options.seed = try TrainBindings.trainingSeed(a)
        let interpreter = a.interpreter, position = interpreter.builtinCallPos
        options.onStep = { _, _ in try interpreter.checkInterrupt(position) }
        return options
    }

    /// Runs a diffusion trainer under a progress bar and returns its record.
    static func run(_ trainer: DiffusionTrainer, _ a: Arguments) throws -> Value {
        let bar = ProgressBar(try a.string("label"), total: trainer.options.steps)
        defer { bar.finish() }
        let losses = try trainer.train(progress: bar)
        return .record(RecordBox([
            ("model", .handle(ModelHandle(trainer.ema))),
            ("losses", .list(ListBox(losses.map { .number(Double($0)) }))),
            ("steps", .number(Double(losses.count))),
            ("snapshots", .list(ListBox(trainer.snapshots.map {
                .record(RecordBox([("step", .number(Double($0.step))), ("model", .handle(ModelHandle($0.model)))]))
            }))),
        ]))
    }
}
