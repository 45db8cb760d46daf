import Foundation
import LoupeIO

/// A self-contained HTML notebook page: each cell's highlighted code, its text output and its
/// images (PNG, base64-embedded), in order.
public enum NotebookHTML {
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "&": out += "&amp;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    /// Syntax highlighting: keywords, strings, numbers and comments wrapped in spans.
    public static func highlight(_ code: String) -> String {
        var out = ""
        let chars = Array(code)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "#" {
                var j = i
                while j < chars.count && chars[j] != "\n" { j += 1 }
                out += "<span class=c>" + escape(String(chars[i..<j])) + "</span>"
                i = j
            } else if c == "\"" {
                var j = i + 1
                while j < chars.count && chars[j] != "\"" && chars[j] != "\n" { j += chars[j] == "\\" ? 2 : 1 }
                j = min(j + 1, chars.count)
                out += "<span class=s>" + escape(String(chars[i..<j])) + "</span>"
                i = j
            } else if c.isLetter || c == "_" {
                var j = i
                while j < chars.count && (chars[j].isLetter || chars[j].isNumber || chars[j] == "_") { j += 1 }
                let word = String(chars[i..<j])
                out += keywords.contains(word) ? "<span class=k>\(word)</span>" : escape(word)
                i = j
            } else if c.isNumber {
                var j = i
                while j < chars.count && (chars[j].isNumber || chars[j] == "." || chars[j] == "_") { j += 1 }
                out += "<span class=n>" + String(chars[i..<j]) + "</span>"
                i = j
            } else {
                out += escape(String(c))
                i += 1
            }
        }
        return out
    }

    /// The page for cells with their outputs and, per cell, PNG images; `titles` (one per cell,
    /// may be empty) head the cells. Each output follows its own cell's code. Images narrower
    /// than `minimumImageWidth` are drawn enlarged by a whole factor with nearest-neighbour
    /// sampling (a 28x28 image at 112 px), and every image is titled with its shape [C, H, W].
    public static func render(title: String, cells: [Cell], images: [[[UInt8]]], failure: String?,
                              titles: [String] = []) -> String {
        var html = """
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body{font-family:system-ui,sans-serif;max-width:960px;margin:2em auto;color:#222}
        .cell{margin:1em 0;border-left:3px solid #ccd;padding-left:1em}
        h2{font-size:1.1em;margin:.2em 0}
        .n{color:#075}.k{color:#a0a;font-weight:bold}.s{color:#b50}.c{color:#888}
        pre{margin:.3em 0;white-space:pre-wrap}pre.code{background:#f6f6fa;padding:.5em}
        pre.out{color:#333}pre.err{color:#b00}.label{color:#99a;font-size:.8em}
        figure{display:inline-block;margin:.3em .6em .3em 0}figcaption{color:#667;font-size:.8em}
        img{image-rendering:pixelated;max-width:100%;border:1px solid #ddd}
        </style></head><body>
        <h1>\(escape(title))</h1>

        """
        for (k, cell) in cells.enumerated() {
            html += "<div class=cell id=\"cell-\(cell.number)\"><div class=label>[\(cell.number)]</div>\n"
            if k < titles.count, !titles[k].isEmpty { html += "<h2>\(escape(titles[k]))</h2>\n" }
            if !cell.code.isEmpty { html += "<pre class=code>\(highlight(cell.code))</pre>\n" }
            if !cell.output.isEmpty {
                html += "<pre class=out>\(escape(cell.output.joined(separator: "\n")))</pre>\n"
            }
            for png in (k < images.count ? images[k] : []) { html += figure(png, cell: cell.number) }
            html += "</div>\n"
        }
        if let failure { html += "<pre class=err>\(escape(failure))</pre>\n" }
        html += "</body></html>\n"
        return html
    }

    /// Images narrower than this are enlarged by a whole factor.
    public static let minimumImageWidth = 112

    /// An image with its shape as caption, enlarged when small.
    static func figure(_ png: [UInt8], cell: Int) -> String {
        let source = "data:image/png;base64,\(Data(png).base64EncodedString())"
        guard let header = try? PNG.header(of: Data(png)) else {
            return "<figure><img alt=\"cell \(cell) image\" src=\"\(source)\"></figure>\n"
        }
        // Colour types: 0 gray, 2 RGB, 3 palette (shown as RGB), 4 gray+alpha, 6 RGBA.
        let channels = [0: 1, 2: 3, 3: 3, 4: 2, 6: 4][header.colorType] ?? 3
        let shape = "[\(channels), \(header.height), \(header.width)]"
        let factor = header.width >= minimumImageWidth ? 1 : (minimumImageWidth + header.width - 1) / max(1, header.width)
        return "<figure><img alt=\"cell \(cell) image \(shape)\" width=\(header.width * factor) height=\(header.height * factor) "
            + "src=\"\(source)\"><figcaption>\(shape)</figcaption></figure>\n"
    }

}
