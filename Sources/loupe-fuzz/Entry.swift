import Foundation

#if FUZZING
/// The target libFuzzer drives, chosen by the LOUPE_FUZZ_TARGET environment variable.
let fuzzTarget: String = ProcessInfo.processInfo.environment["LOUPE_FUZZ_TARGET"] ?? "safetensors"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: size == 0 ? nil : UnsafeRawPointer(data), count: size)
    FuzzTargets.run(fuzzTarget, bytes)
    return 0
}

/// libFuzzer's driver entry (SwiftPM links this executable's `main` to the @main type below, so
/// libFuzzer's own main is not used; the driver is started from there).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@main
struct FuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, { data, size in fuzzOneInput(data, size) }))
    }
}
#else
/// Replay mode (the normal build): `loupe-fuzz TARGET FILE_OR_DIRECTORY...` runs every input
/// through the target and prints the outcome, to reproduce crashes found by `Scripts/fuzz`.
@main
struct Replay {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let target = arguments.first, FuzzTargets.names.contains(target) else {
            print("usage: loupe-fuzz TARGET FILE_OR_DIRECTORY...   (targets: \(FuzzTargets.names.joined(separator: ", ")))")
            print("Fuzzing itself: Scripts/fuzz TARGET SECONDS (builds with -DFUZZING -sanitize=fuzzer).")
            exit(arguments.isEmpty ? 0 : 2)
        }
        var files: [String] = []
        for path in arguments.dropFirst() {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += entries.sorted().map { path + "/" + $0 }
            } else {
                files.append(path)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                print("\(file): cannot read")
                continue
            }
            let outcome = data.withUnsafeBytes { FuzzTargets.run(target, $0) }
            print("\(file): \(outcome)")
        }
    }
}
#endif
