import Foundation
import LoupeTensor

/// The general core's builtins.
enum GeneralBindings {
    static let all: [Builtin] = [
        Builtin("print(*values)", "Prints the values separated by spaces (strings without quotes) and returns nil.") { a in
            let items = try a.list("values").items
            a.interpreter.output(items.map(\.text).joined(separator: " "))
            return .null
        },
        Builtin("len(x)", "The number of items of a list, characters of a string, keys of a record, or the size of a tensor's first axis.") { a in
            switch a["x"] {
            case .list(let l): return .number(Double(l.items.count))
            case .string(let s): return .number(Double(stringLength(s)))
            case .record(let r): return .number(Double(r.count))
            case .tensor(let t):
                guard t.rank > 0 else { throw LoupeError("len: a rank-0 tensor has no length") }
                return .number(Double(t.shape[0]))
            default: throw a.typeError("x", "a list, string, record or tensor")
            }
        },
        Builtin("range(start, stop: nil, step: 1)", "A list of integers: range(n) is 0..<n, range(a, b) is a..<b, with an optional step (which may be negative).") { a in
            var start = try a.int("start"), stop: Int
            if a.isNil("stop") { stop = start; start = 0 } else { stop = try a.int("stop") }
            let step = try a.int("step")
            guard step != 0 else { throw a.error("step", "range: step cannot be zero") }
            let n = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            try ScriptLimits.checkList(n, "range")
            return .list(ListBox(stride(from: start, to: stop, by: step).map { .number(Double($0)) }))
        },
        Builtin("keys(record)", methodOf: "record", "The keys of a record, in insertion order, as a list of strings.") { a in
            .list(ListBox(try a.record("record").keys.map { .string($0) }))
        },
        Builtin("values(record)", methodOf: "record", "The values of a record, in key order.") { a in
            let r = try a.record("record")
            return .list(ListBox(r.keys.map { r[$0]! }))
        },
        Builtin("has(record, key)", methodOf: "record", "Whether a record has the given key.") { a in
            .bool(try a.record("record")[try a.string("key")] != nil)
        },
        Builtin("append(list, value)", methodOf: "list", "Appends a value to a list in place and returns the list.") { a in
            let l = try a.list("list")
            l.items.append(a["value"])
            return .list(l)
        },
        Builtin("pop(list)", methodOf: "list", "Removes and returns the last item of a list.") { a in
            let l = try a.list("list")
            guard let v = l.items.popLast() else { throw LoupeError("pop: the list is empty") }
            return v
        },
        Builtin("reverse(list)", methodOf: "list", "A reversed copy of a list.") { a in
            .list(ListBox(try a.list("list").items.reversed()))
        },
        Builtin("map(list, f)", methodOf: "list", "A list of f(item) for every item.") { a in
            let f = try a.callable("f")
            // The items (f may change the list) and the results so far are kept while f runs.
            let items = try a.list("list").items
            let results = ListBox([])
            if items.contains(where: \.canReachEnvironment) { a.interpreter.keepAlive(.list(ListBox(items))) }
            a.interpreter.keepAlive(.list(results))
            for item in items { results.items.append(try a.interpreter.call(f, [item], at: a.interpreter.builtinCallPos)) }
            return .list(results)
        },
        Builtin("join(list, separator: \"\")", methodOf: "list", "The items' text joined with a separator.") { a in
            // The texts' UTF-8 bytes with the separator's between them, made into a string once.
            let items = try a.list("list").items
            let separator = try a.string("separator")
            var bytes: [UInt8] = []
            bytes.reserveCapacity(items.reduce(max(0, items.count - 1) * separator.utf8.count) {
                if case .string(let t) = $1 { return $0 + t.utf8.count }
                return $0
            })
            func append(_ text: String) {
                if text.utf8.withContiguousStorageIfAvailable({ bytes.append(contentsOf: $0) }) == nil {
                    bytes.append(contentsOf: text.utf8)
                }
            }
            for (k, item) in items.enumerated() {
                if k > 0 { append(separator) }
                if case .string(let t) = item { append(t) } else { append(item.text) }
            }
            return .string(String(decoding: bytes, as: UTF8.self))
        },
        Builtin("split(text, separator: \" \")", methodOf: "string", "Splits a string at every occurrence of a separator.") { a in
            let sep = try a.string("separator")
            guard !sep.isEmpty else { throw a.error("separator", "split: separator cannot be empty") }
            return .list(ListBox(try a.string("text").components(separatedBy: sep).map { .string($0) }))
        },
        Builtin("upper(text)", methodOf: "string", "The string in upper case.") { a in .string(try a.string("text").uppercased()) },
        Builtin("lower(text)", methodOf: "string", "The string in lower case.") { a in .string(try a.string("text").lowercased()) },
        Builtin("type(x)", "The type name of a value: nil, bool, number, string, list, record, tensor, function, or a handle's type.") { a in
            .string(a["x"].typeName)
        },
        Builtin("str(x)", "The display text of a value (strings unchanged).") { a in .string(a["x"].text) },
        Builtin("num(x)", "Converts a string, bool or one-element tensor to a number.") { a in
            switch a["x"] {
            case .string(let s):
                guard let n = Double(s.trimmingCharacters(in: .whitespaces)) else { throw a.error("x", "num: cannot convert \"\(s)\" to a number") }
                return .number(n)
            default: return .number(try a.number("x"))
            }
        },
        Builtin("abs(x)", methodOf: "tensor", "Absolute value of a number, or elementwise of a tensor.") { a in
            if case .tensor(let t) = a["x"] { return .tensor(t.abs()) }
            return .number(Swift.abs(try a.number("x")))
        },
        Builtin("sqrt(x)", methodOf: "tensor", "Square root of a number, or elementwise of a tensor.") { a in
            if case .tensor(let t) = a["x"] { return .tensor(t.sqrt()) }
            let x = try a.number("x")
            guard x >= 0 else { throw a.error("x", "sqrt: argument 'x' must be non-negative, got \(Display.number(x))") }
            return .number(x.squareRoot())
        },
        Builtin("floor(x)", "The largest integer not above x.") { a in .number((try a.number("x")).rounded(.down)) },
        Builtin("round(x, digits: 0)", "x rounded to a number of decimal digits.") { a in
            let p = Foundation.pow(10.0, Double(try a.int("digits")))
            return .number((try a.number("x") * p).rounded() / p)
        },
        Builtin("min(*values)", "The smallest of numbers given as arguments or as one list.") { a in try extremum(a, <) },
        Builtin("max(*values)", "The largest of numbers given as arguments or as one list.") { a in try extremum(a, >) },
        Builtin("assert(condition, message: \"assertion failed\")", "Raises an error with the message when the condition is false.") { a in
            if !a["condition"].isTruthy { throw LoupeError("assert: \(try a.string("message"))") }
            return .null
        },
        Builtin("error(message)", "Raises an error with the given message.") { a in throw LoupeError(try a.string("message")) },
        Builtin("seed(n)", "Resets the random generator (PCG32) to seed n, making rand, randn and every random core reproducible.") { a in
            let n = try a.int("n")
            guard n >= 0 else { throw a.error("n", "seed: argument 'n' must be non-negative, got \(n)") }
            a.interpreter.rng = RandomGenerator(seed: UInt64(n))
            a.interpreter.seedValue = UInt64(n)
            return .null
        },
        Builtin("env(name, default: nil)", "The value of environment variable `name` as a string, or `default` when it is not set: lets a script take a model path from the command line (LOUPE_MODEL=... loupe run script.loupe).") { a in
            let name = try a.string("name")
            if let value = ProcessInfo.processInfo.environment[name] { return .string(value) }
            return a["default"]
        },
        Builtin("time(f)", "Calls f() and returns a record {value, ms} with its result and the wall time in milliseconds.") { a in
            let f = try a.callable("f")
            let start = DispatchTime.now().uptimeNanoseconds
            let v = try a.interpreter.call(f, [], at: a.interpreter.builtinCallPos)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
            return .record(RecordBox([("value", v), ("ms", .number((ms * 1000).rounded() / 1000))]))
        },
        Builtin("help(name: nil)", "With no argument, lists every builtin; with a name (string or function), prints its signature and doc.") { a in
            a.interpreter.output(try GeneralBindings.help(a["name"], a.interpreter))
            return .null
        },
    ]

    static func extremum(_ a: Arguments, _ better: (Double, Double) -> Bool) throws -> Value {
        let name = a.builtin.name
        var items = try a.list("values").items
        if items.count == 1, case .list(let l) = items[0] { items = l.items }
        guard !items.isEmpty else { throw LoupeError("\(name): needs at least one number") }
        var best = Double.nan
        for v in items {
            guard case .number(let n) = v else { throw LoupeError("\(name): expected numbers, got \(v.typeName)") }
            if best.isNaN || better(n, best) { best = n }
        }
        return .number(best)
    }

    /// The text `help` prints.
    static func help(_ v: Value, _ interpreter: Interpreter) throws -> String {
        switch v {
        case .null:
            let names = interpreter.builtins.keys.sorted()
            var lines = ["Builtins (help(\"name\") for details):"]
            var line = " "
            for n in names {
                if line.count + n.count > 78 { lines.append(line); line = " " }
                line += " " + n
            }
            lines.append(line)
            return lines.joined(separator: "\n")
        case .string(let s):
            guard let b = interpreter.builtins[s] else {
                if let v = interpreter.variable(s) { return try help(v, interpreter) }
                throw LoupeError("help: no builtin named '\(s)'")
            }
            let versions = b.overloads.isEmpty ? [b] : b.overloads.keys.sorted().compactMap { b.overloads[$0] }
            return versions.map { version in
                // A method named differently (amax is x.max()) is shown by its own name.
                let method = version.methodOf.map { type in
                    version.methodName.map { "  (also the \(type) method .\($0)())" } ?? "  (also a method of \(type))"
                } ?? ""
                return "\(version.signature)\(method)\n  \(version.doc)"
            }.joined(separator: "\n")
        case .builtin(let b), .boundMethod(let b, _): return try help(.string(b.name), interpreter)
        case .function(let c):
            return Display.render(v) + "  defined at \(c.decl.source.name):\(c.decl.pos.line)"
        default:
            throw LoupeError("help: argument 'name' must be a string or function, got \(v.typeName)")
        }
    }
}
