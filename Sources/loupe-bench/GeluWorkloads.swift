/// Rows that need `Tensor.gelu()` (branch ops): the gelu row and the ViT-B block. Empty until
/// that op is merged.
enum GeluWorkloads {
    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {}
}
