/// Reverse-mode automatic differentiation on a dynamic tape.
///
/// Every differentiable op builds its result with `Tensor.record(...)`: when gradients are on
/// (`GradMode.isEnabled`) and an input requires a gradient, the result gets a `GradNode` that
/// remembers its parents and a closure mapping the output gradient to the input gradients.
/// The closure captures only what backward needs. `backward()` walks the nodes in reverse
/// topological order and frees each closure after use, so the graph's memory is returned.
public final class GradNode: @unchecked Sendable {
    /// Parent nodes, one per op input (nil where that input needs no gradient).
    let parents: [GradNode?]
    /// Output gradient -> one gradient per input (nil where not needed). Freed after backward.
    var backwardFunction: ((Tensor) throws -> [Tensor?])?
    /// The op that made this node, for error messages.
    public let op: String
    /// Accumulated gradient (leaves after `backward()`).
    public internal(set) var grad: Tensor?
    /// Whether this node is a leaf created by `requiringGrad()`.
    public let isLeaf: Bool

    init(op: String, parents: [GradNode?], backward: ((Tensor) throws -> [Tensor?])?, isLeaf: Bool) {
        self.op = op
        self.parents = parents
        self.backwardFunction = backward
        self.isLeaf = isLeaf
    }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }
}

/// Whether ops record the tape. Use `GradMode.withoutGrad { ... }` for inference.
public enum GradMode {
    nonisolated(unsafe) static var enabledFlag = true

    /// Whether new ops are recorded.
    public static var isEnabled: Bool { enabledFlag }

    /// Runs `body` with recording off (a forward under `no_grad` keeps nothing).
    public static func withoutGrad<R>(_ body: () throws -> R) rethrows -> R {
        let saved = enabledFlag
        enabledFlag = false
        defer { enabledFlag = saved }
        return try body()
    }

    /// Runs `body` with recording on.
    public static func withGrad<R>(_ body: () throws -> R) rethrows -> R {
        let saved = enabledFlag
        enabledFlag = true
        defer { enabledFlag = saved }
        return try body()
    }
}

extension Tensor {
    /// A leaf that accumulates a gradient in `backward()`. Shares storage with `self`.
    public func requiringGrad() -> Tensor {
        var leaf = self
        leaf.node = GradNode(op: "leaf", parents: [], backward: nil, isLeaf: true)
        return leaf
    }

    /// The same values with no autograd history.
    public func detached() -> Tensor {
        var copy = self
        copy.node = nil
        return copy
    }

    /// Attaches the tape entry of an op to `result` when any input requires a gradient.
    /// `backward` receives the gradient of `result` (same shape) and returns one gradient per
    /// input, shaped like that input, or nil for inputs that need none.
    public static func record(_ result: Tensor, op: String, inputs: [Tensor],
                              backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.node != nil }) else { return result }
        var output = result
        output.node = GradNode(op: op, parents: inputs.map(\.node), backward: backward, isLeaf: false)
        return output
    }

    /// Back-propagates from this tensor, accumulating gradients into leaves' `grad`.
    /// A non-scalar output needs an explicit `seed` of its shape.
    public func backward(seed: Tensor? = nil, retainGraph: Bool = false) throws {
        guard let root = node else {
            throw LoupeError("backward: tensor of shape \(describe(shape: shape)) does not require a gradient")
        }
        let start = try Tensor.seedGradient(for: self, seed: seed)
        _ = try Autograd.run(root: root, seed: start, targets: [], accumulateLeaves: true, retainGraph: retainGraph)
    }
}

/// The backward engine.
public enum Autograd {
    /// Gradients of `output` with respect to each tensor of `inputs` (leaves or intermediate
    /// results), without touching leaves' accumulated `grad`. Inputs the output does not depend
    /// on get zeros.
    public static func gradients(of output: Tensor, wrt inputs: [Tensor], seed: Tensor? = nil,
                                 retainGraph: Bool = false) throws -> [Tensor] {
        guard let root = output.node else {
            throw LoupeError("grad: the output does not depend on any tensor that requires a gradient")
        }
        var targets: [GradNode] = []
        for (index, input) in inputs.enumerated() {
            guard let node = input.node else {
                throw LoupeError("grad: input \(index) of shape \(describe(shape: input.shape)) does not require a gradient")
            }
            targets.append(node)
        }
        let start = try Tensor.seedGradient(for: output, seed: seed)
        let found = try run(root: root, seed: start, targets: targets, accumulateLeaves: false, retainGraph: retainGraph)
        return try zip(inputs, targets).map { input, node in
            try found[ObjectIdentifier(node)] ?? Tensor.zeros(input.shape)
        }
    }

    static func run(root: GradNode, seed: Tensor, targets: [GradNode], accumulateLeaves: Bool,
                    retainGraph: Bool) throws -> [ObjectIdentifier: Tensor] {
        let order = topologicalOrder(from: root)
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        let wanted = Set(targets.map(ObjectIdentifier.init))
        var found: [ObjectIdentifier: Tensor] = [:]
        try GradMode.withoutGrad {
            for node in order {
                let id = ObjectIdentifier(node)
                guard let gradient = pending.removeValue(forKey: id) else { continue }
                if wanted.contains(id) { found[id] = gradient }
                if node.isLeaf {
                    if accumulateLeaves {
                        node.grad = try node.grad.map { try $0 + gradient } ?? gradient
                    }
                    continue
                }
                guard let function = node.backwardFunction else {
                    throw LoupeError("backward: the graph through '\(node.op)' was already freed; pass retainGraph to backward twice")
                }
                let inputGrads = try function(gradient)
                if !retainGraph { node.backwardFunction = nil }
                for (parent, inputGrad) in zip(node.parents, inputGrads) {
                    guard let parent, let inputGrad else { continue }
                    let pid = ObjectIdentifier(parent)
                    if let existing = pending[pid] {
                        pending[pid] = try existing + inputGrad
                    } else {
                        pending[pid] = inputGrad
                    }
                }
            }
        }
        return found
    }

    /// Nodes reachable from `root`, each after every node that consumes it.
    static func topologicalOrder(from root: GradNode) -> [GradNode] {
        var visited = Set<ObjectIdentifier>()
        var postOrder: [GradNode] = []
        var stack: [(GradNode, Int)] = [(root, 0)]
        visited.insert(ObjectIdentifier(root))
        while let (node, next) = stack.popLast() {
            if next < node.parents.count {
                stack.append((node, next + 1))
                if let parent = node.parents[next], !visited.contains(ObjectIdentifier(parent)) {
                    visited.insert(ObjectIdentifier(parent))
                    stack.append((parent, 0))
                }
            } else {
                postOrder.append(node)
            }
        }
        return postOrder.reversed()
    }
}

extension Tensor {
    static func seedGradient(for output: Tensor, seed: Tensor?) throws -> Tensor {
        if let seed {
            guard seed.shape == output.shape else {
                throw LoupeError("backward: seed gradient shape \(describe(shape: seed.shape)) differs from output shape \(describe(shape: output.shape))")
            }
            return seed.detached()
        }
        guard output.count == 1 else {
            throw LoupeError("backward: output of shape \(describe(shape: output.shape)) is not a scalar; pass a seed gradient")
        }
        return try Tensor.ones(output.shape)
    }
}
