import XCTest
import LoupeTestSupport
@testable import LoupeTensor

/// Blocked, multi-threaded convolution (`ConvProducts`) against direct loops over the
/// definition of convolution and its adjoint, with the block size shrunk so that every image is
/// cut into many bands (the PyTorch fixtures are too small to be cut at the standard size).
final class ConvBlockTests: XCTestCase {
    /// A few rows of column matrix per block, and threads for any size.
    let tiny = ConvTuning(columnBudget: 64, parallelMinimum: 0)
    /// Every image of a batch side by side with the others (blocks of several images).
    let sideBySide = ConvTuning(columnBudget: 1 << 24, parallelMinimum: 0, blockColumns: 1 << 20)

    struct Case {
        var batch = 2, channels = 4, outChannels = 6, height = 9, width = 7, kh = 3, kw = 3
        var stride = (1, 1), padding = (1, 1, 1, 1), dilation = (1, 1), groups = 1
    }

    func random(_ shape: [Int], _ rng: inout RandomGenerator) throws -> Tensor {
        try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextNormal() })
    }

    /// Calls `body(n, o, oy, ox, i, ki, kj, y, xx, inputChannel)` for every product term of the
    /// convolution (output position, weight index and the input pixel it reads).
    func forEachTerm(_ c: Case, outHeight: Int, outWidth: Int,
                     _ body: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) -> Void) {
        let cg = c.channels / c.groups, og = c.outChannels / c.groups
        for n in 0..<c.batch {
            for o in 0..<c.outChannels {
                for oy in 0..<outHeight {
                    for ox in 0..<outWidth {
                        for i in 0..<cg {
                            for ki in 0..<c.kh {
                                for kj in 0..<c.kw {
                                    let y = oy * c.stride.0 - c.padding.0 + ki * c.dilation.0
                                    let xx = ox * c.stride.1 - c.padding.2 + kj * c.dilation.1
                                    if y < 0 || y >= c.height || xx < 0 || xx >= c.width { continue }
                                    body(n, o, oy, ox, i, ki, kj, y, xx, (o / og) * cg + i)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func outSize(_ c: Case) -> (Int, Int) {
        ((c.height + c.padding.0 + c.padding.1 - c.dilation.0 * (c.kh - 1) - 1) / c.stride.0 + 1,
         (c.width + c.padding.2 + c.padding.3 - c.dilation.1 * (c.kw - 1) - 1) / c.stride.1 + 1)
    }

    /// Checks a convolution's output and its three gradients against the direct loops.
    func checkConvolution(_ c: Case, seed: UInt64, tuning: ConvTuning, file: StaticString = #filePath,
                          line: UInt = #line) throws {
        var rng = RandomGenerator(seed: seed)
        let cg = c.channels / c.groups
        let (ho, wo) = outSize(c)
        let x = try random([c.batch, c.channels, c.height, c.width], &rng).requiringGrad()
        let w = try random([c.outChannels, cg, c.kh, c.kw], &rng).requiringGrad()
        let b = try random([c.outChannels], &rng).requiringGrad()
        let gout = try random([c.batch, c.outChannels, ho, wo], &rng)
        let y = try NN.convolution(x, weight: w, bias: b, stride: c.stride, padding: c.padding,
                                   dilation: c.dilation, groups: c.groups, op: "conv2d", tuning: tuning)
        let grads = try Autograd.gradients(of: y, wrt: [x, w, b], seed: gout)

        let xs = x.scalars, ws = w.scalars, bs = b.scalars, gs = gout.scalars
        var out = [Double](repeating: 0, count: c.batch * c.outChannels * ho * wo)
        var gx = [Double](repeating: 0, count: xs.count), gw = [Double](repeating: 0, count: ws.count)
        var gb = [Double](repeating: 0, count: c.outChannels)
        for n in 0..<c.batch {
            for o in 0..<c.outChannels {
                for p in 0..<(ho * wo) {
                    let index = (n * c.outChannels + o) * ho * wo + p
                    out[index] = Double(bs[o])
                    gb[o] += Double(gs[index])
                }
            }
        }
        forEachTerm(c, outHeight: ho, outWidth: wo) { n, o, oy, ox, i, ki, kj, yy, xx, ic in
            let outIndex = ((n * c.outChannels + o) * ho + oy) * wo + ox
            let xIndex = ((n * c.channels + ic) * c.height + yy) * c.width + xx
            let wIndex = ((o * cg + i) * c.kh + ki) * c.kw + kj
            out[outIndex] += Double(ws[wIndex]) * Double(xs[xIndex])
            gx[xIndex] += Double(ws[wIndex]) * Double(gs[outIndex])
            gw[wIndex] += Double(xs[xIndex]) * Double(gs[outIndex])
        }
        func tensor(_ v: [Double], _ shape: [Int]) throws -> Tensor { try Tensor(shape: shape, scalars: v.map { Float($0) }) }
        assertClose(y, try tensor(out, y.shape), rtol: 1e-4, atol: 1e-4, "output", file: file, line: line)
        assertClose(grads[0], try tensor(gx, x.shape), rtol: 1e-4, atol: 1e-4, "input gradient", file: file, line: line)
        assertClose(grads[1], try tensor(gw, w.shape), rtol: 1e-4, atol: 1e-4, "weight gradient", file: file, line: line)
        assertClose(grads[2], try tensor(gb, b.shape), rtol: 1e-4, atol: 1e-4, "bias gradient", file: file, line: line)
    }

    func cases() -> [Case] {
        var list: [Case] = [Case()]
        var c = Case(); c.batch = 1; list.append(c)                                   // one image: bands in parallel
        c = Case(); c.batch = 3; c.height = 11; c.width = 10; list.append(c)          // odd image count
        c = Case(); c.stride = (2, 2); c.height = 12; c.width = 13; list.append(c)    // stride 2 (vector even copy)
        c = Case(); c.stride = (2, 1); c.dilation = (1, 2); c.padding = (1, 0, 0, 1); list.append(c)
        c = Case(); c.kh = 5; c.kw = 2; c.dilation = (2, 1); c.padding = (4, 1, 0, 2); c.height = 14; list.append(c)
        c = Case(); c.groups = 2; c.batch = 3; list.append(c)                          // groups
        c = Case(); c.kh = 1; c.kw = 1; c.padding = (0, 0, 0, 0); c.groups = 2; list.append(c)  // pointwise
        c = Case(); c.kh = 1; c.kw = 1; c.padding = (0, 0, 0, 0); c.batch = 1; list.append(c)
        c = Case(); c.kh = 1; c.kw = 1; c.padding = (0, 1, 0, 0); list.append(c)       // 1x1 with bottom padding
        c = Case(); c.kh = 4; c.kw = 4; c.stride = (4, 4); c.padding = (0, 0, 0, 0); c.height = 16; c.width = 20
        list.append(c)                                                                  // patch embedding
        c = Case(); c.kh = 3; c.kw = 3; c.stride = (3, 2); c.padding = (2, 2, 0, 0); c.height = 20; list.append(c)
        c = Case(); c.width = 40; c.height = 5; c.channels = 3; list.append(c)        // wide rows (16-lane copies)
        c = Case(); c.width = 41; c.stride = (1, 2); c.channels = 2; c.outChannels = 3; list.append(c)
        c = Case(); c.groups = 4; c.outChannels = 8; c.kh = 4; c.kw = 4; c.padding = (2, 1, 2, 1)
        c.width = 21; list.append(c)                                                    // depthwise (2 per channel)
        c.stride = (2, 2); c.outChannels = 4; list.append(c)                           // depthwise, stride 2
        return list
    }

    func testBlockedConvolutionMatchesDefinition() throws {
        for (index, c) in cases().enumerated() {
            try checkConvolution(c, seed: UInt64(100 + index), tuning: tiny)
        }
    }

    func testImagesSideBySideMatchDefinition() throws {
        for (index, c) in cases().enumerated() {
            try checkConvolution(c, seed: UInt64(200 + index), tuning: sideBySide)
        }
        // Five images in blocks of two and three (at most 100 columns of a 7x7 map per block).
        var c = Case(); c.batch = 5; c.height = 7; c.width = 7
        try checkConvolution(c, seed: 250, tuning: ConvTuning(columnBudget: 1 << 20, parallelMinimum: 0, blockColumns: 100))
        c.groups = 2; c.stride = (2, 2)
        try checkConvolution(c, seed: 251, tuning: ConvTuning(columnBudget: 1 << 20, parallelMinimum: 0, blockColumns: 20))
    }

    func testStandardTuningMatchesDefinition() throws {
        // Large enough to run threaded at the standard block size (several bands per image).
        var c = Case()
        c.batch = 3; c.channels = 16; c.outChannels = 24; c.height = 40; c.width = 36
        try checkConvolution(c, seed: 7, tuning: .standard)
        c.stride = (2, 2)
        try checkConvolution(c, seed: 8, tuning: .standard)
        c.stride = (1, 1); c.batch = 1; c.groups = 4; c.kh = 5; c.kw = 5; c.padding = (2, 2, 2, 2)
        try checkConvolution(c, seed: 9, tuning: .standard)
    }

    /// Gradients do not depend on which worker runs which block: two runs agree bit for bit.
    func testBlockedGradientsAreReproducible() throws {
        var rng = RandomGenerator(seed: 21)
        let x = try random([3, 8, 20, 18], &rng).requiringGrad(), w = try random([10, 8, 3, 3], &rng).requiringGrad()
        let gout = try random([3, 10, 20, 18], &rng)
        for tuning in [tiny, sideBySide] {
            func run() throws -> [[Float]] {
                let y = try NN.convolution(x, weight: w, bias: nil, stride: (1, 1), padding: (1, 1, 1, 1),
                                           dilation: (1, 1), groups: 1, op: "conv2d", tuning: tuning)
                return try [y.scalars] + Autograd.gradients(of: y, wrt: [x, w], seed: gout).map(\.scalars)
            }
            let first = try run()
            for _ in 0..<3 { XCTAssertEqual(try run(), first) }
        }
    }

    /// Transposed convolution (the adjoint of convolution) against direct loops: output pixel
    /// `(iy s - p + ki d, ix s - p + kj d)` receives `x[iy, ix] * w[ki, kj]`.
    func testBlockedTransposedConvolutionMatchesDefinition() throws {
        struct TCase { var batch: Int, cin: Int, cog: Int, h: Int, w: Int, k: (Int, Int), stride: (Int, Int)
                       var padding: (Int, Int), outputPadding: (Int, Int), dilation: (Int, Int), groups: Int }
        let list = [
            TCase(batch: 2, cin: 4, cog: 3, h: 6, w: 5, k: (3, 3), stride: (2, 2), padding: (1, 1),
                  outputPadding: (1, 1), dilation: (1, 1), groups: 1),
            TCase(batch: 1, cin: 4, cog: 2, h: 7, w: 6, k: (2, 2), stride: (2, 2), padding: (0, 0),
                  outputPadding: (0, 0), dilation: (1, 1), groups: 2),
            TCase(batch: 3, cin: 2, cog: 3, h: 8, w: 4, k: (3, 2), stride: (1, 2), padding: (1, 0),
                  outputPadding: (0, 1), dilation: (2, 1), groups: 1),
            TCase(batch: 1, cin: 3, cog: 4, h: 5, w: 9, k: (1, 1), stride: (1, 1), padding: (0, 0),
                  outputPadding: (0, 0), dilation: (1, 1), groups: 1),
        ]
        for (index, c) in list.enumerated() {
            var rng = RandomGenerator(seed: UInt64(300 + index))
            let cout = c.cog * c.groups, cig = c.cin / c.groups
            let ho = (c.h - 1) * c.stride.0 - 2 * c.padding.0 + c.dilation.0 * (c.k.0 - 1) + c.outputPadding.0 + 1
            let wo = (c.w - 1) * c.stride.1 - 2 * c.padding.1 + c.dilation.1 * (c.k.1 - 1) + c.outputPadding.1 + 1
            let x = try random([c.batch, c.cin, c.h, c.w], &rng).requiringGrad()
            let w = try random([c.cin, c.cog, c.k.0, c.k.1], &rng).requiringGrad()
            let b = try random([cout], &rng).requiringGrad()
            let gout = try random([c.batch, cout, ho, wo], &rng)
            let y = try NN.convTranspose2d(x, weight: w, bias: b, stride: c.stride, padding: c.padding,
                                           outputPadding: c.outputPadding, dilation: c.dilation, groups: c.groups,
                                           tuning: tiny)
            let grads = try Autograd.gradients(of: y, wrt: [x, w, b], seed: gout)
            let xs = x.scalars, ws = w.scalars, bs = b.scalars, gs = gout.scalars
            var out = [Double](repeating: 0, count: c.batch * cout * ho * wo)
            var gx = [Double](repeating: 0, count: xs.count), gw = [Double](repeating: 0, count: ws.count)
            var gb = [Double](repeating: 0, count: cout)
            for i in 0..<out.count {
                out[i] = Double(bs[(i / (ho * wo)) % cout])
                gb[(i / (ho * wo)) % cout] += Double(gs[i])
            }
            for n in 0..<c.batch {
                for ci in 0..<c.cin {
                    for iy in 0..<c.h {
                        for ix in 0..<c.w {
                            for co in 0..<c.cog {
                                for ki in 0..<c.k.0 {
                                    for kj in 0..<c.k.1 {
                                        let oy = iy * c.stride.0 - c.padding.0 + ki * c.dilation.0
                                        let ox = ix * c.stride.1 - c.padding.1 + kj * c.dilation.1
                                        if oy < 0 || oy >= ho || ox < 0 || ox >= wo { continue }
                                        let oc = (ci / cig) * c.cog + co
                                        let outIndex = ((n * cout + oc) * ho + oy) * wo + ox
                                        let xIndex = ((n * c.cin + ci) * c.h + iy) * c.w + ix
                                        let wIndex = ((ci * c.cog + co) * c.k.0 + ki) * c.k.1 + kj
                                        out[outIndex] += Double(xs[xIndex]) * Double(ws[wIndex])
                                        gx[xIndex] += Double(gs[outIndex]) * Double(ws[wIndex])
                                        gw[wIndex] += Double(gs[outIndex]) * Double(xs[xIndex])
                                    }
                                }
                            }
                        }
                    }
                }
            }
            func tensor(_ v: [Double], _ shape: [Int]) throws -> Tensor { try Tensor(shape: shape, scalars: v.map { Float($0) }) }
            assertClose(y, try tensor(out, y.shape), rtol: 1e-4, atol: 1e-4, "case \(index) output")
            assertClose(grads[0], try tensor(gx, x.shape), rtol: 1e-4, atol: 1e-4, "case \(index) input gradient")
            assertClose(grads[1], try tensor(gw, w.shape), rtol: 1e-4, atol: 1e-4, "case \(index) weight gradient")
            assertClose(grads[2], try tensor(gb, b.shape), rtol: 1e-4, atol: 1e-4, "case \(index) bias gradient")
        }
    }

    /// The scoped single-threaded BLAS section restores the thread count, also when nested.
    func testSingleThreadedBLASScopeRestoresThreadCount() {
        let before = BLASThreads.current
        BLASThreads.singleThreaded {
            if BLASThreads.canScope { XCTAssertEqual(BLASThreads.current, 1) }
            BLASThreads.singleThreaded { }
            if BLASThreads.canScope { XCTAssertEqual(BLASThreads.current, 1) }
        }
        XCTAssertEqual(BLASThreads.current, before)
    }
}
