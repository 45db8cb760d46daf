import Foundation
import LoupeModels
import LoupeTensor

/// DETR-R50 (facebookresearch/detr's shape: ResNet-50 with frozen batch norm, 6 + 6 layers of
/// width 256, 100 queries, 91 classes) with seeded random weights, as Scripts/bench_torch.py
/// builds it from detr's code: forward without the tape at 800x800 and 512x512, and forward plus
/// the gradient of the logits' and boxes' sum with respect to the input at 512x512.
enum DETRWorkloads {
    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        let names = ["detr-r50 800x800 fwd b1", "detr-r50 512x512 fwd b1", "detr-r50 512x512 fwd+bwd input b1"]
        guard names.contains(where: wanted) else { return }
        let model = try DETR(DETRConfig())
        var generator = RandomGenerator(seed: 800)
        try model.initialize(generator: &generator)
        model.setTraining(false)
        for (name, size) in [(names[0], 800), (names[1], 512)] {
            try add(name) {
                let x = try CoreWorkloads.random([1, 3, size, size], seed: UInt64(size))
                let seconds = try Timing.median { _ = try GradMode.withoutGrad { try outputs(model, x) } }
                return BenchRow(name: name, unit: .ms, loupe: seconds * 1e3)
            }
        }
        try add(names[2]) {
            let x = try CoreWorkloads.random([1, 3, 512, 512], seed: 512).requiringGrad()
            let seconds = try Timing.median {
                let (logits, boxes) = try outputs(model, x)
                try (try logits.sum() + boxes.sum()).backward()
                x.node?.zeroGrad()
            }
            return BenchRow(name: names[2], unit: .ms, loupe: seconds * 1e3)
        }
    }

    /// The final class logits and boxes of one forward pass.
    static func outputs(_ model: DETR, _ x: Tensor) throws -> (Tensor, Tensor) {
        let output = try ForwardContext().run(model, inputs: ModuleInputs([("x", .tensor(x))]))
        guard let logits = output["pred_logits"], let boxes = output["pred_boxes"] else {
            throw BenchError("loupe-bench: DETR returned \(output.kind)")
        }
        return (try logits.tensor("pred_logits"), try boxes.tensor("pred_boxes"))
    }
}
