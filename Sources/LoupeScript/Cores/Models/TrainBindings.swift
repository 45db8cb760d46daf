import Foundation
import LoupeModels
import LoupeTensor
import LoupeIO

/// Training and evaluating classifiers from the language: `train` and `evaluate` on the
/// models core's `Trainer`.
enum TrainBindings {
    static let all: [Builtin] = [
        Builtin("train(m, data, epochs: 10, batch: 128, lr: 0.001, optimizer: \"adamw\", schedule: \"cosine\", augment: false, test: nil, weight_decay: 0.05, warmup: 0, label_smoothing: 0, clip: nil, momentum: 0.9, seed: nil, label: \"train\")",
                methodOf: "model",
                """
                Trains the classifier m in place with cross-entropy. data is a record {images [N, C, H, W], \
                labels [N]} (as `dataset` returns) or a data set name ("fashion-mnist": its train split, \
                tested on its test split). Runs `epochs` passes over shuffled batches of `batch` images with \
                `optimizer` ("adamw", "adam" or "sgd" with `momentum`), learning rate `lr` on a `schedule` \
                ("cosine" to 0 over all steps, "constant", or "step": x0.1 at each third) after `warmup` \
                epochs of linear warm-up; `weight_decay` applies to weight matrices and kernels only; \
                `label_smoothing` and `clip` (maximum gradient norm) as in PyTorch. `augment`: false, true \
                (left-right flip and a random crop after 2-pixel padding) or a record {flip, crop}. \
                `test`: a record evaluated after every epoch. Shuffling and augmentation draw from the \
                session's seeded generator (or from `seed`). Shows a progress bar (loss, accuracy, \
                images/s, ETA) on a terminal; Ctrl-C stops it. Returns the history {loss, accuracy, \
                test_loss, test_accuracy, seconds, images_per_second, lr}: one number per epoch each \
                (test values nil without a test set).
                """) { a in try train(&a) },
        Builtin("evaluate(m, data, batch: 500)", methodOf: "model",
                "The mean cross-entropy and accuracy of classifier m on data (a record {images, labels} or a data set name, whose test split is used), as a record {loss, accuracy}. No gradients; batch norm uses its running statistics.") { a in
            let handle = try ModelBindings.model(a, "m")
            let data = try labeledImages(a, "data", defaultSplit: "test").data
            let batch = try a.int("batch")
            guard batch >= 1 else { throw a.error("batch", "evaluate: batch must be at least 1, got \(batch)") }
            handle.module.setTraining(false)
            let interpreter = a.interpreter, position = interpreter.builtinCallPos
            let result = try Trainer.evaluate(handle.module, data, batchSize: batch) {
                try interpreter.checkInterrupt(position)
            }
            return .record(RecordBox([("loss", .number(result.loss)), ("accuracy", .number(result.accuracy))]))
        },
    ]

    static func train(_ a: inout Arguments) throws -> Value {
        let name = a.builtin.name
        let handle = try ModelBindings.model(a, "m")
        let (data, classes, namedTest) = try labeledImages(a, "data", defaultSplit: "train")
        var test: LabeledImages? = namedTest
        if !a.isNil("test") { test = try labeledImages(a, "test", defaultSplit: "test").data }
        guard let optimizer = TrainingOptions.OptimizerKind(rawValue: try a.choice("optimizer", ["adamw", "adam", "sgd"])),
              let schedule = TrainingOptions.ScheduleKind(rawValue: try a.choice("schedule", ["cosine", "constant", "step"])) else {
            throw LoupeError("\(name): unknown optimizer or schedule")
        }
        let seed = try trainingSeed(a)
        let options = TrainingOptions(
            epochs: try a.int("epochs"), batchSize: try a.int("batch"), learningRate: try a.number("lr"),
            optimizer: optimizer, weightDecay: try a.number("weight_decay"), momentum: try a.number("momentum"), nesterov: false,
            schedule: schedule, warmupEpochs: try a.number("warmup"), labelSmoothing: try a.float("label_smoothing"),
            clipNorm: try OptimBindings.clipNorm(a, "clip"), augmentation: try augmentation(a, "augment"), seed: seed)
        let trainer = try Trainer(model: handle.module, options: options)
        trainer.checkStop = stopCheck(a) { [unowned trainer] in trainer.progress }
        trainer.label = try a.string("label")
        if let test, try outputClasses(handle.module, test) == nil {
            throw LoupeError("\(name): the model does not return logits [N, classes] for the test images")
        }
        if handle.classNames == nil, let classes { handle.classNames = classes }
        let records = try trainer.fit(data, test: test)
        func series(_ values: [Double?]) -> Value {
            .list(ListBox(values.map { $0.map { Value.number($0) } ?? .null }))
        }
        return .record(RecordBox([
            ("loss", series(records.map(\.loss))),
            ("accuracy", series(records.map(\.accuracy))),
            ("test_loss", series(records.map(\.testLoss))),
            ("test_accuracy", series(records.map(\.testAccuracy))),
            ("seconds", series(records.map(\.seconds))),
            ("images_per_second", series(records.map(\.imagesPerSecond))),
            ("lr", series(records.map(\.learningRate))),
        ]))
    }

    /// A training builtin's list of steps (>= 1) after which a copy is kept (argument `name`).
    static func snapshotSteps(_ a: Arguments, _ name: String) throws -> Set<Int> {
        guard !a.isNil(name) else { return [] }
        return Set(try a.list(name).items.map { item -> Int in
            guard case .number(let n) = item, n >= 1, n == n.rounded() else { throw a.typeError(name, "a list of step numbers") }
            return Int(n)
        })
    }

    /// The `seed` argument of a training builtin, or (when nil) a seed drawn from the session's
    /// generator, so that a replayed session trains the same way.
    static func trainingSeed(_ a: Arguments) throws -> UInt64 {
        if a.isNil("seed") { return UInt64(a.interpreter.rng.next()) << 32 | UInt64(a.interpreter.rng.next()) }
        let value = try a.int("seed")
        guard value >= 0 else { throw a.error("seed", "\(a.builtin.name): seed must be >= 0, got \(value)") }
        return UInt64(value)
    }

    /// The check a trainer runs between steps: Ctrl-C stops it with a message saying how far
    /// training got and what the model (argument `m`) now holds.
    static func stopCheck(_ a: Arguments, progress: @escaping () -> TrainingProgress) -> () throws -> Void {
        let interpreter = a.interpreter, position = interpreter.builtinCallPos
        let modelName = interpreter.sourceName(at: a.position(of: "m")) ?? "the model"
        return {
            try interpreter.checkInterrupt(position) {
                let p = progress()
                return "at step \(p.completedSteps) of \(p.stepsPerEpoch) in epoch \(p.epoch) of \(p.epochs); "
                    + "\(modelName) keeps the weights of step \(p.completedSteps)"
            }
        }
    }

    /// The number of classes the model predicts for the first test image, or nil when its
    /// output is not `[1, classes]`.
    private static func outputClasses(_ model: Module, _ data: LabeledImages) throws -> Int? {
        let first = try data.images.sliced(axis: 0, start: 0, end: 1)
        let logits = try GradMode.withoutGrad { try ForwardContext().run(model, first) }
        guard logits.rank == 2, logits.shape[0] == 1 else { return nil }
        guard let top = data.labels.max(), top < logits.shape[1] else {
            throw LoupeError("train: labels go up to \(data.labels.max() ?? 0) but the model has \(logits.shape[1]) classes")
        }
        return logits.shape[1]
    }

    /// Images and labels from a record {images, labels, classes?} or a data set name (then
    /// `defaultSplit` is read and, for training, the test split is returned too).
    static func labeledImages(_ a: Arguments, _ name: String, defaultSplit: String) throws
        -> (data: LabeledImages, classes: [String]?, test: LabeledImages?) {
        let op = a.builtin.name
        switch a[name] {
        case .string(let name):
            guard name == "fashion-mnist" else {
                throw a.error(name, "\(op): unknown data set '\(name)' (available: fashion-mnist)")
            }
            try a.interpreter.checkFileAccess(op)
            let set = try FashionMNIST()
            func load(_ split: String) throws -> LabeledImages {
                let examples = try set.load(split)
                return try LabeledImages(images: examples.images, labels: examples.labels.scalars.map { Int($0) })
            }
            let data = try load(defaultSplit)
            let test = defaultSplit == "train" ? try load("test") : nil
            return (data, FashionMNIST.classNames, test)
        case .record(let record):
            guard case .tensor(let images)? = record["images"] else {
                throw a.error(name, "\(op): data must have a tensor 'images' [N, C, H, W] (keys: \(record.keys.joined(separator: ", ")))")
            }
            let labels: [Int]
            switch record["labels"] {
            case .tensor(let t)?:
                labels = try t.scalars.map { value in
                    guard value >= 0, value.rounded() == value else {
                        throw a.error(name, "\(op): label \(value) is not a class index")
                    }
                    return Int(value)
                }
            case .list(let list)?:
                labels = try list.items.map { item in
                    guard case .number(let n) = item, n >= 0, n.rounded() == n else {
                        throw a.error(name, "\(op): label \(item.display) is not a class index")
                    }
                    return Int(n)
                }
            default:
                throw a.error(name, "\(op): data must have 'labels' (a tensor or list of class indices)")
            }
            var classes: [String]?
            if case .list(let names)? = record["classes"] {
                classes = names.items.map(\.text)
            }
            return (try LabeledImages(images: images, labels: labels, op: op), classes, nil)
        default:
            throw a.error(name, "\(op): data must be a record {images, labels} or a data set name, got \(a[name].typeName)")
        }
    }

    /// `augment`: false/nil, true (flip + 2-pixel crop) or {flip, crop}.
    private static func augmentation(_ a: Arguments, _ name: String) throws -> Augmentation {
        switch a[name] {
        case .null, .bool(false): return .none
        case .bool(true): return .standard
        case .record(let record):
            var result = Augmentation.none
            for key in record.keys {
                switch (key, record[key]) {
                case ("flip", .bool(let flip)?): result.horizontalFlip = flip
                case ("crop", .number(let pad)?) where pad >= 0 && pad == pad.rounded(): result.cropPadding = Int(pad)
                default:
                    throw a.error(name, "\(a.builtin.name): augment record takes flip (bool) and crop (pixels of padding), got \(key): \(record[key]?.display ?? "nil")")
                }
            }
            return result
        default:
            throw a.error(name, "\(a.builtin.name): augment must be true, false or a record {flip, crop}, got \(a[name].typeName)")
        }
    }
}
