import Dispatch
import Foundation
import SocaiAudit
import SocaiCore

/// The auditor's replay: transactions per second over an exported chain of 200,000 signed
/// transfers, checked from genesis (signatures on all cores, execution, state roots), next to
/// the all-cores Ed25519 verify rate. Signature checking should be the only real cost.
enum AuditBenchmarks {
    static let transactions = 200_000
    static let transactionsPerBlock = 500

    static func run(verifyRateAllCores: Double) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("socai-audit-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("chain.socai-export").path

        // Building is not timed: signing 200,000 transactions and executing them takes a while.
        let sample = try SampleChain(citizenCount: transactionsPerBlock * 2)
        let writer = try ChainExportWriter(path: path, genesisJSON: sample.genesisJSON)
        var remaining = transactions
        var round = 0
        while remaining > 0 {
            let count = min(transactionsPerBlock, remaining)
            let offset = (round % 2) * count
            let envelopes = try (0..<count).map { index in
                try sample.transfer(from: offset + index, to: (offset + index + 1) % sample.citizens.count)
            }
            let (block, commit) = try sample.append(envelopes)
            try writer.append(blockBytes: block.canonicalBytes, certificateBytes: commit.canonicalBytes)
            remaining -= count
            round += 1
        }
        try writer.finish()

        let report = ReplayAuditor(genesis: sample.genesis).replay(try ExportBlockSource(path: path))
        precondition(report.valid, "the benchmark chain must replay: \(report.failure?.message ?? "")")
        precondition(report.finalStateRoot == sample.stateRoot.hex)
        SocaiBenchmarks.report(
            "audit replay (\(transactions / 1000)k tx, \(transactionsPerBlock)/block)", report.transactionsPerSecond,
            "transactions/s")
        SocaiBenchmarks.report(
            "audit replay / all-cores verify rate", 100 * report.transactionsPerSecond / verifyRateAllCores, "% (target ≥ 70)")
    }
}
