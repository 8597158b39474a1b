import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState

@testable import SocaiAudit
@testable import SocaiStore

/// A fresh directory removed when the value goes away.
final class ScratchDirectory {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("socai-audit-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// A six-block sample chain with consents, accesses, a revocation and transfers:
///
/// 1. citizens 0, 1 and 2 grant consents;
/// 2. a transfer, accesses under consents 0 and 1;
/// 3. two transfers, an access under consent 2 (transaction 1 is the access's neighbour);
/// 4. citizen 1 revokes consent 1, a transfer;
/// 5. an access under consent 0, a transfer;
/// 6. a transfer.
struct SampleFixture {
    let sample: SampleChain
    var blocks: [(block: Block, commit: CommitCertificate)] = []
    var consentIDs: [Hash] = []

    /// `forgeAt` = (height, index): that transaction's signature is corrupted before the block is built.
    init(forgeAt forged: (height: UInt64, index: Int)? = nil) throws {
        sample = try SampleChain(citizenCount: 10)
        func add(_ transactions: [TransactionEnvelope]) throws {
            var transactions = transactions
            let height = sample.height + 1
            if let forged, forged.height == height {
                var bytes = transactions[forged.index].signature.bytes
                bytes[0] ^= 0x01
                transactions[forged.index].signature = try Signature(bytes)
            }
            blocks.append(try sample.append(transactions, checkingSignatures: forged != nil))
        }
        let grants = try (0..<3).map { try sample.consentGrant(citizen: $0) }
        consentIDs = grants.map(\.hash)
        try add(grants)
        try add([
            try sample.transfer(from: 3, to: 4), try sample.access(consentID: consentIDs[0], label: "a"),
            try sample.access(consentID: consentIDs[1], label: "b"),
        ])
        try add([
            try sample.transfer(from: 5, to: 6), try sample.transfer(from: 6, to: 7),
            try sample.access(consentID: consentIDs[2], label: "c"),
        ])
        try add([try sample.consentRevoke(citizen: 1, consentID: consentIDs[1]), try sample.transfer(from: 8, to: 9)])
        try add([try sample.access(consentID: consentIDs[0], label: "d"), try sample.transfer(from: 9, to: 0)])
        try add([try sample.transfer(from: 0, to: 1)])
    }

    /// Writes the chain as an export file.
    func writeExport(to path: String) throws {
        let writer = try ChainExportWriter(path: path, genesisJSON: sample.genesisJSON)
        for (block, commit) in blocks {
            try writer.append(blockBytes: block.canonicalBytes, certificateBytes: commit.canonicalBytes)
        }
        try writer.finish()
    }

    /// Writes the chain into a node-style block store with ledger state, as a node would.
    func writeStore(to path: String) throws {
        let store = try BlockStore(path: path, chainID: sample.chainID, genesisHash: sample.genesis.hash)
        try store.initializeState(try LedgerExecutor.genesisChanges(sample.genesis, on: store.state))
        let executor = LedgerExecutor(chainID: sample.chainID)
        for (block, commit) in blocks { try store.appendExecuting(block, commit: commit, executor: executor) }
    }
}

/// Changes a store file as an attacker with file access would: the append-only triggers are
/// dropped first, then `sql` runs with `values`.
func tamper(_ path: String, _ sql: String, _ values: [SQLiteValue] = []) throws {
    let connection = try SQLiteConnection(path: path, create: false)
    try connection.execute("DROP TRIGGER IF EXISTS blocks_append_only_update; DROP TRIGGER IF EXISTS blocks_append_only_delete;")
    try connection.prepare(sql).run(values)
}

/// Replays an export file or a store against `genesis`.
func replay(genesis: Genesis, export path: String) throws -> ReplayReport {
    ReplayAuditor(genesis: genesis, workers: 2).replay(try ExportBlockSource(path: path))
}

/// Replays a store against `genesis`.
func replay(genesis: Genesis, store path: String) throws -> ReplayReport {
    ReplayAuditor(genesis: genesis, workers: 2).replay(try StoreBlockSource(path: path))
}
