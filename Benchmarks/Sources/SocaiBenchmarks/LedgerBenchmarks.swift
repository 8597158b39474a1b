import Dispatch
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState

/// Ledger execution: transactions applied per second with signatures already verified, the
/// rate the state machine alone allows.
enum LedgerBenchmarks {
    static let blocks = 20
    static let transactionsPerBlock = 500

    static func run() throws {
        let chainID = try ChainID("socai-bench")
        let governance = try SigningKey(seed: SHA256.hash(Array("bench governance".utf8)))
        let provider = try SigningKey(seed: SHA256.hash(Array("bench provider".utf8)))
        let consumer = try SigningKey(seed: SHA256.hash(Array("bench consumer".utf8)))
        let citizens = (0..<transactionsPerBlock).map { try! SigningKey(seed: SHA256.hash(Array("bench citizen \($0)".utf8))) }
        let genesis = try Genesis(
            file: Genesis.File(
                chainID: chainID.value, genesisTimeMilliseconds: 1_000,
                validators: [Genesis.ValidatorEntry(name: "v", publicKey: Hex.encode(governance.publicKey), power: 1)],
                governance: Genesis.Governance(keys: [Hex.encode(governance.publicKey)], threshold: 1),
                organizations: [
                    Genesis.OrganizationEntry(name: "Provider", publicKey: Hex.encode(provider.publicKey), roles: [.provider]),
                    Genesis.OrganizationEntry(name: "Consumer", publicKey: Hex.encode(consumer.publicKey), roles: [.consumer]),
                ],
                accounts: citizens.map { Genesis.AccountEntry(publicKey: Hex.encode($0.publicKey), balance: 1_000_000) }))
        let backend = InMemoryStateBackend()
        backend.apply(try LedgerExecutor.genesisChanges(genesis, on: backend))
        let executor = LedgerExecutor(chainID: chainID)
        let providerDID = DID(initialKey: PublicKey(of: provider))
        let consumerDID = DID(initialKey: PublicKey(of: consumer))
        let categories = [try DataCategory("civil-status")]
        let purpose = try Purpose(code: "loan-assessment", text: "Assess a loan")

        // Block 1: every citizen grants consent. Later blocks: accesses under those consents
        // and transfers between citizens, alternating — the two commonest kinds.
        var blocksToRun: [Block] = []
        var consentIDs: [Hash] = []
        var nonces = [UInt64](repeating: 0, count: citizens.count)
        var providerNonce: UInt64 = 0
        func header(_ height: UInt64, _ transactions: [TransactionEnvelope]) -> BlockHeader {
            BlockHeader(
                chainID: chainID, height: height, timeMilliseconds: 1_000 + height * 1_000, previousBlockHash: .zero,
                lastCommitHash: .zero,
                transactionsRoot: Block.transactionsRoot(transactions), evidenceRoot: Block.evidenceRoot([]), stateRoot: .zero,
                validatorsHash: .zero, proposer: PublicKey(of: governance))
        }
        var grants: [TransactionEnvelope] = []
        for (index, citizen) in citizens.enumerated() {
            nonces[index] += 1
            let grant = ConsentGrant(
                subject: DID(initialKey: PublicKey(of: citizen)), consumer: consumerDID, provider: providerDID, purpose: purpose,
                categories: categories, mode: .view, validFromMilliseconds: 0, validUntilMilliseconds: UInt64.max)
            let envelope = try grant.envelope(chainID: chainID, key: citizen, nonce: nonces[index])
            grants.append(envelope)
            consentIDs.append(envelope.hash)
        }
        let setup = Block(header: header(1, grants), lastCommit: nil, transactions: grants, evidence: [])
        backend.apply(try executor.execute(setup, on: backend, signaturesVerified: true).changes)
        for height in 2...UInt64(blocks + 1) {
            var transactions: [TransactionEnvelope] = []
            for (index, citizen) in citizens.enumerated() {
                if (index + Int(height)) % 2 == 0 {
                    providerNonce += 1
                    let access = AccessRecord(
                        consentID: consentIDs[index], provider: providerDID, consumer: consumerDID, categories: categories,
                        purposeCode: purpose.code, deliveredHash: Hash.sha256(Array("\(height)-\(index)".utf8)))
                    transactions.append(try access.envelope(chainID: chainID, key: provider, nonce: providerNonce))
                } else {
                    nonces[index] += 1
                    let to = DID(initialKey: PublicKey(of: citizens[(index + 1) % citizens.count]))
                    let transfer = Transfer(from: DID(initialKey: PublicKey(of: citizen)), to: to, amount: 1)
                    transactions.append(try transfer.envelope(chainID: chainID, key: citizen, nonce: nonces[index]))
                }
            }
            blocksToRun.append(
                Block(header: header(height, transactions), lastCommit: nil, transactions: transactions, evidence: []))
        }

        var applied = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for block in blocksToRun {
            let execution = try executor.execute(block, on: backend, signaturesVerified: true)
            precondition(execution.outcomes.allSatisfy { $0.code == .ok }, "benchmark transactions must all apply")
            backend.apply(execution.changes)
            applied += block.transactions.count
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        SocaiBenchmarks.report(
            "ledger execute, signatures pre-verified (\(transactionsPerBlock)/block)", Double(applied) / seconds, "transactions/s"
        )
    }
}
