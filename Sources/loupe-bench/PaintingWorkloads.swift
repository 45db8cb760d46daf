import Foundation
import LoupeModels
import LoupeTensor

/// The StyleGAN2 generator (LoupeModels' `StyleGAN2`, NVlabs' stylegan2-ada-pytorch numerics)
/// against NVlabs' own `training.networks.Generator` in Scripts/bench_torch.py (a checkout named by
/// STYLEGAN2_REPO), both with random weights (NVlabs' initialisation: weights N(0, 1)). The
/// generator is z_dim 512, w_dim 512, 8 mapping layers, 256x256 RGB, channel_max 512, the "skip"
/// architecture and conv_clamp 256 (as NVlabs' ADA configurations), constant noise, float32 only.
/// - generation: one image (batch 1) from one z, truncation 1, without gradients, at channel_base
///   16384 and 32768;
/// - synthesis forward plus backward to w: channel_base 32768, ws [1, num_ws, 512] as a leaf
///   requiring grad, image = synthesis(ws), loss = image.sum(), the gradient with respect to ws
///   only (the weights require no gradient).
/// The channel_base 32768 rows are left out of --quick.
enum PaintingWorkloads {
    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        for channelBase in [16384, 32768] where channelBase == 16384 || !Timing.quick {
            let name = "stylegan2 generate 256px cb\(channelBase)"
            try add(name) {
                let g = try generator(channelBase: channelBase)
                let z = try CoreWorkloads.random([1, 512], seed: 2)
                let seconds = try Timing.median {
                    _ = try GradMode.withoutGrad { try g(inputs: ModuleInputs([("z", .tensor(z))])) }
                }
                return BenchRow(name: name, unit: .ms, loupe: seconds * 1e3)
            }
        }
        let backward = "stylegan2 synthesis fwd+bwd to w 256px"
        if !Timing.quick {
            try add(backward) {
                let g = try generator(channelBase: 32768)
                let ws = try CoreWorkloads.random([1, g.config.wCount, g.config.wDim], seed: 3).requiringGrad()
                let seconds = try Timing.median {
                    _ = try GradMode.withGrad {
                        let image = try ForwardContext().run(g.synthesis, inputs: ModuleInputs([("ws", .tensor(ws))]))
                            .tensor("image")
                        return try Autograd.gradients(of: try image.sum(), wrt: [ws])
                    }
                }
                return BenchRow(name: backward, unit: .ms, loupe: seconds * 1e3)
            }
        }
    }

    /// A 256x256 RGB generator with random weights and constant noise.
    static func generator(channelBase: Int) throws -> StyleGAN2 {
        let g = try StyleGAN2(StyleGAN2Config(zDim: 512, wDim: 512, resolution: 256, channels: 3,
                                              channelBase: channelBase, channelMax: 512, mappingLayers: 8,
                                              architecture: "skip", convClamp: 256))
        var generator = RandomGenerator(seed: 1)
        try g.initialize(generator: &generator)
        g.noiseMode = .const
        return g
    }
}
