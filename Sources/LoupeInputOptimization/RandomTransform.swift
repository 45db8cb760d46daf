import LoupeTensor

/// A random, differentiable transform of `[B, C, H, W]` images applied at every optimisation
/// step (lucent's `transform` module). Every draw comes from the generator passed in, so a run
/// with the same seed sees the same transforms.
public struct RandomTransform {
    let body: (Tensor, inout RandomGenerator) throws -> Tensor

    /// A transform from its body; the body draws only from the generator it is given.
    public init(_ body: @escaping (Tensor, inout RandomGenerator) throws -> Tensor) {
        self.body = body
    }

    /// Applies the transform, drawing its parameters from `generator`.
    public func callAsFunction(_ images: Tensor, generator: inout RandomGenerator) throws -> Tensor {
        try body(images, &generator)
    }

    /// The transforms in order.
    public static func compose(_ transforms: [RandomTransform]) -> RandomTransform {
        RandomTransform { images, generator in
            var x = images
            for transform in transforms { x = try transform(x, generator: &generator) }
            return x
        }
    }

    /// lucent's `pad(width, mode:, constant_value:)`: `width` on every side of the image, with
    /// `value` for constant padding. Draws nothing.
    public static func pad(_ width: Int, mode: PadMode = .reflect, value: Float = 0.5) throws -> RandomTransform {
        guard width >= 0 else { throw LoupeError("pad: width \(width) must be non-negative") }
        return RandomTransform { images, _ in
            try ImageGeometry.checkImages(images, op: "pad")
            return try images.padded([(width, width), (width, width)], mode: mode, value: mode == .constant ? value : 0)
        }
    }

    /// lucent's `jitter(d)`: shifts the image by `dx`, then `dy`, each drawn uniformly from
    /// `0..<d`, filling with zeros (`d > 1`).
    public static func jitter(_ d: Int) throws -> RandomTransform {
        guard d > 1 else { throw LoupeError("jitter: d must be more than 1, got \(d)") }
        return RandomTransform { images, generator in
            let dx = generator.nextInt(below: d), dy = generator.nextInt(below: d)
            return try ImageGeometry.translated(images, dx: dx, dy: dy)
        }
    }

    /// A circular shift (`roll`) by `dy`, then `dx`, each drawn uniformly from
    /// `-maxShift...maxShift`: pixels leaving one edge come back at the other.
    public static func roll(_ maxShift: Int) throws -> RandomTransform {
        guard maxShift >= 0 else { throw LoupeError("roll: maximum shift \(maxShift) must be non-negative") }
        return RandomTransform { images, generator in
            guard maxShift > 0 else { return images }
            let span = 2 * maxShift + 1
            let dy = generator.nextInt(below: span) - maxShift, dx = generator.nextInt(below: span) - maxShift
            try ImageGeometry.checkImages(images, op: "roll")
            return try images.rolled(shifts: [dy, dx], axes: [2, 3])
        }
    }

    /// lucent's `random_scale(scales)`: one of `scales` drawn uniformly, then
    /// `ImageGeometry.scaled`.
    public static func randomScale(_ scales: [Double]) throws -> RandomTransform {
        guard !scales.isEmpty, scales.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw LoupeError("random_scale: scales \(scales) must be a non-empty list of positive numbers")
        }
        return RandomTransform { images, generator in
            try ImageGeometry.scaled(images, by: scales[generator.nextInt(below: scales.count)])
        }
    }

    /// lucent's `random_rotate(angles)`: one of `degrees` drawn uniformly, then
    /// `ImageGeometry.rotated`.
    public static func randomRotate(degrees: [Double]) throws -> RandomTransform {
        guard !degrees.isEmpty, degrees.allSatisfy({ $0.isFinite }) else {
            throw LoupeError("random_rotate: angles \(degrees) must be a non-empty list of finite numbers")
        }
        return RandomTransform { images, generator in
            try ImageGeometry.rotated(images, degrees: degrees[generator.nextInt(below: degrees.count)])
        }
    }

    /// lucent's scales `1 + (i - 5) / 50` for `i` in `0...10`: 0.90, 0.92, ..., 1.10.
    public static let standardScales: [Double] = (0...10).map { 1 + Double($0 - 5) / 50 }

    /// lucent's angles: -10...10 degrees, plus five more 0s.
    public static let standardAngles: [Double] = (-10...10).map(Double.init) + [0, 0, 0, 0, 0]

    /// lucent's `standard_transforms`: pad 12 (constant 0.5), jitter 8, random scale
    /// (`standardScales`), random rotate (`standardAngles`), jitter 4.
    public static func standard() throws -> RandomTransform {
        compose([try pad(12, mode: .constant, value: 0.5), try jitter(8), try randomScale(standardScales),
                 try randomRotate(degrees: standardAngles), try jitter(4)])
    }
}
