import Foundation
import LoupeTensor

/// How values are shown at the REPL and by `print`.
public enum Display {
    /// Tensors with at most this many elements are printed in full.
    public static let fullTensorLimit = 1000
    /// Lists and records show at most this many items.
    public static let maxItems = 20

    public static func render(_ v: Value) -> String { render(v, nested: false, depth: 0) }

    static func number(_ n: Double) -> String {
        if n.isNaN { return "nan" }
        if n.isInfinite { return n > 0 ? "inf" : "-inf" }
        if n == n.rounded() && abs(n) < 1e15 { return String(Int64(n)) }
        return "\(n)"
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "{": out += "\\{"
            case "}": out += "\\}"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    static func key(_ k: String) -> String {
        let isIdent = !k.isEmpty && (k.first!.isLetter || k.first == "_") && k.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
        return isIdent ? k : quoted(k)
    }

    static func render(_ v: Value, nested: Bool, depth: Int = 0) -> String {
        switch v {
        case .null: return "nil"
        case .bool(let b): return b ? "true" : "false"
        case .number(let n): return number(n)
        case .string(let s): return nested ? quoted(s) : quoted(s)
        case .list(let l):
            if depth > 8 { return "[...]" }
            var parts = l.items.prefix(maxItems).map { render($0, nested: true, depth: depth + 1) }
            if l.items.count > maxItems { parts.append("... (\(l.items.count) items)") }
            let flat = "[" + parts.joined(separator: ", ") + "]"
            if flat.count <= 100 || nested { return flat }
            return "[\n" + parts.map { "  " + $0 }.joined(separator: ",\n") + "\n]"
        case .record(let r):
            if depth > 8 { return "{...}" }
            var parts = r.keys.prefix(maxItems).map { key($0) + ": " + render(r[$0]!, nested: true, depth: depth + 1) }
            if r.count > maxItems { parts.append("... (\(r.count) keys)") }
            let flat = "{" + parts.joined(separator: ", ") + "}"
            if flat.count <= 100 || nested { return flat }
            return "{\n" + parts.map { "  " + $0 }.joined(separator: ",\n") + "\n}"
        case .tensor(let t):
            return nested ? shortTensor(t) : tensor(t)
        case .function(let c):
            let params = c.decl.params.map { $0.defaultValue == nil ? $0.name : $0.name + ": ..." }
            return "<fn \(c.decl.name)(\(params.joined(separator: ", ")))>"
        case .builtin(let b): return "<builtin \(b.signature)>"
        case .boundMethod(let b, let r): return "<method \(b.name) of \(r.typeName)>"
        case .handle(let h): return "<\(h.typeName) \(h.summary)>"
        }
    }

    /// One-line tensor summary used inside lists and records: `tensor[2, 3]`.
    public static func shortTensor(_ t: Tensor) -> String {
        if t.count == 1 && t.rank <= 1 { return TensorFormatter.formatScalar(t.scalars[0]) + (t.rank == 0 ? "" : " [1]") }
        return "tensor\(describe(shape: t.shape))"
    }

    /// Statistics line: shape, mean, std, min, max, NaN/Inf counts.
    public static func statistics(_ t: Tensor) -> String {
        let s = TensorExtras.stats(t)
        var text = "tensor\(describe(shape: t.shape))"
        if s.nan + s.inf < t.count {
            text += " mean=\(fmt(s.mean)) std=\(fmt(s.std)) min=\(fmt(Double(s.min))) max=\(fmt(Double(s.max)))"
        }
        if s.nan > 0 { text += " NaN×\(s.nan)" }
        if s.inf > 0 { text += " Inf×\(s.inf)" }
        if t.requiresGrad { text += " requires_grad" }
        return text
    }

    static func fmt(_ x: Double) -> String {
        if x == x.rounded() && abs(x) < 1e7 { return String(Int64(x)) }
        let m = abs(x)
        if m >= 1e5 || m < 1e-3 { return String(format: "%.3e", x) }
        var s = String(format: "%.4f", x)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    /// Full display: small tensors in full, large ones as statistics plus edge-summarized values.
    public static func tensor(_ t: Tensor) -> String {
        if t.count <= fullTensorLimit {
            var s = TensorFormatter.format(t)
            let stats = TensorExtras.stats(t)
            if stats.nan > 0 { s += " NaN×\(stats.nan)" }
            if stats.inf > 0 { s += " Inf×\(stats.inf)" }
            if t.requiresGrad { s += " requires_grad" }
            return s
        }
        return statistics(t)
    }
}
