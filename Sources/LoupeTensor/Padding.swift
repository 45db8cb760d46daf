/// How `padded` fills new elements (as torch.nn.functional.pad).
public enum PadMode: String, Sendable, CaseIterable {
    /// A constant value.
    case constant
    /// Mirror without repeating the edge: [a b c] -> b [a b c] b.
    case reflect
    /// Repeat the edge: [a b c] -> a [a b c] c.
    case replicate
}

extension Tensor {
    /// Pads the trailing `widths.count` axes: `widths[0]` applies to the first of those axes,
    /// `widths.last` to the last axis. Widths are non-negative; reflect needs widths below the
    /// axis length, replicate a non-empty axis. Differentiable.
    public func padded(_ widths: [(before: Int, after: Int)], mode: PadMode = .constant, value: Float = 0) throws -> Tensor {
        let text = widths.map { "(\($0.before), \($0.after))" }.joined(separator: ", ")
        guard widths.count <= rank else {
            throw LoupeError("pad: \(widths.count) axis widths [\(text)] given for a tensor of shape \(describe(shape: shape))")
        }
        var maps = identityMaps
        for (k, width) in widths.enumerated() {
            let a = rank - widths.count + k
            let n = shape[a]
            guard width.before >= 0, width.after >= 0 else {
                throw LoupeError("pad: negative width in [\(text)] for shape \(describe(shape: shape))")
            }
            guard width.before <= 1 << 32, width.after <= 1 << 32 else {
                throw LoupeError("pad: widths [\(text)] are too large for shape \(describe(shape: shape))")
            }
            switch mode {
            case .reflect:
                guard width.before < n, width.after < n else {
                    throw LoupeError("pad: reflect widths [\(text)] must be smaller than axis \(a) of shape \(describe(shape: shape))")
                }
            case .replicate:
                guard n > 0 || (width.before == 0 && width.after == 0) else {
                    throw LoupeError("pad: replicate cannot pad empty axis \(a) of shape \(describe(shape: shape))")
                }
            case .constant: break
            }
            maps[a] = (-width.before..<(n + width.after)).map { i in
                if i >= 0 && i < n { return i }
                switch mode {
                case .constant: return -1
                case .replicate: return i < 0 ? 0 : n - 1
                case .reflect: return i < 0 ? -i : 2 * (n - 1) - i
                }
            }
        }
        _ = try Tensor.checkedCount(maps.map(\.count), op: "pad")
        return mapped(maps, op: "pad", fill: value)
    }
}
