import Dispatch
import Foundation
import SocaiAudit
import SocaiCore

/// The auditor's replay: transactions per second over an exported chain of 200,000 signed
/// transfers, checked from genesis (signatures on all cores, execution, state roots), next to
/// the all-cores Ed25519 verify rate, each the best of its runs. Signature checking should be
/// the only real cost.
enum AuditBenchmarks {
    static let transactions = 200_000
    static let transactionsPerBlock = 500
    /// Whole replays run; the best is reported.
    static let replays = 3

    /// Runs the benchmark. `measureVerifyRate` measures the all-cores verify rate again: it
    /// runs right before and right after each replay, so that each replay is also compared
    /// with the verify rate of its own minute.
    static func run(verifyRateAllCores: Double, measureVerifyRate: () -> Double) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("socai-audit-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("chain.socai-export").path

        // Building is not timed: signing 200,000 transactions and executing them takes a while.
        let sample = try SampleChain(citizenCount: transactionsPerBlock * 2)
        let writer = try ChainExportWriter(path: path, genesisJSON: sample.genesisJSON)
        try sample.appendTransfers(transactions: transactions, perBlock: transactionsPerBlock) {
            try writer.append(blockBytes: $0.canonicalBytes, certificateBytes: $1.canonicalBytes)
        }
        try writer.finish()

        // The best of `replays` whole replays, as the verify rate it is compared with is the
        // best of its runs: on a shared machine one slow stretch should not decide either.
        var rates: [Double] = []
        var shares: [Double] = []
        var pairedRatios: [Double] = []
        var insideRatios: [Double] = []
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        var verifyBefore = measureVerifyRate()
        for _ in 0..<replays {
            let report = ReplayAuditor(genesis: sample.genesis).replay(try ExportBlockSource(path: path))
            let verifyAfter = measureVerifyRate()
            pairedRatios.append(100 * report.transactionsPerSecond / ((verifyBefore + verifyAfter) / 2))
            verifyBefore = verifyAfter
            precondition(report.valid, "the benchmark chain must replay: \(report.failure?.message ?? "")")
            precondition(report.finalStateRoot == sample.stateRoot.hex)
            rates.append(report.transactionsPerSecond)
            shares.append(100 * report.signatureCheckSeconds / max(report.processorSeconds, 1e-9))
            // The all-cores verify rate at the speed the replay's own checks ran: measured over
            // the same seconds as the replay, so a neighbour that slows the machine slows both.
            let verifyRateInside = Double(report.signaturesChecked) / max(report.signatureCheckSeconds, 1e-9) * cores
            insideRatios.append(100 * report.transactionsPerSecond / verifyRateInside)
        }
        let best = rates.max()!
        SocaiBenchmarks.report(
            "audit replay (\(transactions / 1000)k tx, \(transactionsPerBlock)/block)", best, "transactions/s")
        print("  (the \(replays) replays: \(rates.map { String(format: "%.0f", $0) }.joined(separator: ", ")) transactions/s)")
        SocaiBenchmarks.report("audit replay / all-cores verify rate", 100 * best / verifyRateAllCores, "% (target ≥ 70)")
        // On a shared machine the verify rate itself moves by a third within minutes, so the
        // ratio of two bests taken minutes apart moves with it. Each replay is also divided by
        // the mean of the verify rates measured just before and just after it.
        SocaiBenchmarks.report(
            "  each replay / verify rate around it", pairedRatios.sorted()[pairedRatios.count / 2],
            "% (median of \(replays); each: \(pairedRatios.map { String(format: "%.0f", $0) }.joined(separator: ", ")))")
        // The same question asked of processor time, which a busy neighbour moves much less
        // than it moves either rate: how much of the replay's cost is checking signatures.
        SocaiBenchmarks.report(
            "  signature checks / replay processor time", shares.sorted()[shares.count / 2], "% (median of \(replays))")
        SocaiBenchmarks.report(
            "  each replay / verify rate inside it", insideRatios.sorted()[insideRatios.count / 2],
            "% (median of \(replays); each: \(insideRatios.map { String(format: "%.0f", $0) }.joined(separator: ", ")))")
    }
}
