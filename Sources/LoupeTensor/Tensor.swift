/// A float32 N-dimensional tensor.
///
/// Storage is row-major and shared copy-on-write between copies and views. A tensor may be a
/// strided view (after `permuted`, `transposed`, `expanded(to:)` or slicing); kernels call
/// `contiguous()` (free when already contiguous) before touching memory directly.
/// A tensor that takes part in differentiation carries a `GradNode` (see `Autograd.swift`).
public struct Tensor: @unchecked Sendable {
    public internal(set) var shape: [Int]
    public internal(set) var strides: [Int]
    public internal(set) var offset: Int
    public internal(set) var storage: TensorStorage
    /// The autograd node of this tensor, when it requires a gradient.
    public internal(set) var node: GradNode?

    // MARK: Construction

    /// Wraps existing storage. `strides` default to row-major contiguous strides.
    public init(storage: TensorStorage, shape: [Int], strides: [Int]? = nil, offset: Int = 0) {
        self.storage = storage
        self.shape = shape
        self.strides = strides ?? Tensor.contiguousStrides(for: shape)
        self.offset = offset
        self.node = nil
    }

    /// A tensor with the given shape and row-major values. Throws when the counts differ or a
    /// dimension is negative.
    public init(shape: [Int], scalars: [Float]) throws {
        let count = try Tensor.checkedCount(shape, op: "tensor")
        guard count == scalars.count else {
            throw LoupeError("tensor: shape \(describe(shape: shape)) needs \(count) values, got \(scalars.count)")
        }
        let storage = TensorStorage(uninitializedCount: count)
        scalars.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress { storage.pointer.initialize(from: base, count: count) }
        }
        self.init(storage: storage, shape: shape)
    }

    /// A rank-0 tensor holding `value`.
    public init(_ value: Float) {
        let storage = TensorStorage(count: 1, repeating: value)
        self.init(storage: storage, shape: [])
    }

    /// A rank-1 tensor of `values`.
    public init(_ values: [Float]) {
        // A rank-1 shape always matches its values.
        let storage = TensorStorage(uninitializedCount: values.count)
        values.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress { storage.pointer.initialize(from: base, count: values.count) }
        }
        self.init(storage: storage, shape: [values.count])
    }

    /// A tensor of `shape` filled with `value`.
    public static func full(_ shape: [Int], _ value: Float) throws -> Tensor {
        let count = try checkedCount(shape, op: "full")
        return Tensor(storage: TensorStorage(count: count, repeating: value), shape: shape)
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) throws -> Tensor { try full(shape, 0) }

    /// A tensor of ones.
    public static func ones(_ shape: [Int]) throws -> Tensor { try full(shape, 1) }

    /// Uninitialised contiguous tensor for kernels that write every element. Shape must be valid.
    @inlinable
    public static func uninitialized(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(storage: TensorStorage(uninitializedCount: count), shape: shape)
    }

    // MARK: Properties

    /// The number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// The number of elements.
    @inlinable public var count: Int { shape.reduce(1, *) }

    /// Whether the elements are laid out row-major without gaps from `offset`.
    public var isContiguous: Bool {
        var expected = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            let size = shape[axis]
            if size != 1 && strides[axis] != expected { return false }
            expected *= size
        }
        return true
    }

    /// Whether this tensor takes part in differentiation.
    @inlinable public var requiresGrad: Bool { node != nil }

    /// The accumulated gradient of a leaf after `backward()`.
    public var grad: Tensor? { node?.grad }

    /// The row-major values (copied).
    public var scalars: [Float] {
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.storage.pointer + c.offset, count: c.count))
    }

    /// The single value of a one-element tensor.
    public func item() throws -> Float {
        guard count == 1 else {
            throw LoupeError("item: tensor of shape \(describe(shape: shape)) has \(count) elements, expected 1")
        }
        return storage.pointer[offset]
    }

    /// Reads a pointer to contiguous elements. The pointer is valid only inside `body`.
    @inlinable
    public func withContiguousPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        let c = contiguous()
        return try withExtendedLifetime(c.storage) { try body(UnsafePointer(c.storage.pointer + c.offset)) }
    }

    /// Mutable access to the elements: makes the tensor contiguous and uniquely owned first.
    public mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        if !isContiguous || offset != 0 || storage.count != count || !isKnownUniquelyReferenced(&storage) {
            let copy = contiguousCopy()
            storage = copy.storage
            strides = copy.strides
            offset = 0
        }
        return try body(storage.pointer)
    }

    // MARK: Layout

    /// Row-major strides for `shape`.
    public static func contiguousStrides(for shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= Swift.max(shape[axis], 1)
        }
        return strides
    }

    /// Validates a shape and returns its element count, guarding against overflow.
    public static func checkedCount(_ shape: [Int], op: String) throws -> Int {
        var count = 1
        for size in shape {
            guard size >= 0 else {
                throw LoupeError("\(op): negative dimension in shape \(describe(shape: shape))")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow, product <= 1 << 40 else {
                throw LoupeError("\(op): shape \(describe(shape: shape)) is too large")
            }
            count = product
        }
        return count
    }

    /// Resolves a possibly negative axis against `rank`.
    public static func normalizeAxis(_ axis: Int, rank: Int, op: String) throws -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        guard resolved >= 0 && resolved < Swift.max(rank, 1) else {
            throw LoupeError("\(op): axis \(axis) is out of range for a tensor of rank \(rank)")
        }
        return resolved
    }

    /// This tensor when contiguous, otherwise a contiguous copy. Keeps the autograd node (the
    /// values are the same).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        var copy = contiguousCopy()
        copy.node = node
        return copy
    }

    /// A fresh contiguous copy of the values, without autograd history.
    public func contiguousCopy() -> Tensor {
        let result = Tensor.uninitialized(shape)
        let total = count
        if total == 0 { return result }
        let dst = result.storage.pointer
        let src = storage.pointer + offset
        if isContiguous {
            dst.update(from: src, count: total)
            return result
        }
        if tiledTransposeCopy(into: dst) { return result }
        // Copy along the innermost axis, iterating an index over the outer axes.
        let r = rank
        let inner = shape[r - 1]
        let innerStride = strides[r - 1]
        let outer = total / Swift.max(inner, 1)
        var index = [Int](repeating: 0, count: r)
        var srcOffset = 0
        var written = 0
        for _ in 0..<outer {
            let row = src + srcOffset
            if innerStride == 1 {
                (dst + written).update(from: row, count: inner)
            } else {
                for j in 0..<inner { dst[written + j] = row[j * innerStride] }
            }
            written += inner
            var axis = r - 2
            while axis >= 0 {
                index[axis] += 1
                srcOffset += strides[axis]
                if index[axis] < shape[axis] { break }
                srcOffset -= strides[axis] * shape[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return result
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        TensorFormatter.format(self)
    }
}
