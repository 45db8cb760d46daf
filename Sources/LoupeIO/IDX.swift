import LoupeTensor

/// The IDX format of MNIST-style data sets (optionally gzipped): 2 zero bytes, a type code
/// (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), the number of dimensions, one
/// big-endian UInt32 per dimension, then the big-endian values.
public enum IDX {
    /// Reads an IDX file (gzipped when it starts with the gzip magic) as a float32 tensor of its
    /// dimensions, values unchanged.
    public static func read(path: String) throws -> Tensor {
        try decode(try load(path), source: path)
    }

    /// Reads an IDX image file of unsigned bytes [N, H, W] as [N, 1, H, W] in [0, 1].
    public static func readImages(path: String) throws -> Tensor {
        try decodeImages(try load(path), source: path)
    }

    /// Reads an IDX label file of unsigned bytes [N] as float class indices [N].
    public static func readLabels(path: String) throws -> Tensor {
        try decodeLabels(try load(path), source: path)
    }

    /// The file's bytes, decompressed when gzipped.
    static func load(_ path: String) throws -> [UInt8] {
        let raw = try FileIO.readAll(path, op: "idx")
        return Gzip.isGzip(raw) ? try Gzip.decompress(raw, source: path) : raw
    }

    struct Parsed {
        var type: UInt8
        var dimensions: [Int]
        var dataStart: Int
    }

    static func parse(_ bytes: [UInt8], source: String) throws -> Parsed {
        func fail(_ text: String) -> LoupeError { LoupeError("idx: '\(source)': \(text)") }
        guard bytes.count >= 4 else { throw fail("file of \(bytes.count) bytes is too short for the magic number") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw fail("bad magic number (first two bytes must be zero; is this an IDX file?)")
        }
        let type = bytes[2]
        guard let size = elementSize(type) else {
            throw fail("unknown element type code 0x\(String(type, radix: 16))")
        }
        let rank = Int(bytes[3])
        guard rank >= 1 else { throw fail("zero dimensions") }
        let dataStart = 4 + 4 * rank
        guard bytes.count >= dataStart else { throw fail("file is truncated inside the dimensions") }
        var dimensions: [Int] = []
        var count = 1
        for axis in 0..<rank {
            let o = 4 + 4 * axis
            let d = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dimensions.append(d)
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, product <= 1 << 40 else { throw fail("dimensions \(describe(shape: dimensions)) are too large") }
            count = product
        }
        let expected = count * size
        guard bytes.count - dataStart == expected else {
            throw fail("dimensions \(describe(shape: dimensions)) need \(expected) data bytes, file has \(bytes.count - dataStart)")
        }
        return Parsed(type: type, dimensions: dimensions, dataStart: dataStart)
    }

    static func elementSize(_ type: UInt8) -> Int? {
        switch type {
        case 0x08, 0x09: return 1
        case 0x0B: return 2
        case 0x0C, 0x0D: return 4
        case 0x0E: return 8
        default: return nil
        }
    }

    /// Decodes decompressed IDX bytes (any element type) to float32.
    public static func decode(_ bytes: [UInt8], source: String = "<memory>") throws -> Tensor {
        let parsed = try parse(bytes, source: source)
        let result = Tensor.uninitialized(parsed.dimensions)
        let d = result.storage.pointer
        bytes.withUnsafeBytes { raw in
            let s = raw.baseAddress! + parsed.dataStart
            for i in 0..<result.count {
                switch parsed.type {
                case 0x08: d[i] = Float(s.load(fromByteOffset: i, as: UInt8.self))
                case 0x09: d[i] = Float(Int8(bitPattern: s.load(fromByteOffset: i, as: UInt8.self)))
                case 0x0B: d[i] = Float(Int16(bigEndian: s.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
                case 0x0C: d[i] = Float(Int32(bigEndian: s.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
                case 0x0D: d[i] = Float(bitPattern: UInt32(bigEndian: s.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                default: d[i] = Float(Double(bitPattern: UInt64(bigEndian: s.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                }
            }
        }
        return result
    }

    /// Decodes an image file's bytes: unsigned bytes [N, H, W] -> [N, 1, H, W] in [0, 1].
    public static func decodeImages(_ bytes: [UInt8], source: String = "<memory>") throws -> Tensor {
        let parsed = try parse(bytes, source: source)
        guard parsed.type == 0x08, parsed.dimensions.count == 3 else {
            throw LoupeError("idx: '\(source)': expected unsigned-byte images [N, H, W] (magic 0x00000803), got type 0x\(String(parsed.type, radix: 16)) with dimensions \(describe(shape: parsed.dimensions))")
        }
        let dims = parsed.dimensions
        let result = Tensor.uninitialized([dims[0], 1, dims[1], dims[2]])
        let d = result.storage.pointer
        let count = result.count
        // v / 255 exactly as PyTorch's ToTensor computes it, through a table.
        let table = (0..<256).map { Float($0) / 255 }
        bytes.withUnsafeBufferPointer { buffer in
            table.withUnsafeBufferPointer { t in
                let s = buffer.baseAddress! + parsed.dataStart
                for i in 0..<count { d[i] = t[Int(s[i])] }
            }
        }
        return result
    }

    /// Decodes a label file's bytes: unsigned bytes [N] -> float class indices [N].
    public static func decodeLabels(_ bytes: [UInt8], source: String = "<memory>") throws -> Tensor {
        let parsed = try parse(bytes, source: source)
        guard parsed.type == 0x08, parsed.dimensions.count == 1 else {
            throw LoupeError("idx: '\(source)': expected unsigned-byte labels [N] (magic 0x00000801), got type 0x\(String(parsed.type, radix: 16)) with dimensions \(describe(shape: parsed.dimensions))")
        }
        return try decode(bytes, source: source)
    }
}
