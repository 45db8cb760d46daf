import Foundation
import LoupeInputOptimization
import LoupeModels
import LoupeTensor
import LoupeVisualization

/// Feature visualization (`visualize`, lucent's `render_vis` numerics) against lucent's own
/// `render_vis` in Scripts/bench_torch.py: whole runs, from the random start to the last Adam step
/// (lr 0.05), with lucent's standard transforms.
/// - the shipped demo CNN (Examples/models/cnn-fmnist.safetensors), `channel("layer3", 5)`, one
///   28x28 channel in Fourier parameterisation (one channel: no decorrelation), no normalisation,
///   resized back to 28, 512 steps;
/// - torchvision's ResNet-50 shape with random weights (torchvision's initialisation), eval mode,
///   `channel("layer4", 100)`, a 224x224 RGB Fourier image with decorrelated colour, ImageNet
///   normalisation, resized to 224, 64 steps only (512 would take minutes per run); left out of
///   --quick.
/// Runs taking over 10 s are timed once; shorter ones by the median of a few (`longRunSeconds`).
enum VisualizationWorkloads {
    static func run(add: (String, () throws -> BenchRow) throws -> Void) throws {
        let cnn = "visualize cnn-fmnist 512 steps"
        try add(cnn) {
            let model = try loadModel(modelPath("cnn-fmnist"), architectures: .loupeModels)
            var options = VisualizationOptions()
            options.steps = 512
            options.learningRate = 0.05
            options.normalization = nil
            options.inputSize = [28, 28]
            options.label = cnn
            let seconds = try longRunSeconds {
                _ = try visualize(model, objective: .channel("layer3", 5), channels: 1, size: [28, 28], options: options)
            }
            return BenchRow(name: cnn, unit: .ms, loupe: seconds * 1e3)
        }
        let resnet = "visualize resnet50 224px 64 steps"
        if !Timing.quick {
            try add(resnet) {
                let model = try ResNet(ResNetConfig(depth: 50, classes: 1000))
                var generator = RandomGenerator(seed: 50)
                try model.initialize(generator: &generator)
                model.setTraining(false)
                var options = VisualizationOptions()
                options.steps = 64
                options.learningRate = 0.05
                options.decorrelate = true
                options.normalization = .imageNet
                options.inputSize = [224, 224]
                options.label = resnet
                let seconds = try longRunSeconds {
                    _ = try visualize(model, objective: .channel("layer4", 100), channels: 3, size: [224, 224],
                                      options: options)
                }
                return BenchRow(name: resnet, unit: .ms, loupe: seconds * 1e3)
            }
        }
    }

    /// Examples/models/NAME.safetensors in this checkout.
    static func modelPath(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/models/\(name).safetensors").path
    }

    /// Seconds of one run of `body` when it takes over 10 s; otherwise (that run having warmed
    /// up) the median of 3 to 5 more after one more warm-up, as bench_torch.py's
    /// `long_run_seconds`.
    static func longRunSeconds(_ body: () throws -> Void) throws -> Double {
        let start = Timing.now()
        try body()
        let first = Timing.now() - start
        if first > 10 { return first }
        let saved = Timing.settings
        defer { Timing.settings = saved }
        Timing.settings = Timing.Settings(warmup: 0, minRuns: 3, maxRuns: 5, budgetSeconds: 0.5)
        return try Timing.median(body)
    }
}
