import LoupeTensor

/// The element types of the safetensors format, with their byte sizes and conversion to and
/// from float32.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case f8E5M2 = "F8_E5M2"
    case f8E4M3 = "F8_E4M3"
    case i16 = "I16"
    case u16 = "U16"
    case f16 = "F16"
    case bf16 = "BF16"
    case i32 = "I32"
    case u32 = "U32"
    case f32 = "F32"
    case f64 = "F64"
    case i64 = "I64"
    case u64 = "U64"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8E5M2, .f8E4M3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }

    /// Whether the writer can store float32 values in this type.
    public var isWritable: Bool { self == .f32 || self == .f16 || self == .bf16 }

    /// Converts `count` little-endian elements at `source` (any alignment) to float32.
    /// BOOL is 0 or 1 (any non-zero byte is true); integers convert to the nearest float.
    public func convert(from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
        Parallel.forRanges(count, minimum: 1 << 18) { start, end in
            convertRange(from: source, range: start..<end, into: destination)
        }
    }

    private func convertRange(from source: UnsafeRawPointer, range: Range<Int>, into d: UnsafeMutablePointer<Float>) {
        let s = source
        switch self {
        case .f32:
            (UnsafeMutableRawPointer(d) + range.lowerBound * 4)
                .copyMemory(from: s + range.lowerBound * 4, byteCount: range.count * 4)
        case .f16:
            for i in range { d[i] = Float(Float16(bitPattern: UInt16(littleEndian: s.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))) }
        case .bf16:
            for i in range {
                let bits = UInt16(littleEndian: s.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
                d[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .f64:
            for i in range { d[i] = Float(Double(bitPattern: UInt64(littleEndian: s.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))) }
        case .i64:
            for i in range { d[i] = Float(Int64(littleEndian: s.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))) }
        case .u64:
            for i in range { d[i] = Float(UInt64(littleEndian: s.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))) }
        case .i32:
            for i in range { d[i] = Float(Int32(littleEndian: s.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))) }
        case .u32:
            for i in range { d[i] = Float(UInt32(littleEndian: s.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))) }
        case .i16:
            for i in range { d[i] = Float(Int16(littleEndian: s.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))) }
        case .u16:
            for i in range { d[i] = Float(UInt16(littleEndian: s.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))) }
        case .i8:
            for i in range { d[i] = Float(Int8(bitPattern: s.load(fromByteOffset: i, as: UInt8.self))) }
        case .u8:
            for i in range { d[i] = Float(s.load(fromByteOffset: i, as: UInt8.self)) }
        case .bool:
            for i in range { d[i] = s.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0 }
        case .f8E5M2:
            for i in range { d[i] = Float(Float16(bitPattern: UInt16(s.load(fromByteOffset: i, as: UInt8.self)) << 8)) }
        case .f8E4M3:
            for i in range { d[i] = SafeTensorsDType.decodeE4M3FN(s.load(fromByteOffset: i, as: UInt8.self)) }
        }
    }

    /// Decodes an 8-bit float with 4 exponent bits (bias 7), 3 mantissa bits, no infinities and
    /// NaN at S.1111.111 (the "FN" variant PyTorch calls float8_e4m3fn).
    static func decodeE4M3FN(_ byte: UInt8) -> Float {
        let sign: Float = byte & 0x80 != 0 ? -1 : 1
        let exponent = Int((byte >> 3) & 0xF)
        let mantissa = Float(byte & 0x7)
        if exponent == 15 && byte & 0x7 == 7 { return .nan }
        if exponent == 0 { return sign * mantissa / 8 * Float(sign: .plus, exponent: -6, significand: 1) }
        return sign * (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
    }

    /// Stores float32 values in this (writable) type, little-endian, rounding to nearest even.
    func store(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer) {
        switch self {
        case .f16:
            for i in 0..<count { destination.storeBytes(of: Float16(source[i]).bitPattern.littleEndian, toByteOffset: i * 2, as: UInt16.self) }
        case .bf16:
            for i in 0..<count { destination.storeBytes(of: SafeTensorsDType.bfloat16Bits(source[i]).littleEndian, toByteOffset: i * 2, as: UInt16.self) }
        default:
            // Little-endian host: float32 bytes are stored as they are.
            destination.copyMemory(from: source, byteCount: count * 4)
        }
    }

    /// Rounds a float32 to bfloat16 (nearest, ties to even; NaN stays a quiet NaN).
    static func bfloat16Bits(_ value: Float) -> UInt16 {
        if value.isNaN { return value.sign == .minus ? 0xFFC0 : 0x7FC0 }
        let bits = value.bitPattern
        let rounding = ((bits >> 16) & 1) &+ 0x7FFF
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }
}
