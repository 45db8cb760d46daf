import Foundation

/// NumPy-style text for tensors: small ones in full, large ones with edges summarized
/// (`...`), plus a shape suffix.
public enum TensorFormatter {
    /// Tensors with more elements than this are summarized.
    public static let summarizeThreshold = 1000
    /// Elements shown at each edge of a summarized axis.
    public static let edgeItems = 3

    public static func format(_ tensor: Tensor) -> String {
        let values = tensor.contiguous()
        let summarize = values.count > summarizeThreshold
        let body = values.withContiguousPointer { pointer -> String in
            let width = columnWidth(pointer, count: values.count, summarize: summarize, shape: values.shape)
            return render(pointer, shape: values.shape, strides: Tensor.contiguousStrides(for: values.shape),
                          depth: 0, offset: 0, width: width, summarize: summarize)
        }
        return "tensor(\(body), shape: \(describe(shape: tensor.shape)))"
    }

    /// Formats one float the way tensors show it: integers without decimals, others with up to
    /// 4 decimals, scientific notation for very large or small magnitudes.
    public static func formatScalar(_ value: Float) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value == value.rounded() && Swift.abs(value) < 1e7 { return String(Int(value)) + "." }
        let magnitude = Swift.abs(value)
        if magnitude >= 1e5 || magnitude < 1e-4 { return String(format: "%.4e", Double(value)) }
        var text = String(format: "%.4f", Double(value))
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }

    private static func columnWidth(_ p: UnsafePointer<Float>, count: Int, summarize: Bool, shape: [Int]) -> Int {
        var width = 1
        let step = summarize ? Swift.max(1, count / 2000) : 1
        var i = 0
        while i < count {
            width = Swift.max(width, formatScalar(p[i]).count)
            i += step
        }
        return width
    }

    private static func render(_ p: UnsafePointer<Float>, shape: [Int], strides: [Int], depth: Int,
                               offset: Int, width: Int, summarize: Bool) -> String {
        if shape.isEmpty { return formatScalar(p[offset]) }
        let size = shape[depth]
        var indices = Array(0..<size)
        var gapAfter: Int? = nil
        if summarize && size > 2 * edgeItems {
            indices = Array(0..<edgeItems) + Array((size - edgeItems)..<size)
            gapAfter = edgeItems - 1
        }
        let last = depth == shape.count - 1
        var parts: [String] = []
        for (n, i) in indices.enumerated() {
            let item: String
            if last {
                let text = formatScalar(p[offset + i * strides[depth]])
                item = String(repeating: " ", count: Swift.max(0, width - text.count)) + text
            } else {
                item = render(p, shape: shape, strides: strides, depth: depth + 1,
                              offset: offset + i * strides[depth], width: width, summarize: summarize)
            }
            parts.append(item)
            if n == gapAfter { parts.append("...") }
        }
        if last { return "[" + parts.joined(separator: ", ") + "]" }
        let separator = "," + String(repeating: "\n", count: shape.count - depth - 1)
            + String(repeating: " ", count: depth + 8)
        return "[" + parts.joined(separator: separator) + "]"
    }
}
