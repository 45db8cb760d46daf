import Foundation

extension NN {
    /// Padding of `upfirdn2d`, with respect to the upsampled image: columns before and after,
    /// rows before and after. Negative values crop.
    public struct FIRPadding: Equatable, Sendable {
        public var left: Int, right: Int, top: Int, bottom: Int

        public init(left: Int, right: Int, top: Int, bottom: Int) {
            self.left = left; self.right = right; self.top = top; self.bottom = bottom
        }

        /// The same padding on every side.
        public init(_ all: Int) { self.init(left: all, right: all, top: all, bottom: all) }
    }

    /// Upsample, FIR-filter and downsample (NVlabs' `upfirdn2d`, as its reference
    /// implementation): insert `up - 1` zeros after every pixel, pad (or crop) by `padding`,
    /// convolve each channel with `filter` (a true convolution unless `flipFilter`, scaled by
    /// `gain` per dimension: `gain` in total), keep every `down`-th pixel. Differentiable in `x`.
    /// - Parameters:
    ///   - x: `[N, C, H, W]`.
    ///   - filter: `[fh, fw]`, or `[taps]` applied separably along both axes.
    /// - Returns: `[N, C, (H up + top + bottom - fh) / down + 1, ...]`.
    public static func upfirdn2d(_ x: Tensor, filter: Tensor, up: Int = 1, down: Int = 1,
                                 padding: FIRPadding = FIRPadding(0), gain: Float = 1,
                                 flipFilter: Bool = false) throws -> Tensor {
        guard x.rank == 4 else { throw LoupeError("upfirdn2d: expected [N, C, H, W], got \(describe(shape: x.shape))") }
        guard filter.rank == 1 || filter.rank == 2, filter.count > 0 else {
            throw LoupeError("upfirdn2d: the filter must be [taps] or [fh, fw], got \(describe(shape: filter.shape))")
        }
        guard up >= 1, down >= 1 else { throw LoupeError("upfirdn2d: up (\(up)) and down (\(down)) must be at least 1") }
        let n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3]
        var y = x
        if up > 1 {
            y = try y.reshaped([n, c, h, 1, w, 1])
                .padded([(0, 0), (0, up - 1), (0, 0), (0, up - 1)])
                .reshaped([n, c, h * up, w * up])
        }
        let fh = filter.shape[0], fw = filter.shape[filter.rank - 1]
        let paddedHeight = y.shape[2] + padding.top + padding.bottom, paddedWidth = y.shape[3] + padding.left + padding.right
        guard paddedHeight >= fh, paddedWidth >= fw else {
            throw LoupeError("upfirdn2d: input \(describe(shape: x.shape)) upsampled by \(up) and padded is \(paddedHeight)x\(paddedWidth), smaller than the filter \(fh)x\(fw)")
        }
        if padding.top > 0 || padding.bottom > 0 || padding.left > 0 || padding.right > 0 {
            y = try y.padded([(max(padding.top, 0), max(padding.bottom, 0)), (max(padding.left, 0), max(padding.right, 0))])
        }
        if padding.top < 0 || padding.bottom < 0 {
            y = try y.sliced(axis: 2, start: max(-padding.top, 0), end: y.shape[2] - max(-padding.bottom, 0))
        }
        if padding.left < 0 || padding.right < 0 {
            y = try y.sliced(axis: 3, start: max(-padding.left, 0), end: y.shape[3] - max(-padding.right, 0))
        }
        var taps = filter.detached().contiguous()
        let gainPerAxis = Float(pow(Double(gain), Double(taps.rank) / 2))
        if gainPerAxis != 1 { taps = try taps * gainPerAxis }
        if !flipFilter { taps = try taps.flipped(axes: Array(0..<taps.rank)) }
        if taps.rank == 2 {
            let weight = try taps.reshaped([1, 1, fh, fw]).tiled([c, 1, 1, 1])
            y = try conv2d(y, weight: weight, groups: c)
        } else {
            let row = try taps.reshaped([1, 1, 1, fw]).tiled([c, 1, 1, 1])
            let column = try taps.reshaped([1, 1, fh, 1]).tiled([c, 1, 1, 1])
            y = try conv2d(conv2d(y, weight: row, groups: c), weight: column, groups: c)
        }
        if down > 1 {
            y = try y.sliced(axis: 2, step: down).sliced(axis: 3, step: down)
        }
        return y
    }
}
