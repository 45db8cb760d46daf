import Foundation
import LoupeTensor

/// Entry points for the safetensors format: writing, and opening single files or sharded
/// checkpoints (`*.safetensors.index.json`) as one collection.
public enum SafeTensors {
    /// Opens a `.safetensors` file, or a sharded checkpoint's `model.safetensors.index.json`
    /// (any path ending in `.json`), as one collection.
    public static func open(_ path: String) throws -> SafeTensorsCollection {
        if path.hasSuffix(".json") { return try SafeTensorsCollection(indexPath: path) }
        return SafeTensorsCollection(file: try SafeTensorsFile(path: path))
    }

    /// Serialises `tensors` in safetensors layout: keys sorted, data in key order, header padded
    /// with spaces to a multiple of 8 bytes, `metadata` stored as `__metadata__` when non-empty.
    /// `dtype` is `.f32`, `.f16` or `.bf16` (values are rounded to nearest even).
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:],
                              dtype: SafeTensorsDType = .f32) throws -> [UInt8] {
        guard dtype.isWritable else {
            throw LoupeError("safetensors.write: dtype \(dtype.rawValue) cannot be written (use F32, F16 or BF16)")
        }
        let names = tensors.keys.sorted()
        var header = "{"
        var parts: [String] = []
        if !metadata.isEmpty {
            let entries = metadata.keys.sorted().map { JSONValue.quoted($0) + ":" + JSONValue.quoted(metadata[$0]!) }
            parts.append("\"__metadata__\":{" + entries.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in names {
            guard name != "__metadata__" else {
                throw LoupeError("safetensors.write: '__metadata__' is reserved and cannot name a tensor")
            }
            let tensor = tensors[name]!
            let bytes = tensor.count * dtype.byteSize
            let shape = "[" + tensor.shape.map(String.init).joined(separator: ",") + "]"
            parts.append(JSONValue.quoted(name) + ":{\"dtype\":\"\(dtype.rawValue)\",\"shape\":\(shape),\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(UInt8(ascii: " ")) }
        var output = [UInt8](repeating: 0, count: 8 + headerBytes.count + offset)
        output.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(headerBytes.count).littleEndian, toByteOffset: 0, as: UInt64.self)
            headerBytes.withUnsafeBytes { raw.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            var position = 8 + headerBytes.count
            for name in names {
                let tensor = tensors[name]!
                let count = tensor.count
                if count > 0 {
                    tensor.withContiguousPointer { dtype.store($0, count: count, into: raw.baseAddress! + position) }
                }
                position += count * dtype.byteSize
            }
        }
        return output
    }

    /// Writes `tensors` to a safetensors file atomically (temporary file, fsync, rename).
    /// See `encode(_:metadata:dtype:)`.
    public static func write(_ tensors: [String: Tensor], to path: String, metadata: [String: String] = [:],
                             dtype: SafeTensorsDType = .f32) throws {
        let bytes = try encode(tensors, metadata: metadata, dtype: dtype)
        try FileIO.writeAtomically(bytes, to: path, op: "safetensors.write")
    }
}

/// One safetensors file or a sharded checkpoint, read as a single collection of named tensors.
/// Shards are opened lazily, on first access to one of their tensors.
public final class SafeTensorsCollection: @unchecked Sendable {
    /// The path that was opened.
    public let path: String
    /// Tensor names, sorted.
    public let names: [String]
    /// Metadata: the file's `__metadata__`, or the index's `metadata` object (string values;
    /// other values are written as JSON text).
    public let metadata: [String: String]
    private let shardOf: [String: String]
    private var shards: [String: SafeTensorsFile]
    private let directory: String
    private let lock = NSLock()

    /// Wraps a single file.
    public init(file: SafeTensorsFile) {
        path = file.path
        names = file.names
        metadata = file.metadata
        shardOf = Dictionary(uniqueKeysWithValues: file.names.map { ($0, file.path) })
        shards = [file.path: file]
        directory = ""
    }

    /// Reads a sharded checkpoint index: `{"metadata": {...}, "weight_map": {tensor: shard file}}`,
    /// shard paths relative to the index's directory.
    public init(indexPath: String) throws {
        path = indexPath
        func fail(_ text: String) -> LoupeError { LoupeError("safetensors: index '\(indexPath)': \(text)") }
        let bytes = try FileIO.readAll(indexPath, op: "safetensors")
        let root = try JSONParser.parse(bytes, context: "safetensors: index '\(indexPath)'")
        guard case .object = root else { throw fail("expected a JSON object") }
        guard case let .object(map)? = root["weight_map"] else { throw fail("missing \"weight_map\" object") }
        var shardOf: [String: String] = [:]
        for (name, value) in map {
            guard case let .string(file) = value, !file.isEmpty else {
                throw fail("weight_map entry for tensor '\(name)' is not a file name")
            }
            guard !file.hasPrefix("/"), !file.split(separator: "/").contains("..") else {
                throw fail("shard '\(file)' of tensor '\(name)' lies outside the index's directory")
            }
            shardOf[name] = file
        }
        var metadata: [String: String] = [:]
        if case let .object(entries)? = root["metadata"] {
            for (key, value) in entries {
                switch value {
                case let .string(text): metadata[key] = text
                case let .integer(number): metadata[key] = String(number)
                case let .number(number): metadata[key] = String(number)
                case let .bool(flag): metadata[key] = String(flag)
                default: metadata[key] = value.kindName
                }
            }
        }
        self.shardOf = shardOf
        self.names = shardOf.keys.sorted()
        self.metadata = metadata
        self.shards = [:]
        self.directory = URL(fileURLWithPath: indexPath).deletingLastPathComponent().path
    }

    /// The shard files, sorted.
    public var shardFiles: [String] { Array(Set(shardOf.values)).sorted() }

    private func file(for name: String) throws -> SafeTensorsFile {
        guard let shard = shardOf[name] else { throw LoupeError("safetensors: '\(path)': no tensor named '\(name)'") }
        lock.lock()
        defer { lock.unlock() }
        if let file = shards[shard] { return file }
        let file = try SafeTensorsFile(path: directory + "/" + shard)
        guard file.contains(name) else {
            throw LoupeError("safetensors: index '\(path)': shard '\(shard)' does not hold tensor '\(name)'")
        }
        shards[shard] = file
        return file
    }

    /// The dtype, shape and byte range of tensor `name`.
    public func info(_ name: String) throws -> SafeTensorInfo { try file(for: name).info(name) }

    /// Reads tensor `name` as float32.
    public func tensor(named name: String) throws -> Tensor { try file(for: name).tensor(named: name) }

    /// Converts tensor `name` to float32 straight into `destination` of `count` elements (see
    /// `SafeTensorsFile.read(_:into:count:)`).
    public func read(_ name: String, into destination: UnsafeMutablePointer<Float>, count: Int) throws {
        try file(for: name).read(name, into: destination, count: count)
    }

    /// Reads every tensor.
    public func allTensors() throws -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for name in names { result[name] = try tensor(named: name) }
        return result
    }
}
