import Foundation
import LoupeInversion
import LoupeTensor

/// A trained (or loaded) inverse chain as a Loupe value (`type(inv)` is `"inverse"`).
/// Attributes: `stages` (list of "from -> to"), `starts` (paths a reconstruction can start
/// from), `history` (record of per-epoch losses by stage), `mean`, `std`.
public final class InverseHandle: ScriptHandle {
    public let chain: InverseChain
    public var history: [(stage: String, losses: [Float])]

    public init(_ chain: InverseChain, history: [(stage: String, losses: [Float])] = []) {
        self.chain = chain
        self.history = history
    }

    public var typeName: String { "inverse" }

    public var summary: String {
        "inverse chain of \(chain.config.stages.count) stages (\(chain.startPaths.first ?? "?") -> pixels), \(chain.parameterCount) parameters"
    }

    public func attribute(_ name: String) throws -> Value? {
        switch name {
        case "stages": return .list(ListBox(chain.config.stages.map { .string("\($0.from) -> \($0.to)") }))
        case "starts": return .list(ListBox(chain.startPaths.map { .string($0) }))
        case "history": return .record(RecordBox(history.map { ($0.stage, .tensor(Tensor($0.losses))) }))
        case "mean": return .list(ListBox(chain.config.normalization.mean.map { .number(float: $0) }))
        case "std": return .list(ListBox(chain.config.normalization.std.map { .number(float: $0) }))
        default: return nil
        }
    }
}
