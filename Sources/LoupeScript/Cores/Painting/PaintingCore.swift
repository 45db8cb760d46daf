import Foundation
import LoupeModels
import LoupeTensor

/// The painting core (Herdt & Maass, "Visualize and Paint GAN Activations"): StyleGAN2
/// generators and their training, activation vectors, Full and Grid Replace, tileability, and
/// painting with vectors on label maps.
struct PaintingCore: ScriptCore {
    let name = "painting"
    var builtins: [Builtin] { GeneratorBindings.all + ReplacementBindings.all + PaintBindings.all }
}

/// Arguments the painting builtins share.
enum PaintingArguments {
    /// The StyleGAN2 generator argument `name`.
    static func generator(_ a: Arguments, _ name: String = "G") throws -> StyleGAN2 {
        guard case .handle(let h) = a[name], let handle = h as? ModelHandle else { throw a.typeError(name, "a model") }
        guard let g = handle.module as? StyleGAN2 else {
            throw a.error(name, "\(a.builtin.name): \(name) must be a StyleGAN2 generator (stylegan2(...) or a converted NVlabs checkpoint), got a \(handle.module.typeName)")
        }
        return g
    }

    /// The `w` argument as `[B, num_ws, w_dim]`: a tensor of that shape, `[num_ws, w_dim]`, one
    /// `[w_dim]` vector for every layer, or a record with a `w` field (what `generate` returns).
    static func ws(_ a: Arguments, _ g: StyleGAN2, _ name: String = "w") throws -> Tensor {
        var value = a[name]
        if case .record(let record) = value, let w = record["w"] { value = w }
        guard case .tensor(let t) = value else { throw a.typeError(name, "a tensor w (or generate's record)") }
        let count = g.config.wCount, dim = g.config.wDim
        switch t.shape {
        case [dim]: return try t.detached().reshaped([1, 1, dim]).tiled([1, count, 1])
        case [count, dim]: return try t.detached().reshaped([1, count, dim])
        case let s where s.count == 3 && s[1] == count && s[2] == dim && s[0] > 0: return t.detached()
        default:
            throw a.error(name, "\(a.builtin.name): w must be [B, \(count), \(dim)] (generate's w), [\(count), \(dim)] or [\(dim)], got \(describe(shape: t.shape))")
        }
    }

    /// An activation-vector argument: a tensor `[C]` or `[B, C]`, or a record with a `vector` field.
    static func vector(_ value: Value, _ a: Arguments, _ name: String) throws -> Tensor {
        var v = value
        if case .record(let record) = v, let inner = record["vector"] { v = inner }
        guard case .tensor(let t) = v else { throw a.typeError(name, "an activation vector (a tensor)") }
        return t.detached()
    }

    /// Generator images in [-1, 1] as pictures in [0, 1].
    static func pictures(_ images: Tensor) throws -> Tensor {
        try (images * 0.5 + 0.5).clamped(min: 0, max: 1)
    }

    /// The `layer` argument, checked against the generator's synthesis layers.
    static func layer(_ a: Arguments, _ g: StyleGAN2, _ name: String = "layer") throws -> String {
        let layer = try a.string(name)
        guard g.layerPaths.contains(layer) else {
            throw a.error(name, "\(a.builtin.name): '\(layer)' is not a synthesis layer of this generator; its layers are \(g.layerPaths.joined(separator: ", "))")
        }
        return layer
    }

    /// The `noise` argument: "const", "random" (seeded from `seed`) or "none".
    static func noise(_ a: Arguments, seed: UInt64) throws -> StyleGAN2NoiseSource.Mode {
        switch try a.choice("noise", ["const", "random", "none"]) {
        case "random": return .random(seed: seed)
        case "none": return .none
        default: return .const
        }
    }

    static func numbers(_ values: [Float]) -> Value { .list(ListBox(values.map { .number(Double($0)) })) }
}
