import LoupeTensor

/// timm `PatchEmbed`: a `proj` convolution with kernel and stride `patchSize`, flattened to
/// tokens `[B, N, dim]`.
public final class PatchEmbed: Module {
    public let proj: Conv2d
    public let imageSize: Int
    public let channels: Int

    public init(imageSize: Int, patchSize: Int, channels: Int, dim: Int) throws {
        proj = try Conv2d(channels, dim, kernel: patchSize, stride: patchSize)
        self.imageSize = imageSize
        self.channels = channels
        super.init()
        registerModule("proj", proj)
    }

    public override func forward(_ input: Tensor, context: ForwardContext) throws -> Tensor {
        guard input.rank == 4, input.shape[1] == channels, input.shape[2] == imageSize, input.shape[3] == imageSize else {
            throw LoupeError("ViT: input \(describe(shape: input.shape)) does not match the model's images [N, \(channels), \(imageSize), \(imageSize)]")
        }
        let x = try context.apply(proj, input)
        return try x.reshaped([x.shape[0], x.shape[1], -1]).transposed(1, 2)
    }
}
