import CPNG
import Foundation
import LoupeTensor

/// Reading and writing PNG images as float32 tensors [C, H, W] with values in [0, 1].
///
/// Decoding goes through libpng inside the C target CPNG, which catches libpng's longjmp errors
/// and returns them as messages; every failure becomes a `LoupeError` naming the file.
public enum PNG {
    /// Images with more pixels than this are refused before any pixel memory is allocated.
    public static let maximumPixels: UInt64 = 1 << 28

    /// The header of a PNG file.
    public struct Header: Equatable, Sendable {
        public var width: Int
        public var height: Int
        /// Bits per sample in the file: 1, 2, 4, 8 or 16.
        public var bitDepth: Int
        /// PNG colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA.
        public var colorType: Int
    }

    /// Reads the PNG file at `path` as [C, H, W] in [0, 1]: C is 1 (gray), 2 (gray+alpha),
    /// 3 (RGB) or 4 (RGBA); palettes become RGB, or RGBA when they carry transparency (tRNS).
    /// With `dropAlpha`, the alpha channel is removed (2 -> 1, 4 -> 3 channels).
    public static func read(path: String, dropAlpha: Bool = false) throws -> Tensor {
        let bytes = try FileIO.readAll(path, op: "png.read")
        return try bytes.withUnsafeBytes { try decode($0, dropAlpha: dropAlpha, source: path) }
    }

    /// Decodes PNG bytes held in memory (see `read(path:dropAlpha:)`).
    /// `source` names the data in error messages.
    public static func decode(_ data: Data, dropAlpha: Bool = false, source: String = "<memory>") throws -> Tensor {
        try data.withUnsafeBytes { try decode($0, dropAlpha: dropAlpha, source: source) }
    }

    /// Decodes PNG bytes held in memory (see `read(path:dropAlpha:)`).
    public static func decode(_ bytes: UnsafeRawBufferPointer, dropAlpha: Bool = false,
                              source: String = "<memory>") throws -> Tensor {
        var image = loupe_png_image()
        var message = [CChar](repeating: 0, count: 256)
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        let status = withUnsafeBytes(of: 0 as UInt64) { zero -> Int32 in
            let start = base ?? zero.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return loupe_png_decode(start, bytes.count, maximumPixels, &image, &message, message.count)
        }
        guard status == 0, let pixels = image.pixels else {
            throw LoupeError("png.read: '\(source)': \(String(cString: message))")
        }
        defer { loupe_png_free(pixels) }
        let height = Int(image.height), width = Int(image.width)
        var channels = Int(image.channels)
        if dropAlpha && (channels == 2 || channels == 4) { channels -= 1 }
        let count = channels * height * width
        let storage = TensorStorage(copying: pixels, count: count)
        return Tensor(storage: storage, shape: [channels, height, width])
    }

    /// Reads only the header of PNG bytes.
    public static func header(of data: Data, source: String = "<memory>") throws -> Header {
        var image = loupe_png_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { raw -> Int32 in
            guard let base = raw.baseAddress else {
                return loupe_png_read_header(nil, 0, &image, &message, message.count)
            }
            return loupe_png_read_header(base.assumingMemoryBound(to: UInt8.self), raw.count, &image, &message,
                                         message.count)
        }
        guard status == 0 else { throw LoupeError("png.header: '\(source)': \(String(cString: message))") }
        return Header(width: Int(image.width), height: Int(image.height), bitDepth: Int(image.bit_depth),
                      colorType: Int(image.color_type))
    }

    /// Encodes a [C, H, W] (C = 1, 2, 3 or 4) or [H, W] tensor as PNG bytes. Values are clamped to
    /// [0, 1] (NaN becomes 0) and quantised to 8 or 16 bits (`bitDepth`).
    public static func encode(_ image: Tensor, bitDepth: Int = 8, compressionLevel: Int = 6) throws -> Data {
        let (channels, height, width) = try layout(of: image, op: "png.encode")
        guard bitDepth == 8 || bitDepth == 16 else {
            throw LoupeError("png.encode: bit depth \(bitDepth) is not supported (use 8 or 16)")
        }
        var message = [CChar](repeating: 0, count: 256)
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = image.withContiguousPointer { pointer in
            loupe_png_encode(pointer, Int32(channels), Int32(width), Int32(height), Int32(bitDepth),
                             Int32(compressionLevel), &output, &size, &message, message.count)
        }
        guard status == 0, let output else {
            throw LoupeError("png.encode: image of shape \(describe(shape: image.shape)): \(String(cString: message))")
        }
        defer { loupe_png_free(output) }
        return Data(bytes: output, count: size)
    }

    /// Writes `image` ([C, H, W] or [H, W]) as a PNG file atomically (temporary file in the same
    /// directory, fsync, rename). See `encode(_:bitDepth:compressionLevel:)`.
    public static func write(_ image: Tensor, to path: String, bitDepth: Int = 8) throws {
        let data: Data
        do {
            data = try encode(image, bitDepth: bitDepth)
        } catch let error as LoupeError {
            throw LoupeError("png.write: '\(path)': " + error.message)
        }
        try data.withUnsafeBytes { try FileIO.writeAtomically($0, to: path, op: "png.write") }
    }

    static func layout(of image: Tensor, op: String) throws -> (Int, Int, Int) {
        let shape = image.shape
        let channels: Int, height: Int, width: Int
        switch shape.count {
        case 2: (channels, height, width) = (1, shape[0], shape[1])
        case 3: (channels, height, width) = (shape[0], shape[1], shape[2])
        default:
            throw LoupeError("\(op): expected an image of shape [C, H, W] or [H, W], got \(describe(shape: shape))")
        }
        guard (1...4).contains(channels) else {
            throw LoupeError("\(op): expected 1, 2, 3 or 4 channels, got shape \(describe(shape: shape))")
        }
        guard height >= 1, width >= 1, height <= Int(Int32.max), width <= Int(Int32.max),
              UInt64(height) * UInt64(width) <= maximumPixels else {
            throw LoupeError("\(op): image of shape \(describe(shape: shape)) has an unsupported size")
        }
        return (channels, height, width)
    }
}
