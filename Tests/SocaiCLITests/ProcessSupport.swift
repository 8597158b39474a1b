import Foundation

/// The `socai` executable built beside the test bundle (override with SOCAI_BINARY).
func socaiBinaryPath() -> String {
    if let override = ProcessInfo.processInfo.environment["SOCAI_BINARY"] { return override }
    var candidates: [URL] = []
    if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
    candidates.append(Bundle.main.bundleURL)
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    candidates.append(packageRoot.appendingPathComponent(".build/debug"))
    for directory in candidates {
        let path = directory.appendingPathComponent("socai").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    fatalError("the socai executable was not found next to the tests; run `swift build --build-tests` first (see Makefile)")
}

/// The result of running a command to completion.
struct CommandResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// A fresh directory removed at the end of the test.
final class TemporaryDirectory {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("socai-cli-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Runs `socai` with `arguments`, standard input from /dev/null, and `environment` added
/// to a minimal environment (no SOCAI_PASSPHRASE unless given).
func runSocai(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: socaiBinaryPath())
    process.arguments = arguments
    var base = ["PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path]
    base.merge(environment) { $1 }
    process.environment = base
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    // Standard error goes to a file, so reading standard output to its end cannot deadlock
    // against a child blocked on a full error pipe.
    let errorPath = FileManager.default.temporaryDirectory.appendingPathComponent("socai-stderr-\(UUID().uuidString)").path
    _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errorPath) }
    let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
    let output = Pipe()
    process.standardOutput = output
    process.standardError = errorHandle
    process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    try process.run()
    let outputBytes = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try errorHandle.close()
    let errorBytes = FileManager.default.contents(atPath: errorPath) ?? Data()
    return CommandResult(
        status: process.terminationStatus, standardOutput: String(decoding: outputBytes, as: UTF8.self),
        standardError: String(decoding: errorBytes, as: UTF8.self))
}

/// A small deterministic generator (SplitMix64), so a failing crash schedule reproduces from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
        return mixed ^ (mixed >> 31)
    }
}
