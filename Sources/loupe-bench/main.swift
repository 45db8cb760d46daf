import Foundation
import LoupeTensor

/// loupe-bench: Loupe's kernels against in-process references (direct sgemm, memcpy) and,
/// with `--torch FILE` (written by Scripts/bench_torch.py), PyTorch on the same workloads.
///
///     loupe-bench [--quick] [--torch FILE] [--filter TEXT]
let usage = "usage: loupe-bench [--quick] [--torch FILE] [--filter TEXT]"

var torchPath: String?
var filter: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--quick": Timing.settings = .quick; Timing.quick = true
    case "--torch": torchPath = arguments.popFirst()
    case "--filter": filter = arguments.popFirst()
    case "-h", "--help": print(usage); exit(0)
    default:
        FileHandle.standardError.write("loupe-bench: unknown argument '\(argument)'\n\(usage)\n".data(using: .utf8)!)
        exit(2)
    }
}

func wanted(_ name: String) -> Bool {
    guard let filter else { return true }
    return name.localizedCaseInsensitiveContains(filter)
}

do {
    let torch = try torchPath.map(TorchResults.load)
    var rows: [BenchRow] = []
    func add(_ name: String, _ make: () throws -> BenchRow) throws {
        guard wanted(name) else { return }
        var row = try make()
        if let (value, unit) = torch?.rows[row.name], unit == row.unit.rawValue { row.torch = value }
        rows.append(row)
        FileHandle.standardError.write("  measured \(row.name)\n".data(using: .utf8)!)
    }
    for n in [256, 512, 1024, 2048] {
        try add("matmul \(n)") { try CoreWorkloads.matmul(n) }
    }
    try add("add [1576, 3072]") { try CoreWorkloads.add() }
    try add("transpose copy [3072, 1576]") { try CoreWorkloads.transposeCopy() }
    try add("adamw step vit-b block (7.1M)") { try CoreWorkloads.adamWStep() }
    try add("sgd momentum step vit-b block (7.1M)") { try CoreWorkloads.sgdStep() }
    try ModelWorkloads.run(add: add)
    try NetworkWorkloads.run(add: add)
    try DETRWorkloads.run(add: add)
    try InversionWorkloads.run(add: add)
    try VisualizationWorkloads.run(add: add)
    try PaintingWorkloads.run(add: add)
    try DiTWorkloads.run(add: add)
    try DiTWorkloads.runTraining(add: add)
    try VAEWorkloads.run(add: add)
    try GraftingWorkloads.run(add: add)
    TablePrinter.print(rows, torchVersion: torch?.version)
    if let load = loadAverage(), load > Double(ProcessInfoCores.count) / 2 {
        print(String(format: "Warning: 1-minute load average %.1f on %d cores; other processes compete,\n"
                     + "so absolute numbers and the PyTorch column (measured in a separate run) are noisy.\n"
                     + "Loupe/ref pairs are measured interleaved and are the more reliable ratios.", load, ProcessInfoCores.count))
    }
} catch {
    FileHandle.standardError.write("\(error)\n".data(using: .utf8)!)
    exit(1)
}

/// The 1-minute load average, when the system reports it.
func loadAverage() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8),
          let first = text.split(separator: " ").first else { return nil }
    return Double(first)
}
