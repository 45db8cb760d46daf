import Foundation
import LoupeTensor

/// The description of one tensor in a safetensors file.
public struct SafeTensorInfo: Equatable, Sendable {
    public var dtype: SafeTensorsDType
    public var shape: [Int]
    /// Byte range of the data, relative to the start of the data buffer (after the header).
    public var dataOffsets: Range<Int>
    /// The number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// A safetensors file, memory-mapped and validated on open; tensors are converted to float32
/// lazily by name.
///
/// Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data buffer.
/// Validation follows the reference implementation: header of at most 100 MB that is a JSON
/// object, known dtypes, shape products without overflow, every tensor's byte range of exactly
/// its size, ranges that neither overlap nor leave gaps, and the buffer fully covered.
public final class SafeTensorsFile: @unchecked Sendable {
    /// Largest accepted header, in bytes.
    public static let maximumHeaderSize = 100_000_000

    /// The file's path (or the name given to in-memory bytes).
    public let path: String
    /// Tensor names, sorted.
    public let names: [String]
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    private let infos: [String: SafeTensorInfo]
    private let source: ByteSource
    private let dataStart: Int

    /// Maps and validates the file at `path`.
    public convenience init(path: String) throws {
        let mapped = try MappedFile(path: path, op: "safetensors")
        try self.init(source: .mapped(mapped), name: path)
    }

    /// Validates safetensors bytes held in memory (copied). `name` appears in error messages.
    public convenience init(bytes: UnsafeRawBufferPointer, name: String = "<memory>") throws {
        try self.init(source: .owned(OwnedBytes(copying: bytes)), name: name)
    }

    /// Validates safetensors bytes held in memory (copied).
    public convenience init(data: Data, name: String = "<memory>") throws {
        let owned = data.withUnsafeBytes { OwnedBytes(copying: $0) }
        try self.init(source: .owned(owned), name: name)
    }

    private init(source: ByteSource, name: String) throws {
        self.path = name
        self.source = source
        let parsed = try SafeTensorsFile.parse(source.bytes, name: name)
        self.infos = parsed.infos
        self.metadata = parsed.metadata
        self.dataStart = parsed.dataStart
        self.names = parsed.infos.keys.sorted()
    }

    /// The dtype, shape and byte range of tensor `name`.
    public func info(_ name: String) throws -> SafeTensorInfo {
        guard let info = infos[name] else {
            throw LoupeError("safetensors: '\(path)': no tensor named '\(name)'")
        }
        return info
    }

    /// Whether the file holds a tensor `name`.
    public func contains(_ name: String) -> Bool { infos[name] != nil }

    /// Reads tensor `name`, converted to float32.
    public func tensor(named name: String) throws -> Tensor {
        let info = try info(name)
        let result = Tensor.uninitialized(info.shape)
        try read(name, into: result.storage.pointer, count: info.count)
        return result
    }

    /// Converts tensor `name` to float32 straight into `destination`, which holds `count`
    /// elements: the tensor's element count, else this throws. A memory-mapped file's pages of
    /// the tensor are released afterwards, so reading every tensor of a large file in turn does
    /// not keep the whole file resident.
    public func read(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        let info = try info(name)
        guard count == info.count else {
            throw LoupeError("safetensors: '\(path)': tensor '\(name)' has \(info.count) elements, not \(count)")
        }
        guard count > 0, let base = source.bytes.baseAddress else { return }
        let start = dataStart + info.dataOffsets.lowerBound
        info.dtype.convert(from: base + start, count: count, into: destination)
        source.release(start..<(dataStart + info.dataOffsets.upperBound))
    }

    /// Reads every tensor.
    public func allTensors() throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for name in names { result[name] = try tensor(named: name) }
        return result
    }

    // MARK: Validation

    struct Parsed {
        var infos: [String: SafeTensorInfo]
        var metadata: [String: String]
        var dataStart: Int
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, name: String) throws -> Parsed {
        func fail(_ text: String) -> LoupeError { LoupeError("safetensors: '\(name)': \(text)") }
        guard bytes.count >= 8 else {
            throw fail("file of \(bytes.count) bytes is too small to hold the 8-byte header length")
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard headerLength <= UInt64(maximumHeaderSize) else {
            throw fail("header length \(headerLength) exceeds the limit of \(maximumHeaderSize) bytes")
        }
        let n = Int(headerLength)
        guard n <= bytes.count - 8 else {
            throw fail("header length \(n) is larger than the \(bytes.count - 8) bytes after the length field")
        }
        guard n > 0, bytes[8] == UInt8(ascii: "{") else {
            throw fail("header does not start with '{'")
        }
        let header = try JSONParser.parse(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)]),
                                          context: "safetensors: '\(name)': header")
        guard case let .object(members) = header else {
            throw fail("header is a JSON \(header.kindName), expected an object")
        }
        var infos: [String: SafeTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (key, value) in members {
            if key == "__metadata__" {
                switch value {
                case .null: continue
                case let .object(entries):
                    for (metaKey, metaValue) in entries {
                        guard case let .string(text) = metaValue else {
                            throw fail("__metadata__ value for '\(metaKey)' is a \(metaValue.kindName), expected a string")
                        }
                        metadata[metaKey] = text
                    }
                default:
                    throw fail("__metadata__ is a \(value.kindName), expected an object of strings")
                }
                continue
            }
            infos[key] = try parseEntry(value, tensor: key, fail: fail)
        }

        // Offsets must tile the buffer exactly: sorted by range, each begins where the previous ended.
        let bufferLength = bytes.count - 8 - n
        let ordered = infos.sorted {
            ($0.value.dataOffsets.lowerBound, $0.value.dataOffsets.upperBound, $0.key)
                < ($1.value.dataOffsets.lowerBound, $1.value.dataOffsets.upperBound, $1.key)
        }
        var end = 0
        for (tensorName, info) in ordered {
            let range = info.dataOffsets
            if range.lowerBound > end {
                throw fail("tensor '\(tensorName)': data offsets [\(range.lowerBound), \(range.upperBound)) leave a gap after byte \(end)")
            }
            if range.lowerBound < end {
                throw fail("tensor '\(tensorName)': data offsets [\(range.lowerBound), \(range.upperBound)) overlap another tensor ending at byte \(end)")
            }
            if range.upperBound > bufferLength {
                throw fail("tensor '\(tensorName)': data offsets [\(range.lowerBound), \(range.upperBound)) lie outside the data buffer of \(bufferLength) bytes")
            }
            end = range.upperBound
        }
        guard end == bufferLength else {
            throw fail("tensors cover \(end) of the \(bufferLength) bytes of the data buffer")
        }
        return Parsed(infos: infos, metadata: metadata, dataStart: 8 + n)
    }

    private static func parseEntry(_ value: JSONValue, tensor: String,
                                   fail: (String) -> LoupeError) throws -> SafeTensorInfo {
        func bad(_ text: String) -> LoupeError { fail("tensor '\(tensor)': \(text)") }
        guard case .object = value else { throw bad("entry is a JSON \(value.kindName), expected an object") }
        guard case let .string(dtypeName)? = value["dtype"] else { throw bad("missing or non-string \"dtype\"") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else { throw bad("unknown dtype '\(dtypeName)'") }
        guard case let .array(shapeValues)? = value["shape"] else { throw bad("missing or non-array \"shape\"") }
        var shape: [Int] = []
        var count = 1
        for dimension in shapeValues {
            guard case let .integer(size) = dimension, size >= 0 else {
                throw bad("shape entries must be non-negative integers")
            }
            shape.append(Int(size))
            let (product, overflow) = count.multipliedReportingOverflow(by: Int(size))
            guard !overflow else { throw bad("shape \(describe(shape: shape.map { $0 })) overflows the element count") }
            count = product
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw bad("shape \(describe(shape: shape)) overflows the byte size") }
        guard case let .array(offsets)? = value["data_offsets"], offsets.count == 2,
              case let .integer(begin) = offsets[0], case let .integer(end) = offsets[1], begin >= 0, end >= 0 else {
            throw bad("\"data_offsets\" must be two non-negative integers")
        }
        guard end >= begin else { throw bad("data offsets [\(begin), \(end)) end before they begin") }
        guard end - begin == Int64(byteCount) else {
            throw bad("data offsets [\(begin), \(end)) hold \(end - begin) bytes but \(dtype.rawValue) shape \(describe(shape: shape)) needs \(byteCount)")
        }
        return SafeTensorInfo(dtype: dtype, shape: shape, dataOffsets: Int(begin)..<Int(end))
    }
}

/// Bytes a reader works on: a memory map or an owned copy.
enum ByteSource {
    case mapped(MappedFile)
    case owned(OwnedBytes)

    var bytes: UnsafeRawBufferPointer {
        switch self {
        case let .mapped(file): return file.bytes
        case let .owned(owned): return owned.bytes
        }
    }

    /// Drops a mapped file's pages in `range` from resident memory (nothing for owned bytes).
    func release(_ range: Range<Int>) {
        if case let .mapped(file) = self { file.release(range) }
    }
}

/// An owned, 16-byte aligned copy of some bytes.
final class OwnedBytes: @unchecked Sendable {
    let bytes: UnsafeRawBufferPointer

    init(copying source: UnsafeRawBufferPointer) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: max(source.count, 1), alignment: 16)
        if let base = source.baseAddress { memory.copyMemory(from: base, byteCount: source.count) }
        bytes = UnsafeRawBufferPointer(start: memory, count: source.count)
    }

    deinit { UnsafeMutableRawPointer(mutating: bytes.baseAddress!).deallocate() }
}
