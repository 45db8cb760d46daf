import LoupeTensor

/// Rows built from the neural-network ops (conv2d, softmax, layer norm, gelu, a ViT block).
enum ModelWorkloads {
    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
    }
}
