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
        try sample.appendTransfers(transactions: transactions, perBlock: transactionsPerBlock) {
            try writer.append(blockBytes: $0.canonicalBytes, certificateBytes: $1.canonicalBytes)
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
