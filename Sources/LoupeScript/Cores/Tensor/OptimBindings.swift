import Foundation
import LoupeTensor

/// Optimisation from the language: `minimize` runs one of the tensor core's optimizers on a
/// Loupe function, with a progress bar on a terminal.
enum OptimBindings {
    static let all: [Builtin] = [
        Builtin("minimize(f, params, steps: 100, lr: 0.01, optimizer: \"adam\", momentum: 0, nesterov: false, weight_decay: nil, schedule: \"constant\", warmup: 0, clip: nil, label: \"minimize\")",
                """
                Minimises f(params...) (a one-element tensor) over the tensors or numbers in the list \
                `params` (a single tensor also works) for `steps` steps of `optimizer` ("adam", "adamw" \
                or "sgd" with `momentum` and `nesterov`), learning rate `lr`, optional `weight_decay` \
                (Adam: L2; AdamW: decoupled, default 0.01; SGD: L2), `schedule` "constant", "cosine" or \
                "step" (x0.1 every third of the run), `warmup` linear warm-up steps and `clip` (maximum \
                gradient norm). The inputs are copied, never changed. Shows a progress bar with loss and \
                ETA on a terminal; Ctrl-C stops it. Returns {params, loss, losses}: the optimised values \
                (a list, or a tensor when one was given), the final loss, and the loss of every step.
                """) { a in try minimize(a) },
    ]

    static func minimize(_ a: Arguments) throws -> Value {
        let name = a.builtin.name
        let f = try a.callable("f")
        let single: Bool
        let items: [Value]
        switch a["params"] {
        case .list(let list): items = list.items; single = false
        case .tensor, .number: items = [a["params"]]; single = true
        default: throw a.error("params", "\(name): params must be a list of tensors, got \(a["params"].typeName)")
        }
        guard !items.isEmpty else { throw a.error("params", "\(name): params is empty") }
        let parameters: [Tensor] = try items.map { item in
            switch item {
            case .tensor(let t): return t.contiguousCopy().requiringGrad()
            case .number(let n): return Tensor(Float(n)).requiringGrad()
            default: throw a.error("params", "\(name): params must be tensors or numbers, got \(item.typeName)")
            }
        }
        let steps = try a.int("steps")
        guard steps >= 1 else { throw a.error("steps", "\(name): steps must be at least 1, got \(steps)") }
        let rate = try a.number("lr")
        let kind = try a.choice("optimizer", ["adam", "adamw", "sgd"])
        var schedule: LearningRateSchedule
        switch try a.choice("schedule", ["constant", "cosine", "step"]) {
        case "cosine": schedule = try .cosine(rate, total: steps)
        case "step": schedule = try .step(rate, stepSize: max(1, steps / 3), gamma: 0.1)
        default: schedule = try .constant(rate)
        }
        let warmup = try a.int("warmup")
        if warmup > 0 { schedule = try schedule.withWarmup(steps: warmup) }
        let decay = try a.optionalNumber("weight_decay")
        let optimizer: Optimizer
        switch kind {
        case "sgd":
            optimizer = try SGD(parameters: parameters, learningRate: rate, momentum: a.number("momentum"),
                                nesterov: a.bool("nesterov"), weightDecay: decay ?? 0, schedule: schedule)
        case "adamw":
            optimizer = try AdamW(parameters: parameters, learningRate: rate, weightDecay: decay ?? 0.01, schedule: schedule)
        default:
            optimizer = try Adam(parameters: parameters, learningRate: rate, weightDecay: decay ?? 0, schedule: schedule)
        }
        let clip = try clipNorm(a, "clip")
        let bar = ProgressBar(try a.string("label"), total: steps)
        defer { bar.finish() }
        let arguments = parameters.map { Value.tensor($0) }
        var losses: [Float] = []
        losses.reserveCapacity(steps)
        let interpreter = a.interpreter
        let position = interpreter.builtinCallPos
        for step in 0..<steps {
            try interpreter.checkInterrupt(position)
            optimizer.zeroGrad()
            let out = try GradMode.withGrad { try interpreter.call(f, arguments, at: position) }
            guard case .tensor(let loss) = out, loss.count == 1 else {
                throw LoupeError("\(name): the function must return a one-element tensor, got \(out.typeName)")
            }
            guard loss.requiresGrad else {
                throw LoupeError("\(name): the function's result does not depend on params")
            }
            try loss.backward()
            if let clip { _ = try clipGradNorm(parameters, maxNorm: clip) }
            try optimizer.step()
            let value = try loss.item()
            losses.append(value)
            bar.update(step + 1, loss: Double(value))
        }
        // The loss at the final parameters, as the result reports it.
        let finalValue = try GradMode.withoutGrad { try interpreter.call(f, arguments, at: position) }
        guard case .tensor(let finalLoss) = finalValue, finalLoss.count == 1 else {
            throw LoupeError("\(name): the function must return a one-element tensor, got \(finalValue.typeName)")
        }
        let results: [Value] = zip(items, parameters).map { item, p in
            if case .number = item { return .number(Double(p.scalars[0])) }
            return .tensor(p.detached())
        }
        return .record(RecordBox([
            ("params", single ? results[0] : .list(ListBox(results))),
            ("loss", .number(Double(try finalLoss.item()))),
            ("losses", .tensor(Tensor(losses))),
        ]))
    }

    /// The maximum gradient norm argument of `minimize` and `train`: nil, or a finite number >= 0.
    static func clipNorm(_ a: Arguments, _ name: String) throws -> Double? {
        guard let clip = try a.optionalNumber(name) else { return nil }
        guard clip.isFinite, clip >= 0 else {
            throw a.error(name, "\(a.builtin.name): \(name) must be a number >= 0 (the maximum gradient norm), got \(Display.number(clip))")
        }
        return clip
    }
}
