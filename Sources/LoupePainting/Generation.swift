import Foundation
import LoupeModels
import LoupeTensor

// Herdt & Maass (2024), "Visualize and Paint GAN Activations": an activation vector is the
// C-vector at one position of a synthesis layer of a real generation; replacing the layer's
// activations with it shows what it encodes. Generations use truncation 1 and constant noise,
// as the paper's code does.

/// One batch of generations: the images and the latents that made them.
public struct Generation {
    /// `[B, C, H, W]` in about [-1, 1] (NVlabs' range).
    public var images: Tensor
    /// The synthesis network's input, `[B, num_ws, w_dim]`.
    public var ws: Tensor
    /// The latents, `[B, z_dim]`.
    public var z: Tensor
}

/// Running a StyleGAN2 generator and editing one of its synthesis layers.
public enum GANPainting {
    /// Latents `[count, z_dim]`, N(0, 1) from a generator seeded with `seed`: the same seed and
    /// count give the same latents on every run.
    public static func latents(_ g: StyleGAN2, seed: UInt64, count: Int) throws -> Tensor {
        guard count > 0 else { throw LoupeError("generate: count must be positive, got \(count)") }
        var generator = RandomGenerator(seed: seed, stream: 0x6c6174656e74)
        return try Tensor.normal([count, g.config.zDim], generator: &generator)
    }

    /// Images from latents `z [B, z_dim]` (and one-hot `labels [B, classes]` for a conditional
    /// generator), truncated by `truncation` on the first `cutoff` ws (all when nil), with `noise`.
    public static func generate(_ g: StyleGAN2, z: Tensor, labels: Tensor? = nil, truncation: Double = 1,
                                cutoff: Int? = nil, noise: StyleGAN2NoiseSource.Mode = .const) throws -> Generation {
        guard z.rank == 2, z.shape[1] == g.config.zDim else {
            throw LoupeError("generate: z must be [B, \(g.config.zDim)], got \(describe(shape: z.shape))")
        }
        var inputs: [(name: String, value: ModuleValue)] = [("z", .tensor(z))]
        if g.config.classes > 0 {
            let c = try labels ?? Tensor.zeros([z.shape[0], g.config.classes])
            inputs.append(("c", .tensor(c)))
        }
        inputs.append(("truncation_psi", .number(truncation)))
        if let cutoff { inputs.append(("truncation_cutoff", .number(Double(cutoff)))) }
        let ws = try GradMode.withoutGrad {
            try ForwardContext().run(g.mapping, inputs: ModuleInputs(inputs)).tensor("ws")
        }
        let images = try synthesize(g, ws: ws, noise: noise).images
        return Generation(images: images, ws: ws, z: z)
    }

    /// The synthesis network on `ws [B, num_ws, w_dim]` with `patches` and `capture` at paths of the
    /// whole generator (`synthesis.b16.conv1`). Without gradients unless `differentiable`.
    public static func synthesize(_ g: StyleGAN2, ws: Tensor, noise: StyleGAN2NoiseSource.Mode = .const,
                                  patches: [String: Patch] = [:], capture: [String] = [],
                                  differentiable: Bool = false) throws -> (images: Tensor, activations: [String: Tensor]) {
        guard ws.rank == 3, ws.shape[1] == g.config.wCount, ws.shape[2] == g.config.wDim else {
            throw LoupeError("synthesis: w must be [B, \(g.config.wCount), \(g.config.wDim)] (generate's w), got \(describe(shape: ws.shape))")
        }
        let local = try Dictionary(uniqueKeysWithValues: patches.map { (try synthesisPath($0.key, in: g), $0.value) })
        let captured = try capture.map { try synthesisPath($0, in: g) }
        let saved = g.noiseMode
        g.noiseMode = noise
        defer { g.noiseMode = saved }
        let run = {
            let context = ForwardContext(capture: captured, patches: local)
            let images = try context.run(g.synthesis, inputs: ModuleInputs([("ws", .tensor(ws))])).tensor("image")
            try context.checkAllPathsUsed(op: "synthesis")
            var activations: [String: Tensor] = [:]
            for (path, value) in context.activations { activations["synthesis." + path] = value }
            return (images, activations)
        }
        return differentiable ? try GradMode.withGrad(run) : try GradMode.withoutGrad(run)
    }

    /// The path inside the synthesis network of a generator path (`synthesis.b16.conv1` ->
    /// `b16.conv1`), or a thrown error listing the layers.
    static func synthesisPath(_ path: String, in g: StyleGAN2) throws -> String {
        guard path.hasPrefix("synthesis.") else {
            throw LoupeError("'\(path)' is not a synthesis layer; the generator's layers are \(g.layerPaths.joined(separator: ", "))")
        }
        return String(path.dropFirst("synthesis.".count))
    }

    /// The features of `layer` for `ws`: `[B, C, r, r]`.
    public static func features(_ g: StyleGAN2, ws: Tensor, layer: String,
                                noise: StyleGAN2NoiseSource.Mode = .const) throws -> Tensor {
        let result = try synthesize(g, ws: ws, noise: noise, capture: [layer])
        guard let features = result.activations[layer] else { throw LoupeError("synthesis: no activation at '\(layer)'") }
        return features
    }

    /// The activation vector at position (`y`, `x`) of `layer` in each generation of `ws`:
    /// `[B, C]`.
    public static func activationVector(_ g: StyleGAN2, ws: Tensor, layer: String, y: Int, x: Int) throws -> Tensor {
        let f = try features(g, ws: ws, layer: layer)
        let h = f.shape[2], w = f.shape[3]
        guard (0..<h).contains(y), (0..<w).contains(x) else {
            throw LoupeError("activation_vector: position (\(y), \(x)) is outside \(layer)'s \(h)x\(w) grid")
        }
        return try f.sliced(axis: 2, start: y, end: y + 1).sliced(axis: 3, start: x, end: x + 1)
            .reshaped([f.shape[0], f.shape[1]]).contiguous()
    }

    /// `vectors` as `[B, C]` for a layer of `channels` channels and a batch of `batch` (a single
    /// `[C]` vector is used for every image).
    static func vectorRows(_ vectors: Tensor, channels: Int, batch: Int, op: String) throws -> Tensor {
        let rows = vectors.rank == 1 ? try vectors.reshaped([1, vectors.count]) : vectors
        guard rows.rank == 2, rows.shape[1] == channels, rows.shape[0] == 1 || rows.shape[0] == batch else {
            throw LoupeError("\(op): the vector must be [\(channels)] or [\(batch), \(channels)] for this layer, got \(describe(shape: vectors.shape))")
        }
        return rows.shape[0] == batch ? rows : try rows.tiled([batch, 1])
    }
}
