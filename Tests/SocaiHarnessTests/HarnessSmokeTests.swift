import Foundation
import SocaiHarness
import Testing

/// The `smoke` manifest against real `socai node start` processes: four validators, a light
/// workload and one SIGKILL; every invariant must hold.
@Suite(.serialized) struct HarnessSmokeTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The `socai` executable built beside the tests (override with SOCAI_BINARY).
    static func socaiBinaryPath() -> String {
        if let override = ProcessInfo.processInfo.environment["SOCAI_BINARY"] { return override }
        var candidates: [URL] = []
        if let executable = Bundle.main.executableURL { candidates.append(executable.deletingLastPathComponent()) }
        candidates.append(Bundle.main.bundleURL)
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        candidates.append(packageRoot.appendingPathComponent(".build/debug"))
        for directory in candidates {
            let path = directory.appendingPathComponent("socai").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        fatalError("the socai executable was not found next to the tests; run `swift build --build-tests` first")
    }

    @Test(.timeLimit(.minutes(5)))
    func theSmokeManifestPassesEveryInvariant() throws {
        let manifest = try HarnessManifest.load(path: Self.packageRoot.appendingPathComponent("Nodes/manifests/smoke.json").path)
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("socai-harness-\(UUID().uuidString)").path
        let configuration = HarnessRunConfiguration(
            manifest: manifest, seed: 1, binaryPath: Self.socaiBinaryPath(), runsDirectory: runs
        ) { _ in }
        let report = try HarnessRunner(configuration: configuration).run()
        #expect(report.passed, "\(report.text)")
        #expect(report.workload.acknowledged > 0, "\(report.text)")
        #expect(report.nodes.reduce(0) { $0 + $1.restarts } == 1)
        #expect(report.invariants.count == InvariantName.allCases.count)
        // The run passed, so its directory is gone.
        #expect(!FileManager.default.fileExists(atPath: report.runDirectory))
        // A failed run keeps its logs for diagnosis; a passing one leaves nothing behind.
        if report.passed { try? FileManager.default.removeItem(atPath: runs) }
    }
}
