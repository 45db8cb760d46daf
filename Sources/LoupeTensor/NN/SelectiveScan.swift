extension NN {
    /// The selective state-space scan of Mamba-2 (SSD with a scalar decay per head), by its exact
    /// sequential recurrence. For each image, head `h` (of group `g = h / (H / G)`) and token `t`:
    ///
    ///     S_t = exp(dt[t, h] * A[h]) * S_{t-1} + dt[t, h] * x[t, h, :] B[t, g, :]^T   (S: [P, S])
    ///     y[t, h, :] = S_t C[t, g, :] + D[h] * x[t, h, :]
    ///
    /// with `S_{-1} = 0`. This is the function mamba_ssm's chunked `mamba_chunk_scan_combined`
    /// computes (its chunks only reorder the sums). The backward pass runs the recurrence in
    /// reverse, recomputing states from checkpoints kept every 64 tokens.
    /// - Parameters:
    ///   - x: `[N, L, H * P]` (`P = headDim`).
    ///   - dt: `[N, L, H]` time steps (already through softplus).
    ///   - A: `[H]` decay rates (negative for a stable scan).
    ///   - B, C: `[N, L, G * S]` for `G = groups` groups dividing `H`.
    ///   - D: optional `[H]` skip weights.
    /// - Returns: `y`, `[N, L, H * P]`.
    public static func selectiveScan(x: Tensor, dt: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor? = nil,
                                     headDim: Int, groups: Int = 1) throws -> Tensor {
        let op = "selectiveScan"
        let shapes = "x \(describe(shape: x.shape)), dt \(describe(shape: dt.shape)), A \(describe(shape: A.shape)), B \(describe(shape: B.shape)), C \(describe(shape: C.shape))"
        guard x.rank == 3, headDim >= 1, x.shape[2] % headDim == 0, groups >= 1 else {
            throw LoupeError("\(op): x must be [N, L, heads * \(headDim)] and groups positive, got \(shapes)")
        }
        let n = x.shape[0], l = x.shape[1], p = headDim, h = x.shape[2] / headDim
        guard dt.shape == [n, l, h], A.shape == [h], h % groups == 0 else {
            throw LoupeError("\(op): for \(h) heads expected dt [\(n), \(l), \(h)], A [\(h)] and heads divisible by \(groups) groups, got \(shapes)")
        }
        guard B.rank == 3, B.shape == C.shape, Array(B.shape.prefix(2)) == [n, l], B.shape[2] % groups == 0 else {
            throw LoupeError("\(op): B and C must both be [\(n), \(l), \(groups) * state], got \(shapes)")
        }
        try checkVector(D, count: h, name: "D", op: op, input: x.shape)
        let geometry = ScanGeometry(batch: n, length: l, heads: h, headDim: p, groups: groups, state: B.shape[2] / groups)
        let xc = x.contiguous(), dtc = dt.contiguous(), ac = A.contiguous(), bc = B.contiguous(), cc = C.contiguous()
        let dc = D?.contiguous()
        var inputs = [x, dt, A, B, C]
        if let D { inputs.append(D) }
        let recording = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
        let checkpoints = recording ? Tensor.uninitialized([n * h, geometry.chunks, p * geometry.state]) : nil
        let result = Tensor.uninitialized([n, l, h * p])
        withExtendedLifetime((xc, dtc, ac, bc, cc, dc)) {
            let operands = ScanOperands(x: base(xc), dt: base(dtc), a: base(ac), b: base(bc), c: base(cc), d: dc.map { UnsafePointer(base($0)) })
            let out = base(result), saved = checkpoints.map { base($0) }
            Parallel.forEach(n * h) { task in
                let state = UnsafeMutablePointer<Float>.allocate(capacity: p * geometry.state)
                defer { state.deallocate() }
                geometry.forward(task: task, operands, buffer: state, y: out, checkpoints: saved)
            }
        }
        guard let checkpoints else { return result }
        let detached = (xc.detached(), dtc.detached(), ac.detached(), bc.detached(), cc.detached(), dc?.detached())
        let hasD = D != nil
        return Tensor.record(result, op: op, inputs: inputs) { grad in
            let g = grad.contiguous()
            let gx = zeroTensor([n, l, h * p]), gdt = zeroTensor([n, l, h])
            let workers = Swift.min(Parallel.workers, n * h)
            let bcSize = n * l * groups * geometry.state
            // B and C are shared by the heads of a group: each worker sums into its own copy.
            let gbParts = zeroTensor([workers, bcSize]), gcParts = zeroTensor([workers, bcSize])
            let perTask = zeroTensor([n * h, 2])  // dA and dD of each (image, head)
            withExtendedLifetime((g, detached, checkpoints)) {
                let (xd, dtd, ad, bd, cd, dd) = detached
                let operands = ScanOperands(x: base(xd), dt: base(dtd), a: base(ad), b: base(bd), c: base(cd), d: dd.map { UnsafePointer(base($0)) })
                let gradients = ScanGradients(y: base(g), x: base(gx), dt: base(gdt), b: base(gbParts), c: base(gcParts), aAndD: base(perTask))
                let saved = UnsafePointer(base(checkpoints))
                Parallel.forEach(workers) { worker in
                    let workspace = ScanWorkspace(geometry)
                    defer { workspace.deallocate() }
                    var task = worker
                    while task < n * h {
                        geometry.backward(task: task, operands, gradients, worker: worker, bcSize: bcSize,
                                          checkpoints: saved, workspace: workspace)
                        task += workers
                    }
                }
            }
            let gb = try gbParts.sum(axes: [0]).reshaped([n, l, groups * geometry.state])
            let gc = try gcParts.sum(axes: [0]).reshaped([n, l, groups * geometry.state])
            let sums = try perTask.reshaped([n, h, 2]).sum(axes: [0])
            let ga = try sums.sliced(axis: 1, start: 0, end: 1).reshaped([h])
            let gd = try sums.sliced(axis: 1, start: 1, end: 2).reshaped([h])
            return [gx, gdt, ga, gb, gc] + (hasD ? [gd] : [])
        }
    }
}

/// Pointers to a scan's contiguous operands.
private struct ScanOperands {
    let x: UnsafeMutablePointer<Float>, dt: UnsafeMutablePointer<Float>, a: UnsafeMutablePointer<Float>
    let b: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>, d: UnsafePointer<Float>?
}

/// Pointers to the gradients a scan's backward pass fills (B and C per worker, A and D per task).
private struct ScanGradients {
    let y: UnsafeMutablePointer<Float>, x: UnsafeMutablePointer<Float>, dt: UnsafeMutablePointer<Float>
    let b: UnsafeMutablePointer<Float>, c: UnsafeMutablePointer<Float>, aAndD: UnsafeMutablePointer<Float>
}

/// One worker's buffers for the backward pass: the states of one chunk and the state gradient.
private struct ScanWorkspace {
    let states: UnsafeMutablePointer<Float>, stateGrad: UnsafeMutablePointer<Float>, rowGrad: UnsafeMutablePointer<Float>

    init(_ g: ScanGeometry) {
        states = .allocate(capacity: (ScanGeometry.chunk + 1) * g.headDim * g.state)
        stateGrad = .allocate(capacity: g.headDim * g.state)
        rowGrad = .allocate(capacity: g.state)
    }

    func deallocate() { states.deallocate(); stateGrad.deallocate(); rowGrad.deallocate() }
}

/// Sizes of a scan and the per-(image, head) forward and backward recurrences.
private struct ScanGeometry {
    /// Tokens between saved states.
    static let chunk = 64
    let batch: Int, length: Int, heads: Int, headDim: Int, groups: Int, state: Int
    var chunks: Int { Swift.max(1, (length + Self.chunk - 1) / Self.chunk) }

    /// Runs the recurrence of `task = image * heads + head`, writing its `y` columns and, when
    /// `checkpoints` is given, the state before every chunk (`buffer`: the running state, P x S).
    func forward(task: Int, _ o: ScanOperands, buffer: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>,
                 checkpoints: UnsafeMutablePointer<Float>?) {
        let image = task / heads, head = task % heads, group = head / (heads / groups)
        let p = headDim, s = state, ps = p * s
        let aHead = o.a[head], dHead = o.d?[head] ?? 0
        buffer.update(repeating: 0, count: ps)
        for t in 0..<length {
            if let checkpoints, t % Self.chunk == 0 {
                (checkpoints + (task * chunks + t / Self.chunk) * ps).update(from: buffer, count: ps)
            }
            let row = image * length + t
            let step = o.dt[row * heads + head], decay = expf(step * aHead)
            let xt = o.x + row * heads * p + head * p
            let bt = o.b + (row * groups + group) * s, ct = o.c + (row * groups + group) * s
            let yt = y + row * heads * p + head * p
            for i in 0..<p {
                yt[i] = Self.decayUpdateDot(buffer + i * s, decay: decay, coefficient: step * xt[i], b: bt, c: ct, count: s)
                    + dHead * xt[i]
            }
        }
    }

    /// `row = decay * row + coefficient * b`, returning `row . c`.
    @inline(__always)
    static func decayUpdateDot(_ row: UnsafeMutablePointer<Float>, decay: Float, coefficient: Float,
                               b: UnsafePointer<Float>, c: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        let dv = SIMD8<Float>(repeating: decay), cv = SIMD8<Float>(repeating: coefficient)
        var j = 0
        while j + 8 <= count {
            let r = load8(row + j) * dv + cv * load8(b + j)
            store8(r, row + j)
            acc += r * load8(c + j)
            j += 8
        }
        var total = acc.sum()
        while j < count {
            row[j] = decay * row[j] + coefficient * b[j]
            total += row[j] * c[j]
            j += 1
        }
        return total
    }

    /// The backward recurrence of one (image, head): gradients to its x and dt columns, its
    /// A and D entries (in `aAndD`) and, summed into the worker's copies, B and C.
    func backward(task: Int, _ o: ScanOperands, _ g: ScanGradients, worker: Int, bcSize: Int,
                  checkpoints: UnsafePointer<Float>, workspace w: ScanWorkspace) {
        let image = task / heads, head = task % heads, group = head / (heads / groups)
        let p = headDim, s = state, ps = p * s
        let aHead = o.a[head], dHead = o.d?[head] ?? 0
        let gbWorker = g.b + worker * bcSize, gcWorker = g.c + worker * bcSize
        let stateGrad = w.stateGrad, rowGrad = w.rowGrad
        stateGrad.update(repeating: 0, count: ps)
        var gradA: Float = 0, gradD: Float = 0
        for chunkIndex in stride(from: chunks - 1, through: 0, by: -1) {
            let t0 = chunkIndex * Self.chunk, t1 = Swift.min(length, t0 + Self.chunk)
            // states[k] is the state after token t0 + k - 1 (states[0]: the saved one before t0).
            w.states.update(from: checkpoints + (task * chunks + chunkIndex) * ps, count: ps)
            for t in t0..<t1 {
                let row = image * length + t
                let step = o.dt[row * heads + head], decay = expf(step * aHead)
                let xt = o.x + row * heads * p + head * p, bt = o.b + (row * groups + group) * s
                let previous = w.states + (t - t0) * ps, next = previous + ps
                for i in 0..<p {
                    let coefficient = step * xt[i]
                    let from = previous + i * s, to = next + i * s
                    for j in 0..<s { to[j] = decay * from[j] + coefficient * bt[j] }
                }
            }
            for t in stride(from: t1 - 1, through: t0, by: -1) {
                let row = image * length + t
                let step = o.dt[row * heads + head], decay = expf(step * aHead)
                let xt = o.x + row * heads * p + head * p
                let bt = o.b + (row * groups + group) * s, ct = o.c + (row * groups + group) * s
                let dy = g.y + row * heads * p + head * p
                let current = w.states + (t - t0 + 1) * ps, previous = current - ps
                // G_t = decay_{t+1} G_{t+1} (already in stateGrad) + dy_t C_t^T; dC_t = S_t^T dy_t.
                let dC = gcWorker + (row * groups + group) * s, dB = gbWorker + (row * groups + group) * s
                rowGrad.update(repeating: 0, count: s)
                var gradStep: Float = 0, gradDecay: Float = 0
                let dx = g.x + row * heads * p + head * p
                for i in 0..<p {
                    let gi = stateGrad + i * s, si = current + i * s, pi = previous + i * s
                    let dyi = dy[i], coefficient = step * xt[i]
                    var gb: Float = 0, gs: Float = 0
                    for j in 0..<s {
                        gi[j] += dyi * ct[j]
                        dC[j] += dyi * si[j]
                        gb += gi[j] * bt[j]
                        gs += gi[j] * pi[j]
                        rowGrad[j] += coefficient * gi[j]
                    }
                    gradD += dyi * xt[i]
                    dx[i] = dHead * dyi + step * gb
                    gradStep += xt[i] * gb
                    gradDecay += gs
                }
                for j in 0..<s { dB[j] += rowGrad[j] }
                // d decay / d dt = A decay, d decay / d A = dt decay.
                g.dt[row * heads + head] = gradStep + aHead * decay * gradDecay
                gradA += step * decay * gradDecay
                for j in 0..<ps { stateGrad[j] *= decay }
            }
        }
        g.aAndD[task * 2] = gradA
        g.aAndD[task * 2 + 1] = gradD
    }

    @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always) static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
