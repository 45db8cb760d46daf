import Foundation
import LoupeModels
import LoupeTensor

/// Weights of reference models too large to commit, from a formula of each tensor's name and
/// element index, the same as the exporters' `formula_tensor` (Scripts/fixtures/common.py):
/// SplitMix64 of the name's hash and the index gives full-rank values, scaled as torch's
/// initialisers would (uniform with the variance of 1 / fan-in for matrices, near 1 for norm
/// weights, small for biases and running means, in [1, 1.5] for running variances).
enum FormulaWeights {
    /// The exporters' `uniform_signed`: n values in [-1, 1) from SplitMix64 of (seed, index).
    static func uniformSigned(seed: Int, count: Int) -> [Double] {
        let offset = UInt64(seed) &* 0x9E3779B97F4A7C15
        return (0..<count).map { k in
            var z = UInt64(k) &+ 1 &+ offset
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            z ^= z >> 31
            return 2 * (Double(z >> 11) * 0x1p-53) - 1
        }
    }

    /// Fills every parameter and buffer of `model` with `formula_tensor`'s values.
    static func fill(_ model: Module) throws {
        for (name, parameter) in model.namedState() {
            let shape = parameter.value.shape
            let hash = name.unicodeScalars.enumerated().reduce(0) { $0 + Int($1.element.value) * ($1.offset + 1) } % 10007
            let fanIn = Double(shape.dropFirst().reduce(1, *))
            let values: [Float] = uniformSigned(seed: hash, count: parameter.value.count).map { s in
                if name.hasSuffix("num_batches_tracked") { return 0 }
                if name.hasSuffix("running_var") { return Float(1 + 0.5 * abs(s)) }
                if name.hasSuffix("running_mean") || name.hasSuffix("bias") { return Float(0.1 * s) }
                if shape.count == 1 { return Float(1 + 0.1 * s) }
                return Float(s * (3 / fanIn).squareRoot())
            }
            parameter.value = try Tensor(shape: shape, scalars: values)
        }
    }
}
