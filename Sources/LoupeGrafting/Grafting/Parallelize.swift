import Foundation
import LoupeModels
import LoupeTensor

/// The paper's depth restructuring: a copy of the DiT `model` (grafted or not) whose blocks in
/// each group of `groups` run in parallel (every block of a group sees the same input and
/// conditioning; the group adds up their residual updates), with the same weights. Pairs of
/// consecutive blocks halve the depth; the result is then finetuned (stage 2) to recover quality.
public func parallelize(_ model: Module, groups: [[Int]], architectures: ArchitectureCatalog) throws -> Module {
    let edited = model as? ReplacedModel
    guard let dit = (edited?.base ?? model) as? DiT else {
        throw LoupeError("parallelize: the model must be a DiT, got a \(model.typeName)")
    }
    guard dit.config.parallelGroups.isEmpty else {
        throw LoupeError("parallelize: the model already runs blocks in parallel (\(dit.config.parallelGroups))")
    }
    var config = dit.config
    config.parallelGroups = groups
    do {
        try config.validate()
    } catch let error as LoupeError {
        throw LoupeError(error.message.replacingOccurrences(of: "dit: parallel_groups", with: "parallelize: groups"))
    }
    var result: Module = try DiT(config)
    if let edited {
        for (path, module) in edited.replacements.sorted(by: { $0.key < $1.key }) {
            result = try replace(result, at: path, with: try copyModel(module, architectures: architectures))
        }
    }
    try copyState(from: model, to: result, op: "parallelize")
    return result
}

/// Consecutive pairs (0, 1), (2, 3), ... of a model `depth` blocks deep (an odd last block stays alone).
public func consecutivePairs(depth: Int) -> [[Int]] {
    stride(from: 0, to: depth - 1, by: 2).map { [$0, $0 + 1] }
}

extension DiT: DiffusionModelDescribing {
    public var diffusionShape: DiffusionModelShape {
        DiffusionModelShape(channels: config.inChannels, size: config.inputSize, classes: config.numClasses,
                            learnSigma: config.learnSigma, hasNullClass: config.hasNullClass)
    }
}
