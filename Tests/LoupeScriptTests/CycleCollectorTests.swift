import XCTest
@testable import LoupeScript
import LoupeTensor

/// The cycle collector frees the environments of finished calls that closures kept in a cycle
/// (checked with weak references), with their tensors, and never empties one a program can
/// still reach.
final class CycleCollectorTests: XCTestCase {
    /// Weak references filled by the test builtin `track(x)`: a closure's environment or a
    /// tensor's storage.
    final class Tracker {
        struct Reference { weak var object: AnyObject? }
        var references: [Reference] = []
        var alive: Int { references.filter { $0.object != nil }.count }
    }

    /// An interpreter with `track(x)` and `alive()` (how many tracked objects are alive), whose
    /// printed lines go to the returned list.
    func makeInterpreter(collectEvery interval: Int? = nil) throws -> (Interpreter, Tracker, () -> [String]) {
        let tracker = Tracker()
        let probes = CustomCore(name: "test probes", builtins: [
            Builtin("track(x)", "Tracks a function's environment or a tensor's storage weakly.") { a in
            switch a["x"] {
            case .function(let closure): tracker.references.append(.init(object: closure.env))
            case .tensor(let t): tracker.references.append(.init(object: t.storage))
            default: throw LoupeError("track: expected a function or a tensor")
            }
            return .null
            },
            Builtin("alive()", "How many tracked objects are alive.") { _ in
                .number(Double(tracker.alive))
            },
        ])
        let interpreter = Interpreter(table: try BuiltinTable(cores: ScriptCores.standard + [probes]))
        interpreter.cycles.fixedInterval = interval
        var lines: [String] = []
        interpreter.output = { lines.append($0) }
        return (interpreter, tracker, { lines })
    }

    @discardableResult
    func run(_ interpreter: Interpreter, _ code: String) throws -> Value? {
        try interpreter.run(SourceFile(name: "test", text: code))
    }

    /// A number or one-element tensor as a number.
    func number(_ value: Value?) -> Double? {
        switch value {
        case .number(let n): return n
        case .tensor(let t) where t.count == 1: return (try? t.item()).map(Double.init)
        default: return nil
        }
    }

    func testRecursiveLocalFunctionLeaksWithoutCollectionAndIsFreedByIt() throws {
        let (interpreter, tracker, _) = try makeInterpreter()
        try run(interpreter, """
            fn f(n)
              big = zeros(1000)
              fn down(k)
                if k == 0
                  return big.sum()
                end
                return down(k - 1)
              end
              track(down)
              track(big)
              return down(n)
            end
            """)
        // Called from Swift, outside a run: nothing collects, and the cycle keeps both alive.
        let f = try XCTUnwrap(interpreter.variable("f"))
        XCTAssertEqual(number(try interpreter.call(f, [.number(3)], at: SourcePos(line: 0, column: 0))), 0)
        XCTAssertEqual(tracker.alive, 2)
        interpreter.collectCycles()
        XCTAssertEqual(tracker.alive, 0)
        // Inside a run, the end of the run collects.
        XCTAssertEqual(number(try run(interpreter, "f(4)")), 0)
        XCTAssertEqual(tracker.references.count, 4)
        XCTAssertEqual(tracker.alive, 0)
    }

    func testLambdaInLocalIsFreed() throws {
        let (interpreter, tracker, _) = try makeInterpreter()
        let value = try run(interpreter, """
            fn f(x)
              big = ones(100)
              g = fn(y) y + big.sum() end
              track(g)
              track(big)
              return g(x)
            end
            f(1)
            """)
        XCTAssertEqual(number(value), 101)
        XCTAssertEqual(tracker.references.count, 2)
        XCTAssertEqual(tracker.alive, 0)
    }

    func testClosuresInLocalListAndRecordAreFreed() throws {
        let (interpreter, tracker, _) = try makeInterpreter()
        let value = try run(interpreter, """
            fn f()
              big = ones(10)
              helpers = [fn() big.sum() end]
              table = {h: fn() 2 * big.sum() end}
              track(helpers[0])
              track(table.h)
              track(big)
              return helpers[0]() + table.h()
            end
            f()
            """)
        XCTAssertEqual(number(value), 30)
        XCTAssertEqual(tracker.references.count, 3)
        XCTAssertEqual(tracker.alive, 0)
    }

    func testEnvironmentIsFreedAfterAnErrorUnwindsTheCall() throws {
        let (interpreter, tracker, _) = try makeInterpreter()
        XCTAssertThrowsError(try run(interpreter, """
            fn inner()
              big = zeros(100)
              fn helper() big end
              track(helper)
              track(big)
              error("boom")
            end
            fn outer()
              fn again() outer end
              track(again)
              return inner()
            end
            outer()
            """)) { error in
            XCTAssertTrue((error as? ScriptError)?.message.contains("boom") ?? false, "\(error)")
        }
        XCTAssertEqual(tracker.references.count, 3)
        XCTAssertEqual(tracker.alive, 0)
        XCTAssertTrue(interpreter.frames.isEmpty)
        XCTAssertTrue(interpreter.temporaries.isEmpty)
    }

    func testReturnedClosureKeepsWorkingUntilDropped() throws {
        let (interpreter, tracker, _) = try makeInterpreter(collectEvery: 0)
        try run(interpreter, """
            fn make_counter()
              count = 0
              big = zeros(100)
              fn next()
                nonlocal count
                count = count + 1
                return count
              end
              track(next)
              track(big)
              return next
            end
            c = make_counter()
            """)
        XCTAssertEqual(tracker.alive, 2)
        try run(interpreter, "c()")
        XCTAssertEqual(number(try run(interpreter, "c()")), 2)
        XCTAssertEqual(tracker.alive, 2)
        try run(interpreter, "c = nil")
        XCTAssertEqual(tracker.alive, 0)
    }

    func testClosuresInGlobalListsAndRecordsPersistAcrossRuns() throws {
        let (interpreter, tracker, _) = try makeInterpreter(collectEvery: 0)
        try run(interpreter, """
            fn make(k)
              fn get() return k end
              track(get)
              return get
            end
            saved = [make(1)]
            registry = {two: make(2)}
            """)
        for _ in 0..<3 { try run(interpreter, "make(0)") }
        XCTAssertEqual(number(try run(interpreter, "saved[0]() + registry.two()")), 3)
        XCTAssertEqual(tracker.alive, 2)
        try run(interpreter, "saved.pop()\nnil")
        XCTAssertEqual(tracker.alive, 1)
        try run(interpreter, "registry = nil")
        XCTAssertEqual(tracker.alive, 0)
    }

    func testValueOfARunStaysUsable() throws {
        let (interpreter, _, _) = try makeInterpreter(collectEvery: 0)
        try run(interpreter, """
            fn make(k)
              fn get() return k end
              return get
            end
            """)
        let get = try XCTUnwrap(try run(interpreter, "make(5)"))
        XCTAssertEqual(number(try interpreter.call(get, [], at: SourcePos(line: 0, column: 0))), 5)
    }

    /// Garbage does not pile up while one top-level statement runs a long loop, inside a function
    /// or inside a builtin calling back.
    func testCollectsDuringLongRunningStatements() throws {
        let (interpreter, tracker, _) = try makeInterpreter()
        let value = try run(interpreter, """
            fn step(i)
              big = zeros(100)
              fn helper() big end
              track(helper)
              return helper().sum() + i
            end
            fn train(n)
              worst = 0
              for i in range(n)
                step(i)
                worst = max(worst, alive())
              end
              return worst
            end
            worst_in_loop = train(3000)
            worst_in_map = 0
            fn mapped(i)
              global worst_in_map
              step(i)
              worst_in_map = max(worst_in_map, alive())
              return i
            end
            range(3000).map(mapped)
            [worst_in_loop, worst_in_map]
            """)
        guard case .list(let worst) = value else { return XCTFail("expected a list, got \(String(describing: value))") }
        XCTAssertEqual(tracker.references.count, 6000)
        // Without collection all 3000 would be alive; the collector lets a few dozen pile up
        // (more when it has more to trace, here map's list of results).
        for item in worst.items {
            let n = try XCTUnwrap(number(item))
            XCTAssertLessThan(n, 150)
        }
        XCTAssertEqual(tracker.alive, 0)
    }

    /// Values held while an expression is computed survive a collection at every call.
    func testTemporariesSurviveCollectionAtEveryCall() throws {
        let (interpreter, _, lines) = try makeInterpreter(collectEvery: 0)
        try run(interpreter, """
            fn make(k)
              fn get() return k end
              return get
            end
            fn id(x) return x end
            fn add(f, g) return f() + g() end
            print([make(1), id(2), make(3)][2]())
            print({a: make(4), b: id(make(5))}.a())
            print(add(make(10), make(20)))
            print([make(6), make(7)][id(1)]())
            holder = [nil]
            holder[id(0)] = make(8)
            print(holder[0]())
            print(range(3).map(make).map(fn(f) f() end))
            fns = [make(1), make(2), make(3)]
            total = 0
            for f in fns
              fns.pop()
              total = total + f()
            end
            print(total)
            fn twice(f) return fn(x) f(f(x)) end end
            print(twice(fn(x) x * make(3)() end)(2))
            fn counter()
              n = 0
              fn bump()
                nonlocal n
                n = n + 1
                return n
              end
              return {bump: bump}
            end
            c = counter()
            c.bump()
            print(c.bump() + make(100)())
            fn nested(depth)
              fn here() depth end
              if depth == 0
                return [here]
              end
              return nested(depth - 1) + [id(here)]
            end
            print(nested(4).map(fn(f) f() end))
            """)
        XCTAssertEqual(lines(), ["3", "4", "30", "7", "8", "[0, 1, 2]", "6", "18", "102", "[0, 1, 2, 3, 4]"])
    }

    /// Every language test script passes with a collection at every call.
    func testScriptsWithCollectionAtEveryCall() throws {
        try ScriptTests.checkScripts {
            let interpreter = try Interpreter()
            interpreter.cycles.fixedInterval = 0
            return interpreter
        }
    }
}
