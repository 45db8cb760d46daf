import Foundation
import LoupeTensor

/// A box to draw on an image: its corners in pixels, DETR/COCO style (`x1`, `y1` one past the
/// last column and row of an integer box), an optional caption and an RGB colour in [0, 1].
public struct BoxAnnotation: Equatable, Sendable {
    public var x0: Float
    public var y0: Float
    public var x1: Float
    public var y1: Float
    /// Text written on a strip above the box (inside it at the image's top edge); nil for none.
    public var caption: String?
    public var color: SIMD3<Float>

    /// Creates an annotation of the box `[x0, y0, x1, y1]`.
    public init(x0: Float, y0: Float, x1: Float, y1: Float, caption: String? = nil, color: SIMD3<Float>) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
        self.caption = caption
        self.color = color
    }

    /// The caption of a detection: "name 0.93" (the score with two decimals), either part alone
    /// when the other is missing, nil when both are.
    public static func caption(name: String?, score: Float?) -> String? {
        let parts = [name, score.map { String(format: "%.2f", Double($0)) }].compactMap { $0 }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }
}

extension Images {
    /// The colours of boxes by class: matplotlib's tab10, then ten lighter companions (tab20's
    /// second shades); class `k` takes entry `k % 20`.
    public static let boxPalette: [SIMD3<Float>] = {
        let bytes: [(Float, Float, Float)] = [
            (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
            (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
            (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
        ]
        return bytes.map { SIMD3($0.0, $0.1, $0.2) / 255 }
    }()

    /// The palette colour of class (or index) `k`; negative `k` wraps too.
    public static func boxColor(_ k: Int) -> SIMD3<Float> {
        let n = boxPalette.count
        return boxPalette[((k % n) + n) % n]
    }

    /// The height of a caption strip: the font's glyph height and a pixel above and below.
    public static let captionHeight = BitmapFont.glyphHeight + 2

    /// Draws `boxes` on a copy of `image` ([C, H, W] with C = 1 or 3, or [H, W]; gray images
    /// become RGB) and returns it [3, H, W].
    ///
    /// Each box is outlined by a rectangle `lineWidth` pixels wide (default: 1 for images
    /// smaller than 64 pixels on a side, else 2) drawn inside the box's pixels: columns
    /// `round(x0)` to `round(x1) - 1` and rows `round(y0)` to `round(y1) - 1` (at least one of
    /// each). Then each caption is written in `BitmapFont` on a strip of the box's colour, above
    /// the box or, when there is no room above, inside its top. Text is black on light colours and
    /// white on dark ones. Whatever falls outside the image is clipped; a box entirely outside
    /// draws nothing.
    public static func drawBoxes(_ boxes: [BoxAnnotation], on image: Tensor, lineWidth: Int? = nil) throws -> Tensor {
        let channels: Int, h: Int, w: Int
        switch image.rank {
        case 2: (channels, h, w) = (1, image.shape[0], image.shape[1])
        case 3: (channels, h, w) = (image.shape[0], image.shape[1], image.shape[2])
        default:
            throw LoupeError("drawBoxes: expected an image [C, H, W] or [H, W], got shape \(describe(shape: image.shape))")
        }
        guard channels == 1 || channels == 3 else {
            throw LoupeError("drawBoxes: expected a gray or RGB image (1 or 3 channels), got shape \(describe(shape: image.shape))")
        }
        if let lineWidth, lineWidth < 1 {
            throw LoupeError("drawBoxes: line width must be positive, got \(lineWidth)")
        }
        for (k, box) in boxes.enumerated() {
            let corners = [box.x0, box.y0, box.x1, box.y1]
            guard corners.allSatisfy(\.isFinite) else {
                throw LoupeError("drawBoxes: box \(k) has non-finite corners \(corners)")
            }
            guard box.x1 >= box.x0, box.y1 >= box.y0 else {
                throw LoupeError("drawBoxes: box \(k) \(corners) has x1 < x0 or y1 < y0")
            }
            guard [box.color.x, box.color.y, box.color.z].allSatisfy({ $0.isFinite }) else {
                throw LoupeError("drawBoxes: box \(k) has a non-finite colour")
            }
        }
        let canvas = BoxCanvas(width: w, height: h)
        image.withContiguousPointer { source in
            for c in 0..<3 {
                (canvas.pixels + c * h * w).update(from: source + (channels == 1 ? 0 : c) * h * w, count: h * w)
            }
        }
        let width = lineWidth ?? (min(h, w) < 64 ? 1 : 2)
        let rectangles = boxes.map { box -> (left: Int, top: Int, right: Int, bottom: Int) in
            // Corners far outside the image are clamped before conversion (drawing is clipped anyway).
            func pixel(_ v: Float) -> Int { Int(min(max(v, -1e7), 1e7).rounded()) }
            let left = pixel(box.x0), top = pixel(box.y0)
            return (left, top, max(left, pixel(box.x1) - 1), max(top, pixel(box.y1) - 1))
        }
        for (box, r) in zip(boxes, rectangles) {
            for t in 0..<width where r.left + t <= r.right - t && r.top + t <= r.bottom - t {
                canvas.fill(r.left + t, r.top + t, r.right - t, r.top + t, box.color)
                canvas.fill(r.left + t, r.bottom - t, r.right - t, r.bottom - t, box.color)
                canvas.fill(r.left + t, r.top + t, r.left + t, r.bottom - t, box.color)
                canvas.fill(r.right - t, r.top + t, r.right - t, r.bottom - t, box.color)
            }
        }
        for (box, r) in zip(boxes, rectangles) {
            guard let caption = box.caption, !caption.isEmpty,
                  r.right >= 0, r.left < w, r.bottom >= 0, r.top < h else { continue }
            let stripWidth = BitmapFont.width(of: caption) + 2
            let stripTop = r.top - captionHeight >= 0 ? r.top - captionHeight : max(r.top, 0)
            let stripLeft = max(0, min(r.left, w - stripWidth))
            canvas.fill(stripLeft, stripTop, stripLeft + stripWidth - 1, stripTop + captionHeight - 1, box.color)
            let luminance = 0.299 * box.color.x + 0.587 * box.color.y + 0.114 * box.color.z
            canvas.text(caption, x: stripLeft + 1, y: stripTop + 1, color: luminance > 0.5 ? SIMD3(0, 0, 0) : SIMD3(1, 1, 1))
        }
        return canvas.tensor()
    }
}

/// A planar RGB raster being drawn on; writes outside it are dropped.
private struct BoxCanvas {
    let width: Int
    let height: Int
    let storage: TensorStorage
    var pixels: UnsafeMutablePointer<Float> { storage.pointer }

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        storage = TensorStorage(uninitializedCount: 3 * width * height)
    }

    /// Fills the rectangle of columns `x0...x1` and rows `y0...y1`, clipped to the raster.
    func fill(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ color: SIMD3<Float>) {
        let left = max(x0, 0), right = min(x1, width - 1), top = max(y0, 0), bottom = min(y1, height - 1)
        guard left <= right, top <= bottom else { return }
        let plane = width * height
        for y in top...bottom {
            let row = pixels + y * width
            for x in left...right {
                row[x] = color.x
                row[plane + x] = color.y
                row[2 * plane + x] = color.z
            }
        }
    }

    /// Writes `text` in `BitmapFont` with its top-left corner at (`x`, `y`), clipped.
    func text(_ text: String, x: Int, y: Int, color: SIMD3<Float>) {
        var cx = x
        for character in text {
            if cx >= width { break }
            for (r, bits) in BitmapFont.glyph(character).enumerated() {
                for c in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - c)) != 0 {
                    fill(cx + c, y + r, cx + c, y + r, color)
                }
            }
            cx += BitmapFont.advance
        }
    }

    func tensor() -> Tensor { Tensor(storage: storage, shape: [3, height, width]) }
}
