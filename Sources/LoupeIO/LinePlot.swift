import Foundation
import LoupeTensor

/// Line charts rasterised in pure Swift: one or more panels side by side, each with axes, tick
/// labels (5x7 bitmap font), a legend and one polyline per series. Point i of a series is drawn
/// at x = i + 1 (epochs). Non-finite values are skipped and break the line.
///
/// Geometry of a panel (pixels, origin top-left): the plot area spans columns
/// `marginLeft ..< panelWidth - marginRight` and rows `marginTop ..< panelHeight - marginBottom`
/// (plus `titleHeight` rows above every panel when the chart has a title). Value v maps to row
/// `bottom - round((v - lo) / (hi - lo) * (bottom - top))` where `bottom` / `top` are the last / first
/// rows of the plot area and [lo, hi] the y range extended to "nice" tick steps (1, 2, 5 x 10^k).
public struct LinePlot {
    /// One named line.
    public struct Series {
        public var name: String
        public var values: [Float]
        public init(name: String, values: [Float]) {
            self.name = name
            self.values = values
        }
    }

    /// One set of axes.
    public struct Panel {
        public var title: String
        public var ylabel: String
        public var series: [Series]
        public init(title: String = "", ylabel: String = "", series: [Series]) {
            self.title = title
            self.ylabel = ylabel
            self.series = series
        }
    }

    public var panels: [Panel]
    public var title: String
    public var xlabel: String
    public var panelWidth = 480
    public var panelHeight = 320
    public static let marginLeft = 60, marginRight = 16, marginTop = 24, marginBottom = 36
    public static let titleHeight = 16

    /// Line colours (matplotlib's tab10), as RGB in [0, 1].
    public static let palette: [(Float, Float, Float)] = {
        let hex: [Int] = [0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf]
        return hex.map { (v: Int) -> (Float, Float, Float) in
            let r = Float((v >> 16) & 255) / 255, g = Float((v >> 8) & 255) / 255, b = Float(v & 255) / 255
            return (r, g, b)
        }
    }()

    public init(panels: [Panel], title: String = "", xlabel: String = "epoch") {
        self.panels = panels
        self.title = title
        self.xlabel = xlabel
    }

    /// The y range of a panel extended to nice ticks, and the tick step.
    public static func yRange(_ values: [Float]) -> (lo: Double, hi: Double, step: Double) {
        let finite = values.filter(\.isFinite).map(Double.init)
        var lo = finite.min() ?? 0, hi = finite.max() ?? 1
        if hi - lo < 1e-12 * max(1, abs(hi)) {
            let pad = lo == 0 ? 1 : abs(lo) * 0.1
            lo -= pad
            hi += pad
        }
        let step = niceStep((hi - lo) / 5)
        return ((lo / step).rounded(.down) * step, (hi / step).rounded(.up) * step, step)
    }

    /// The smallest of 1, 2, 5 x 10^k at least `raw`.
    public static func niceStep(_ raw: Double) -> Double {
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let normalized = raw / magnitude
        let factor: Double = normalized <= 1 + 1e-9 ? 1 : normalized <= 2 + 1e-9 ? 2 : normalized <= 5 + 1e-9 ? 5 : 10
        return factor * magnitude
    }

    /// A tick label: as many decimals as the step needs, exponent form for very large or small numbers.
    public static func label(_ value: Double, step: Double) -> String {
        if abs(value) < step * 1e-6 { return "0" }
        if abs(value) >= 1e6 || step < 1e-4 {
            return String(format: "%.1e", value)
        }
        let decimals = max(0, Int((-log10(step)).rounded(.up) + 1e-9))
        return String(format: "%.\(min(decimals, 6))f", value)
    }

    /// Checks the panels (each non-empty, series non-empty, of one length, with a finite value).
    public func validate() throws {
        guard !panels.isEmpty else { throw LoupeError("plot: nothing to draw") }
        for panel in panels {
            let whereText = panel.title.isEmpty ? "" : " in panel '\(panel.title)'"
            guard let first = panel.series.first else { throw LoupeError("plot: no series\(whereText)") }
            for series in panel.series {
                let name = series.name.isEmpty ? "the series" : "series '\(series.name)'"
                guard !series.values.isEmpty else { throw LoupeError("plot: \(name)\(whereText) is empty") }
                guard series.values.count == first.values.count else {
                    throw LoupeError("plot: \(name)\(whereText) has \(series.values.count) points but '\(first.name)' has \(first.values.count); series drawn together need the same length")
                }
                guard series.values.contains(where: \.isFinite) else {
                    throw LoupeError("plot: \(name)\(whereText) has no finite value")
                }
            }
        }
    }

    /// Draws the chart as a [3, H, W] image in [0, 1].
    public func render() throws -> Tensor {
        try validate()
        let top = title.isEmpty ? 0 : LinePlot.titleHeight
        var canvas = Canvas(width: panelWidth * panels.count, height: panelHeight + top)
        if !title.isEmpty {
            canvas.text(title, x: (canvas.width - BitmapFont.width(of: title)) / 2, y: 5, color: (0, 0, 0))
        }
        for (index, panel) in panels.enumerated() {
            draw(panel, on: &canvas, left: index * panelWidth, top: top)
        }
        return try Tensor(shape: [3, canvas.height, canvas.width], scalars: canvas.pixels)
    }

    private func draw(_ panel: Panel, on canvas: inout Canvas, left: Int, top: Int) {
        let x0 = left + LinePlot.marginLeft, x1 = left + panelWidth - LinePlot.marginRight - 1
        let y0 = top + LinePlot.marginTop, y1 = top + panelHeight - LinePlot.marginBottom - 1
        let black: (Float, Float, Float) = (0, 0, 0), grid: (Float, Float, Float) = (0.9, 0.9, 0.9)
        let count = panel.series[0].values.count
        let (lo, hi, step) = LinePlot.yRange(panel.series.flatMap(\.values))
        func row(_ v: Double) -> Int { y1 - Int(((v - lo) / (hi - lo) * Double(y1 - y0)).rounded()) }
        let xLo = count == 1 ? 0.0 : 1.0, xHi = count == 1 ? 2.0 : Double(count)
        func column(_ x: Double) -> Int { x0 + Int(((x - xLo) / (xHi - xLo) * Double(x1 - x0)).rounded()) }

        // Y grid, ticks and labels.
        var tick = lo
        while tick <= hi + step * 1e-6 {
            let y = row(tick)
            canvas.line(x0 + 1, y, x1, y, color: grid)
            canvas.line(x0 - 4, y, x0 - 1, y, color: black)
            let text = LinePlot.label(tick, step: step)
            canvas.text(text, x: x0 - 7 - BitmapFont.width(of: text), y: y - 3, color: black)
            tick += step
        }
        // X ticks at integer steps.
        let xStep = max(1, LinePlot.niceStep(max(1e-9, (xHi - xLo) / 8)))
        var xt = (xLo / xStep).rounded(.up) * xStep
        while xt <= xHi + 1e-9 {
            let x = column(xt)
            canvas.line(x, y1 + 1, x, y1 + 4, color: black)
            let text = LinePlot.label(xt, step: xStep)
            canvas.text(text, x: x - BitmapFont.width(of: text) / 2, y: y1 + 7, color: black)
            xt += xStep
        }
        // Axes (drawn after the grid so they stay black).
        canvas.line(x0, y0, x0, y1, color: black)
        canvas.line(x0, y1, x1, y1, color: black)
        canvas.text(xlabel, x: (x0 + x1 - BitmapFont.width(of: xlabel)) / 2, y: y1 + 19, color: black)
        canvas.text(panel.ylabel, x: left + 4, y: top + 6, color: black)
        if !panel.title.isEmpty {
            canvas.text(panel.title, x: (x0 + x1 - BitmapFont.width(of: panel.title)) / 2, y: top + 6, color: black)
        }

        // Lines; non-finite points are skipped and break the line. A lone point gets a marker.
        for (index, series) in panel.series.enumerated() {
            let color = LinePlot.palette[index % LinePlot.palette.count]
            var previous: (Int, Int)?
            for (i, value) in series.values.enumerated() {
                guard value.isFinite else { previous = nil; continue }
                let point = (column(Double(i + 1)), row(Double(value)))
                if let previous {
                    canvas.line(previous.0, previous.1, point.0, point.1, color: color, thick: true)
                } else {
                    let isolated = i + 1 >= series.values.count || !series.values[i + 1].isFinite
                    if isolated { canvas.fill(point.0 - 1, point.1 - 1, 3, 3, color: color) }
                }
                previous = point
            }
        }

        // Legend in the top-right corner when any series has a name.
        let named = panel.series.enumerated().filter { !$0.element.name.isEmpty }
        guard !named.isEmpty else { return }
        let textWidth = named.map { BitmapFont.width(of: $0.element.name) }.max() ?? 0
        let boxWidth = 8 + 14 + 4 + textWidth, boxHeight = 6 + 11 * named.count
        let bx = x1 - 6 - boxWidth, by = y0 + 6
        canvas.fill(bx, by, boxWidth, boxHeight, color: (1, 1, 1))
        canvas.rectangle(bx, by, boxWidth, boxHeight, color: (0.6, 0.6, 0.6))
        for (k, (index, series)) in named.enumerated() {
            let color = LinePlot.palette[index % LinePlot.palette.count]
            let y = by + 4 + 11 * k
            canvas.fill(bx + 6, y + 2, 14, 3, color: color)
            canvas.text(series.name, x: bx + 6 + 14 + 4, y: y, color: (0, 0, 0))
        }
    }
}

/// An RGB raster in planar layout (all red, then green, then blue), white initially.
struct Canvas {
    let width: Int
    let height: Int
    var pixels: [Float]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [Float](repeating: 1, count: 3 * width * height)
    }

    mutating func set(_ x: Int, _ y: Int, _ color: (Float, Float, Float)) {
        guard x >= 0, x < width, y >= 0, y < height else { return }
        let plane = width * height, i = y * width + x
        pixels[i] = color.0
        pixels[plane + i] = color.1
        pixels[2 * plane + i] = color.2
    }

    mutating func fill(_ x: Int, _ y: Int, _ w: Int, _ h: Int, color: (Float, Float, Float)) {
        guard w > 0, h > 0 else { return }
        for yy in y..<(y + h) { for xx in x..<(x + w) { set(xx, yy, color) } }
    }

    mutating func rectangle(_ x: Int, _ y: Int, _ w: Int, _ h: Int, color: (Float, Float, Float)) {
        line(x, y, x + w - 1, y, color: color)
        line(x, y + h - 1, x + w - 1, y + h - 1, color: color)
        line(x, y, x, y + h - 1, color: color)
        line(x + w - 1, y, x + w - 1, y + h - 1, color: color)
    }

    /// Bresenham's line; `thick` also sets the pixel below (or right of, for steep lines) each point.
    mutating func line(_ xa: Int, _ ya: Int, _ xb: Int, _ yb: Int, color: (Float, Float, Float), thick: Bool = false) {
        var x = xa, y = ya
        let dx = abs(xb - xa), dy = -abs(yb - ya)
        let sx = xa < xb ? 1 : -1, sy = ya < yb ? 1 : -1
        let steep = -dy > dx
        var error = dx + dy
        while true {
            set(x, y, color)
            if thick { steep ? set(x + 1, y, color) : set(x, y + 1, color) }
            if x == xb && y == yb { break }
            let e2 = 2 * error
            if e2 >= dy { error += dy; x += sx }
            if e2 <= dx { error += dx; y += sy }
        }
    }

    mutating func text(_ string: String, x: Int, y: Int, color: (Float, Float, Float)) {
        var cx = x
        for character in string {
            let rows = BitmapFont.glyph(character)
            for (r, bits) in rows.enumerated() {
                for c in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - c)) != 0 {
                    set(cx + c, y + r, color)
                }
            }
            cx += BitmapFont.advance
        }
    }
}
