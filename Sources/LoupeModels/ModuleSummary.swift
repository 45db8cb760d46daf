import LoupeTensor

extension Module {
    /// A table of the tree: one line per module with its path, type and the number of
    /// parameters it owns directly, then the total.
    ///
    ///     patch_embed.proj   Conv2d     9,264
    public var summary: String {
        let rows = namedModules().map { path, module -> (String, String, Int) in
            let own = module.ownParameters.reduce(0) { $0 + $1.parameter.value.count }
            return (path.isEmpty ? "(root)" : path, module.typeName, own)
        }
        let pathWidth = rows.map(\.0.count).max() ?? 0
        let typeWidth = rows.map(\.1.count).max() ?? 0
        func pad(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(0, width - s.count)) }
        var lines = rows.map { path, type, count in
            pad(path, pathWidth) + "  " + pad(type, typeWidth) + "  " + (count > 0 ? Module.grouped(count) : "")
        }
        let buffers = namedBuffers().reduce(0) { $0 + $1.parameter.value.count }
        lines.append("\(Module.grouped(parameterCount)) parameters" + (buffers > 0 ? ", \(Module.grouped(buffers)) buffer values" : ""))
        return lines.map { $0.replacingTrailingSpaces() }.joined(separator: "\n")
    }

    /// 1234567 -> "1,234,567".
    public static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(d)
        }
        return out
    }
}

private extension String {
    func replacingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
