/// Elementwise binary kernels over broadcast operands, specialised per operator so that the
/// inner loops are plain pointer loops the compiler vectorizes (no per-element closure call).
///
/// Operands are described by the broadcast output shape and each operand's strides against it
/// (0 on broadcast axes). Size-1 axes are dropped and adjacent axes that are contiguous in
/// both operands are merged, so e.g. `[8, 64, 56, 56] + [1, 64, 1, 1]` runs as 512 rows of 3136
/// with a scalar per row, and a bias add `[N, C] + [C]` as N rows of two unit-stride operands.
@usableFromInline
protocol BinaryKernel {
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}

@usableFromInline struct AddKernel: BinaryKernel {
    @usableFromInline init() {}
    @inlinable @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b }
}

@usableFromInline struct SubtractKernel: BinaryKernel {
    @usableFromInline init() {}
    @inlinable @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b }
}

@usableFromInline struct MultiplyKernel: BinaryKernel {
    @usableFromInline init() {}
    @inlinable @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b }
}

@usableFromInline struct DivideKernel: BinaryKernel {
    @usableFromInline init() {}
    @inlinable @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b }
}

/// Any `(Float, Float) -> Float` closure as a kernel (for ops without a dedicated kernel).
@usableFromInline struct ClosureKernel: BinaryKernel {
    @usableFromInline let body: (Float, Float) -> Float
    @usableFromInline init(_ body: @escaping (Float, Float) -> Float) { self.body = body }
    @inlinable @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { body(a, b) }
}

/// A broadcast iteration space reduced to as few axes as possible.
struct CoalescedLayout {
    /// Axis sizes, outermost first; never empty (a single axis of 1 for a scalar result).
    var shape: [Int]
    var stridesA: [Int]
    var stridesB: [Int]

    init(shape outShape: [Int], stridesA sa: [Int], stridesB sb: [Int]) {
        var shape: [Int] = [], stridesA: [Int] = [], stridesB: [Int] = []
        for axis in 0..<outShape.count where outShape[axis] != 1 {
            if let last = shape.last,
               stridesA[stridesA.count - 1] == sa[axis] * outShape[axis],
               stridesB[stridesB.count - 1] == sb[axis] * outShape[axis] {
                shape[shape.count - 1] = last * outShape[axis]
                stridesA[stridesA.count - 1] = sa[axis]
                stridesB[stridesB.count - 1] = sb[axis]
            } else {
                shape.append(outShape[axis])
                stridesA.append(sa[axis])
                stridesB.append(sb[axis])
            }
        }
        if shape.isEmpty { shape = [1]; stridesA = [0]; stridesB = [0] }
        self.shape = shape
        self.stridesA = stridesA
        self.stridesB = stridesB
    }
}

extension Tensor {
    /// `kernel(a, b)` over the broadcast of `a` and `b` into a new contiguous tensor, on both
    /// cores when large. Throws when the shapes do not broadcast.
    @inline(__always)
    static func binaryMap<K: BinaryKernel>(_ a: Tensor, _ b: Tensor, op: String, _ kernel: K) throws -> Tensor {
        let outShape = try broadcastShape(a.shape, b.shape, op: op)
        let result = Tensor.uninitialized(outShape)
        let total = result.count
        if total == 0 { return result }
        let layout = CoalescedLayout(shape: outShape, stridesA: a.broadcastStrides(to: outShape),
                                     stridesB: b.broadcastStrides(to: outShape))
        let dst = result.storage.pointer
        let pa = UnsafePointer(a.storage.pointer + a.offset)
        let pb = UnsafePointer(b.storage.pointer + b.offset)
        withExtendedLifetime((a.storage, b.storage)) {
            let r = layout.shape.count
            let inner = layout.shape[r - 1]
            let ia = layout.stridesA[r - 1], ib = layout.stridesB[r - 1]
            if r == 1 && ia == 1 && ib == 1 && StreamingStores.pays(count: inner, destination: dst) {
                StreamingStores.write(into: dst, count: inner) { offset, buffer, n in
                    binaryRow(pa + offset, 1, pb + offset, 1, buffer, n, kernel)
                }
                return
            }
            if r == 1 {
                Parallel.forRanges(inner) { start, end in
                    binaryRow(pa + start * ia, ia, pb + start * ib, ib, dst + start, end - start, kernel)
                }
                return
            }
            let rows = total / inner
            let shape = layout.shape, sa = layout.stridesA, sb = layout.stridesB
            Parallel.forRanges(rows, minimum: Swift.max(1, Parallel.minimumParallelCount / inner)) { start, end in
                // Offsets of row `start`, then advanced like an odometer.
                var index = [Int](repeating: 0, count: r - 1)
                var oa = 0, ob = 0
                var remaining = start
                for axis in stride(from: r - 2, through: 0, by: -1) {
                    let i = remaining % shape[axis]
                    remaining /= shape[axis]
                    index[axis] = i
                    oa += i * sa[axis]
                    ob += i * sb[axis]
                }
                for row in start..<end {
                    binaryRow(pa + oa, ia, pb + ob, ib, dst + row * inner, inner, kernel)
                    var axis = r - 2
                    while axis >= 0 {
                        index[axis] += 1
                        oa += sa[axis]
                        ob += sb[axis]
                        if index[axis] < shape[axis] { break }
                        oa -= sa[axis] * shape[axis]
                        ob -= sb[axis] * shape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                }
            }
        }
        return result
    }

    /// One row: `out[j] = kernel(a[j * sa], b[j * sb])`, with unit-stride and broadcast-scalar
    /// cases as separate loops so they vectorize.
    @inline(__always)
    static func binaryRow<K: BinaryKernel>(_ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                                           _ out: UnsafeMutablePointer<Float>, _ n: Int, _ kernel: K) {
        if sa == 1 && sb == 1 {
            for j in 0..<n { out[j] = kernel(a[j], b[j]) }
        } else if sa == 1 && sb == 0 {
            let v = b[0]
            for j in 0..<n { out[j] = kernel(a[j], v) }
        } else if sa == 0 && sb == 1 {
            let v = a[0]
            for j in 0..<n { out[j] = kernel(v, b[j]) }
        } else {
            for j in 0..<n { out[j] = kernel(a[j * sa], b[j * sb]) }
        }
    }
}

/// A per-element function as a type, so `unaryMap` specialises and vectorizes its loop
/// (a closure stored in the parallel loop's context is called indirectly per element).
@usableFromInline
protocol UnaryKernel {
    func callAsFunction(_ x: Float) -> Float
}

@usableFromInline struct ReluKernel: UnaryKernel {
    @inlinable @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 }
}

@usableFromInline struct NegateKernel: UnaryKernel {
    @inlinable @inline(__always) func callAsFunction(_ x: Float) -> Float { -x }
}

@usableFromInline struct AbsKernel: UnaryKernel {
    @inlinable @inline(__always) func callAsFunction(_ x: Float) -> Float { Swift.abs(x) }
}

@usableFromInline struct SquareRootKernel: UnaryKernel {
    @inlinable @inline(__always) func callAsFunction(_ x: Float) -> Float { x.squareRoot() }
}

@usableFromInline struct LeakyReluKernel: UnaryKernel {
    @usableFromInline let slope: Float
    @usableFromInline init(slope: Float) { self.slope = slope }
    @inlinable @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : x * slope }
}

extension Tensor {
    /// `kernel(x)` for every element into a new contiguous tensor, on both cores when large.
    @inline(__always)
    func unaryMap<K: UnaryKernel>(_ kernel: K) -> Tensor {
        let source = contiguous()
        let result = Tensor.uninitialized(shape)
        let src = UnsafePointer(source.storage.pointer + source.offset)
        let dst = result.storage.pointer
        withExtendedLifetime(source.storage) {
            if StreamingStores.pays(count: result.count, destination: dst) {
                StreamingStores.write(into: dst, count: result.count) { offset, buffer, n in
                    for i in 0..<n { buffer[i] = kernel(src[offset + i]) }
                }
                return
            }
            Parallel.forRanges(result.count) { start, end in
                for i in start..<end { dst[i] = kernel(src[i]) }
            }
        }
        return result
    }
}

/// Backward kernels `(gradient, saved value) -> input gradient` of common activations.
@usableFromInline struct ReluBackwardKernel: BinaryKernel {
    @inlinable @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : 0 }
}

@usableFromInline struct LeakyReluBackwardKernel: BinaryKernel {
    @usableFromInline let slope: Float
    @usableFromInline init(slope: Float) { self.slope = slope }
    @inlinable @inline(__always) func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : g * slope }
}

/// g * (1 - y^2) with y = tanh(x).
@usableFromInline struct TanhBackwardKernel: BinaryKernel {
    @inlinable @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * (1 - y * y) }
}

/// g * y * (1 - y) with y = sigmoid(x).
@usableFromInline struct SigmoidBackwardKernel: BinaryKernel {
    @inlinable @inline(__always) func callAsFunction(_ g: Float, _ y: Float) -> Float { g * y * (1 - y) }
}
