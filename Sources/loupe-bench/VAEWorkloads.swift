import Foundation
import LoupeModels
import LoupeTensor

/// The Stable Diffusion VAE's decoder (LoupeModels' `AutoencoderKL`, diffusers' numerics) against
/// diffusers' own `AutoencoderKL` in Scripts/bench_torch.py (`vae_rows`), both with random weights
/// (torch's default initialisation): the default configuration (stabilityai/sd-vae-ft-ema's:
/// block_out_channels [128, 256, 512, 512], layers_per_block 2, 32 groups), one 32x32x4 latent
/// (batch 1) decoded to a 256x256 image (`post_quant_conv`, then the decoder) without gradients,
/// as DiT-256 decodes its samples.
enum VAEWorkloads {
    static let decodeName = "vae decode 32x32x4 -> 256px"

    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        try add(decodeName) {
            let vae = try AutoencoderKL(AutoencoderKLConfig())
            var generator = RandomGenerator(seed: 1)
            try vae.initialize(generator: &generator)
            let latent = try CoreWorkloads.random([1, 4, 32, 32], seed: 2)
            let seconds = try Timing.median {
                _ = try GradMode.withoutGrad { try vae.decode(latent) }
            }
            return BenchRow(name: decodeName, unit: .ms, loupe: seconds * 1e3)
        }
    }
}
