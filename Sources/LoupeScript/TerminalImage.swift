import Foundation
import LoupeTensor

/// Inline image previews for terminals: 24-bit colour half-block characters (two pixel rows
/// per text row), nearest-neighbour scaled to fit a width.
public enum TerminalImage {
    /// The inline image protocols a terminal may support.
    public enum GraphicsProtocol: Equatable { case kitty, iterm2, halfBlocks }

    /// The protocol the terminal says it supports, from its environment variables.
    public static func detect(_ env: [String: String] = ProcessInfo.processInfo.environment) -> GraphicsProtocol {
        if env["KITTY_WINDOW_ID"] != nil || env["TERM"] == "xterm-kitty" || env["TERM_PROGRAM"] == "WezTerm" { return .kitty }
        if env["TERM_PROGRAM"] == "iTerm.app" || env["LC_TERMINAL"] == "iTerm2" { return .iterm2 }
        return .halfBlocks
    }

    /// The escape sequence (or half-block text) showing an image, given its PNG encoding.
    public static func render(_ image: Tensor, png: [UInt8], protocol kind: GraphicsProtocol) -> String {
        let data = Data(png).base64EncodedString()
        switch kind {
        case .kitty:
            // Chunks of at most 4096 base64 bytes; m=1 on all but the last.
            var out = ""
            var chunks: [Substring] = []
            var rest = Substring(data)
            while !rest.isEmpty { chunks.append(rest.prefix(4096)); rest = rest.dropFirst(4096) }
            for (k, chunk) in chunks.enumerated() {
                let more = k < chunks.count - 1 ? 1 : 0
                let head = k == 0 ? "a=T,f=100,m=\(more)" : "m=\(more)"
                out += "\u{1B}_G\(head);\(chunk)\u{1B}\\"
            }
            return out + "\n"
        case .iterm2:
            return "\u{1B}]1337;File=inline=1;size=\(png.count);preserveAspectRatio=1:\(data)\u{07}\n"
        case .halfBlocks:
            return halfBlocks(image)
        }
    }

    /// Renders a [C, H, W] (C = 1 or 3+) or [H, W] image with values in [0, 1].
    public static func halfBlocks(_ image: Tensor, maxColumns: Int = 64) -> String {
        let t = image.rank == 2 ? image.withLeadingAxis() : image
        guard t.rank == 3, t.shape[1] > 0, t.shape[2] > 0 else { return "" }
        let c = t.shape[0], h = t.shape[1], w = t.shape[2]
        let scale = max(1.0, Double(w) / Double(maxColumns))
        let cols = max(1, Int(Double(w) / scale)), rows = max(1, Int(Double(h) / scale))
        let values = t.contiguous().scalars
        func pixel(_ y: Int, _ x: Int) -> (Int, Int, Int) {
            let sy = min(h - 1, Int(Double(y) * scale)), sx = min(w - 1, Int(Double(x) * scale))
            func v(_ ch: Int) -> Int {
                let f = values[(min(ch, c - 1) * h + sy) * w + sx]
                return f.isNaN ? 0 : Int((min(max(f, 0), 1) * 255).rounded())
            }
            return c >= 3 ? (v(0), v(1), v(2)) : (v(0), v(0), v(0))
        }
        var out = ""
        var y = 0
        while y < rows {
            for x in 0..<cols {
                let top = pixel(y, x)
                let bottom = y + 1 < rows ? pixel(y + 1, x) : (0, 0, 0)
                out += "\u{1B}[38;2;\(top.0);\(top.1);\(top.2)m\u{1B}[48;2;\(bottom.0);\(bottom.1);\(bottom.2)m▀"
            }
            out += "\u{1B}[0m\n"
            y += 2
        }
        return out
    }
}

extension Tensor {
    fileprivate func withLeadingAxis() -> Tensor { (try? reshaped([1] + shape)) ?? self }
}
