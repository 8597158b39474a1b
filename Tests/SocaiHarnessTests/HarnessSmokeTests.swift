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

    /// Runs the manifest `name` from Nodes/manifests with seed 1 and expects every invariant
    /// to hold; returns the report.
    func runPassing(_ name: String) throws -> HarnessReport {
        let manifest = try HarnessManifest.load(
            path: Self.packageRoot.appendingPathComponent("Nodes/manifests/\(name).json").path)
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("socai-harness-\(UUID().uuidString)").path
        let configuration = HarnessRunConfiguration(
            manifest: manifest, seed: 1, binaryPath: Self.socaiBinaryPath(), runsDirectory: runs
        ) { _ in }
        let report = try HarnessRunner(configuration: configuration).run()
        #expect(report.passed, "\(report.text)")
        #expect(report.workload.acknowledged > 0, "\(report.text)")
        #expect(report.invariants.count == InvariantName.allCases.count)
        // The run passed, so its directory is gone.
        #expect(!FileManager.default.fileExists(atPath: report.runDirectory))
        // A failed run keeps its logs for diagnosis; a passing one leaves nothing behind.
        if report.passed { try? FileManager.default.removeItem(atPath: runs) }
        return report
    }

    @Test(.timeLimit(.minutes(5)))
    func theSmokeManifestPassesEveryInvariant() throws {
        let report = try runPassing("smoke")
        #expect(report.nodes.reduce(0) { $0 + $1.restarts } == 1)
    }

    /// Governance raises node4's power mid-run (in force two heights later) and node1 is then
    /// killed: the live nodes must check every certificate against the set in force at its
    /// height, agree, and keep committing with the new majority.
    @Test(.timeLimit(.minutes(5)))
    func aValidatorSetChangeTakesForceOnALiveNetwork() throws {
        let report = try runPassing("validator-change")
        #expect(report.nodes.reduce(0) { $0 + $1.restarts } == 1)
    }

    /// One validator signs a conflicting twin of every vote: the others must detect it, gossip
    /// the evidence, commit it in blocks, and keep agreeing; the audit replays the evidence.
    @Test(.timeLimit(.minutes(5)))
    func aByzantineValidatorsEquivocationIsCommittedAsEvidence() throws {
        // The harness sets SOCAI_ALLOW_BYZANTINE for the byzantine node's process alone.
        let report = try runPassing("byzantine")
        let evidence = report.invariants.first { $0.name == .evidenceCommitted }
        #expect(evidence?.passed == true)
        // "N piece(s) of evidence committed"; "no validator equivocated" would mean the fault
        // never took effect.
        let detail = evidence?.detail ?? ""
        #expect(detail.hasSuffix("piece(s) of evidence committed") && (Int(detail.prefix { $0 != " " }) ?? 0) > 0, "\(detail)")
    }
}
