import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState
import Testing

@testable import SocaiAudit
@testable import SocaiStore

/// Replay from the genesis file alone: an honest chain ends at its state root; every kind of
/// tampering is found at exactly its height, in words.
@Suite struct ReplayAuditorTests {
    @Test func anHonestExportReplaysToTheChainsStateRoot() throws {
        let directory = ScratchDirectory()
        let fixture = try SampleFixture()
        let path = directory.file("chain.socai-export")
        try fixture.writeExport(to: path)
        let report = try replay(genesis: fixture.sample.genesis, export: path)
        #expect(report.valid)
        #expect(report.failure == nil)
        #expect(report.blocks == 6)
        #expect(report.finalHeight == 6)
        #expect(report.transactions == 14)
        // 14 transactions and 4 precommits per certificate; each last commit equals the
        // certificate already checked, so it is not counted twice.
        #expect(report.signaturesChecked == 14 + 6 * 4)
        #expect(report.validatorSetChanges == 0)
        #expect(report.finalStateRoot == fixture.sample.stateRoot.hex)
        // 38 signature checks took some processor time, part of the whole process's.
        #expect(report.signatureCheckSeconds > 0)
        #expect(report.signatureCheckSeconds <= report.processorSeconds)
    }

    @Test func theReplayHoldsExactlyTheCurrentTreesNodes() throws {
        let directory = ScratchDirectory()
        let fixture = try SampleFixture()
        let path = directory.file("chain.socai-export")
        try fixture.writeExport(to: path)
        let auditor = ReplayAuditor(genesis: fixture.sample.genesis, workers: 2)
        let report = auditor.replay(try ExportBlockSource(path: path))
        #expect(report.failure == nil)
        #expect(report.finalStateRoot == fixture.sample.stateRoot.hex)
        // Every node a block replaced was released as it went: what is held is exactly what
        // the final root reaches, and its leaves are exactly the state's entries.
        let (leaves, reachable) = auditor.backend.walkTree()
        #expect(reachable > 10)
        #expect(auditor.backend.nodeCount == reachable)
        let entries = try auditor.backend.entries(withPrefix: [], after: nil, limit: Int.max)
        let expected = entries.map { (StateKey.treeKey($0.key), StateKey.treeValue($0.value)) }.sorted { $0.0 < $1.0 }
        #expect(leaves.map(\.key) == expected.map(\.0))
        #expect(leaves.map(\.valueHash) == expected.map(\.1))
    }

    @Test func anHonestStoreReplaysAndMatchesTheNodesRecords() throws {
        let directory = ScratchDirectory()
        let fixture = try SampleFixture()
        let path = directory.file("chain.sqlite")
        try fixture.writeStore(to: path)
        let report = try replay(genesis: fixture.sample.genesis, store: path)
        #expect(report.failure == nil)
        #expect(report.finalHeight == 6)
        #expect(report.finalStateRoot == fixture.sample.stateRoot.hex)
    }

    /// An auditor replays a chain by the rules of its own format version: version 1 chains,
    /// made before version 2, still hold from their genesis file.
    @Test(arguments: Genesis.formatVersionsKnown)
    func aChainReplaysByTheRulesOfItsFormatVersion(formatVersion: UInt8) throws {
        let directory = ScratchDirectory()
        let sample = try SampleChain(citizenCount: 2, formatVersion: formatVersion)
        let newcomer = try SigningKey(seed: SHA256.hash(Array("newcomer".utf8)))
        let citizen = sample.citizens[0]
        let service = try DIDService(id: "inbox", type: "DIDCommMessaging", endpoint: "https://a.example")
        var blocks = [
            try sample.append([
                try sample.sign(DIDCreate(did: sample.did(newcomer)), with: newcomer),
                try sample.sign(DIDUpdate(did: sample.did(citizen), operations: [.addService(service)]), with: citizen),
            ])
        ]
        blocks.append(try sample.append([try sample.transfer(from: 1, to: 0)]))
        let path = directory.file("chain.socai-export")
        let writer = try ChainExportWriter(path: path, genesisJSON: sample.genesisJSON)
        for (block, commit) in blocks {
            try writer.append(blockBytes: block.canonicalBytes, certificateBytes: commit.canonicalBytes)
        }
        try writer.finish()
        let auditor = ReplayAuditor(genesis: sample.genesis, workers: 2)
        let report = auditor.replay(try ExportBlockSource(path: path))
        #expect(report.failure == nil)
        #expect(report.formatVersion == formatVersion)
        #expect(report.finalStateRoot == sample.stateRoot.hex)
        // The replayed history: version 1 files every version, version 2 superseded ones only.
        func versions(_ did: DID) throws -> [UInt64] {
            try auditor.backend.entries(withPrefix: StateKey.didVersionPrefix(did), after: nil, limit: 10).map {
                try DIDRecord(canonicalBytes: $0.value).version
            }
        }
        #expect(try versions(sample.did(newcomer)) == (formatVersion == 1 ? [1] : []))
        #expect(try versions(sample.did(citizen)) == (formatVersion == 1 ? [1, 2] : [1]))
    }

    @Test func anotherGenesisIsRefusedBeforeBlockOne() throws {
        let directory = ScratchDirectory()
        let fixture = try SampleFixture()
        let path = directory.file("chain.socai-export")
        try fixture.writeExport(to: path)
        let other = try SampleChain(citizenCount: 11).genesis
        let report = try replay(genesis: other, export: path)
        #expect(report.failure?.code == .genesis)
        #expect(report.failure?.height == nil)
        #expect(report.finalHeight == 0)
    }

    /// Stores the honest fixture, applies `change` to the file, replays, and returns the failure.
    func tamperedStoreFailure(
        _ fixture: SampleFixture, _ change: (String) throws -> Void
    ) throws -> ReplayReport.Failure? {
        let directory = ScratchDirectory()
        let path = directory.file("chain.sqlite")
        try fixture.writeStore(to: path)
        try change(path)
        let report = try replay(genesis: fixture.sample.genesis, store: path)
        #expect(!report.valid)
        return report.failure
    }

    @Test func aTamperedTransactionIsFoundAtItsBlock() throws {
        let fixture = try SampleFixture()
        let (block, _) = fixture.blocks[2]
        var transactions = block.transactions
        transactions[1].payload[transactions[1].payload.count - 1] ^= 0x01
        let tampered = Block(header: block.header, lastCommit: block.lastCommit, transactions: transactions, evidence: [])
        let failure = try tamperedStoreFailure(fixture) { path in
            try tamper(path, "UPDATE blocks SET block = ? WHERE height = 3", [.blob(tampered.canonicalBytes)])
        }
        #expect(
            failure?.message
                == "block 3: transactions root differs: header \(block.header.transactionsRoot), computed \(Block.transactionsRoot(transactions))"
        )
        #expect(failure?.height == 3)
    }

    @Test func aTamperedHeaderNoLongerMatchesItsCertificate() throws {
        let fixture = try SampleFixture()
        var (block, _) = fixture.blocks[2]
        let original = block.hash
        block.header.timeMilliseconds += 1
        let failure = try tamperedStoreFailure(fixture) { path in
            try tamper(path, "UPDATE blocks SET block = ? WHERE height = 3", [.blob(block.canonicalBytes)])
        }
        #expect(
            failure?.message
                == "block 3: the commit certificate is for block \(original) at height 3, not this block (\(block.hash))")
    }

    @Test func aForgedTransactionSignatureIsFoundAtItsTransaction() throws {
        // The validators committed a block holding a forged transaction (it executed as
        // invalidSignature): the chain is consistent, but the auditor refuses the signature.
        let fixture = try SampleFixture(forgeAt: (height: 3, index: 1))
        let directory = ScratchDirectory()
        let path = directory.file("chain.socai-export")
        try fixture.writeExport(to: path)
        let report = try replay(genesis: fixture.sample.genesis, export: path)
        #expect(report.failure?.message == "block 3, transaction 1: signature does not verify")
        #expect(report.failure?.transactionIndex == 1)
        #expect(report.failure?.code == .transactionSignature)
        #expect(report.finalHeight == 2)
    }

    @Test func aTamperedCommitSignatureIsFound() throws {
        let fixture = try SampleFixture()
        let (_, commit) = fixture.blocks[2]
        var signatures = commit.signatures
        var bytes = signatures[0].signature.bytes
        bytes[10] ^= 0x01
        signatures[0] = CommitSignature(validator: signatures[0].validator, signature: try Signature(bytes))
        let tampered = try CommitCertificate(
            height: commit.height, round: commit.round, blockID: commit.blockID, signatures: signatures)
        let failure = try tamperedStoreFailure(fixture) { path in
            try tamper(path, "UPDATE blocks SET commit_certificate = ? WHERE height = 3", [.blob(tampered.canonicalBytes)])
        }
        #expect(failure?.message == "block 3: commit signature of validator \(signatures[0].validator) does not verify")
    }

    @Test func aCommitWithoutAQuorumIsFound() throws {
        let fixture = try SampleFixture()
        let (_, commit) = fixture.blocks[2]
        let weak = try CommitCertificate(
            height: commit.height, round: commit.round, blockID: commit.blockID, signatures: Array(commit.signatures.prefix(2)))
        let failure = try tamperedStoreFailure(fixture) { path in
            try tamper(path, "UPDATE blocks SET commit_certificate = ? WHERE height = 3", [.blob(weak.canonicalBytes)])
        }
        #expect(failure?.message == "block 3: commit has 2 of 4 voting power, needs more than 2/3")
    }

    @Test func aDeletedBlockIsFoundAtItsHeight() throws {
        let fixture = try SampleFixture()
        let failure = try tamperedStoreFailure(fixture) { path in try tamper(path, "DELETE FROM blocks WHERE height = 3") }
        #expect(failure?.message == "block 3: the block is missing from the store (its tip is 6)")
        #expect(failure?.code == .missingBlock)
    }

    @Test func tamperedStateRowsAreFound() throws {
        let fixture = try SampleFixture()
        let forged = Hash.sha256(Array("forged".utf8))
        let rootFailure = try tamperedStoreFailure(fixture) { path in
            try tamper(path, "UPDATE state_roots SET root = ? WHERE height = 3", [.blob(forged.bytes)])
        }
        #expect(rootFailure?.message.hasPrefix("block 3: recorded state root differs: recorded \(forged), replayed ") == true)

        // Block 3's first transaction's result, found where its outcome record places it.
        let resultFailure = try tamperedStoreFailure(fixture) { path in
            try tamper(path, "UPDATE transaction_results SET code = 150 WHERE height = 3 AND position = 0")
        }
        #expect(
            resultFailure?.message
                == "block 3, transaction 0: result differs: recorded insufficientFunds (150) at block 3, transaction 0; replayed ok (0)"
        )

        // A value kept beside its leaf (every version of it) no longer hashes to the leaf's.
        let balanceKey = StateKey.balance(fixture.sample.did(fixture.sample.citizens[4]))
        let stateFailure = try tamperedStoreFailure(fixture) { path in
            try tamper(
                path, "UPDATE state_values SET value = ? WHERE key = ?",
                [.blob(AmountRecord(5).canonicalBytes), .blob(balanceKey)])
        }
        #expect(stateFailure?.height == 6)
        #expect(stateFailure?.code == .source)
        #expect(
            stateFailure?.message.hasPrefix("block 6: cannot read the node's state: the value beside the leaf at location ")
                == true)

        // The table the listing queries read: a row changed, and a row gone.
        let indexPrefix = Array("index/".utf8)
        let listedFailure = try tamperedStoreFailure(fixture) { path in
            try tamper(
                path, "UPDATE state SET value = x'00' WHERE key IN (SELECT key FROM state WHERE substr(key, 1, 6) = ? LIMIT 1)",
                [.blob(indexPrefix)])
        }
        #expect(
            listedFailure?.message.hasPrefix("block 6: the node's listed state and the replay differ at key \"index/") == true)
        let missingFailure = try tamperedStoreFailure(fixture) { path in
            try tamper(
                path, "DELETE FROM state WHERE key IN (SELECT key FROM state WHERE substr(key, 1, 6) = ? LIMIT 1)",
                [.blob(indexPrefix)])
        }
        #expect(missingFailure?.message.contains("the node's listed state") == true)
    }

    @Test func governanceValidatorChangesAreFollowed() throws {
        let sample = try SampleChain(citizenCount: 4)
        let newcomer = try SigningKey(seed: SHA256.hash(Array("audit newcomer".utf8)))
        let directory = ScratchDirectory()
        let path = directory.file("chain.socai-export")
        let writer = try ChainExportWriter(path: path, genesisJSON: sample.genesisJSON)
        func add(_ transactions: [TransactionEnvelope]) throws {
            let (block, commit) = try sample.append(transactions)
            try writer.append(blockBytes: block.canonicalBytes, certificateBytes: commit.canonicalBytes)
        }
        // Decided in block 1, in force from block 3 (H + 2).
        try add([try sample.setValidatorPower(PublicKey(of: newcomer), power: 1)])
        try add([try sample.transfer(from: 0, to: 1)])
        try sample.switchValidators(to: sample.validatorKeys + [newcomer])
        try add([try sample.transfer(from: 1, to: 2)])
        try add([try sample.transfer(from: 2, to: 3)])
        try writer.finish()
        let report = try replay(genesis: sample.genesis, export: path)
        #expect(report.failure == nil)
        #expect(report.validatorSetChanges == 1)
        #expect(report.finalStateRoot == sample.stateRoot.hex)
    }

    @Test func aBlockSignedByTheOldSetAfterAChangeIsRefused() throws {
        let sample = try SampleChain(citizenCount: 4)
        let newcomer = try SigningKey(seed: SHA256.hash(Array("audit newcomer".utf8)))
        let directory = ScratchDirectory()
        let path = directory.file("chain.socai-export")
        let writer = try ChainExportWriter(path: path, genesisJSON: sample.genesisJSON)
        for transactions in [
            [try sample.setValidatorPower(PublicKey(of: newcomer), power: 1)], [try sample.transfer(from: 0, to: 1)],
            [try sample.transfer(from: 1, to: 2)],
        ] {
            let (block, commit) = try sample.append(transactions)
            try writer.append(blockBytes: block.canonicalBytes, certificateBytes: commit.canonicalBytes)
        }
        try writer.finish()
        let report = try replay(genesis: sample.genesis, export: path)
        let newSet = try ValidatorSet(
            (sample.validatorKeys + [newcomer]).map { Validator(publicKey: PublicKey(of: $0), power: 1) })
        #expect(
            report.failure?.message
                == "block 3: validators hash differs: header \(sample.genesis.validatorSet.hash), set in force \(newSet.hash)")
    }

    /// Two prevotes by `key` at `height`, round 0, for two different blocks; `forgeSecond`
    /// flips a bit of the second signature.
    static func equivocation(
        _ sample: SampleChain, key: SigningKey, height: UInt64, forgeSecond: Bool = false
    ) throws -> DuplicateVoteEvidence {
        func prevote(_ label: String) throws -> Vote {
            var vote = Vote(
                type: .prevote, height: height, round: 0, blockID: Hash.sha256(Array(label.utf8)),
                validator: PublicKey(of: key))
            vote.signature = Signature(signing: vote.signingBytes(chainID: sample.chainID), with: key)
            return vote
        }
        var second = try prevote("block y")
        if forgeSecond {
            var bytes = second.signature.bytes
            bytes[5] ^= 0x10
            second.signature = try Signature(bytes)
        }
        return try DuplicateVoteEvidence(try prevote("block x"), second)
    }

    /// Replays a four-block chain whose block 3 commits `evidence`.
    func replayWithEvidence(_ sample: SampleChain, _ evidence: [DuplicateVoteEvidence]) throws -> ReplayReport {
        let directory = ScratchDirectory()
        let path = directory.file("chain.socai-export")
        let writer = try ChainExportWriter(path: path, genesisJSON: sample.genesisJSON)
        for height in 1...4 {
            let (block, commit) = try sample.append(
                [try sample.transfer(from: height - 1, to: height)], evidence: height == 3 ? evidence : [])
            try writer.append(blockBytes: block.canonicalBytes, certificateBytes: commit.canonicalBytes)
        }
        try writer.finish()
        return try replay(genesis: sample.genesis, export: path)
    }

    @Test func committedEvidenceIsVerifiedAndCounted() throws {
        let sample = try SampleChain(citizenCount: 6)
        let evidence = try Self.equivocation(sample, key: sample.validatorKeys[2], height: 2)
        let report = try replayWithEvidence(sample, [evidence])
        #expect(report.failure == nil)
        #expect(report.finalStateRoot == sample.stateRoot.hex)
        // 4 transactions, 4 certificates of 4 precommits, and the evidence's two votes.
        #expect(report.signaturesChecked == 4 + 4 * 4 + 2)
    }

    @Test func evidenceWithAForgedVoteIsFoundAtItsBlock() throws {
        let sample = try SampleChain(citizenCount: 6)
        let key = sample.validatorKeys[1]
        let evidence = try Self.equivocation(sample, key: key, height: 2, forgeSecond: true)
        let report = try replayWithEvidence(sample, [evidence])
        #expect(report.failure?.code == .evidence)
        #expect(report.failure?.height == 3)
        #expect(
            report.failure?.message
                == "block 3: evidence 0: evidence against \(PublicKey(of: key)) carries an invalid vote signature")
    }

    @Test func evidenceAgainstANonValidatorIsFoundAtItsBlock() throws {
        let sample = try SampleChain(citizenCount: 6)
        let outsider = try SigningKey(seed: SHA256.hash(Array("audit outsider".utf8)))
        let evidence = try Self.equivocation(sample, key: outsider, height: 1)
        let report = try replayWithEvidence(sample, [evidence])
        #expect(report.failure?.code == .evidence)
        #expect(report.failure?.height == 3)
        #expect(report.failure?.message.contains("which is not a validator at height 1") == true)
    }

    @Test func evidenceFromAFutureHeightIsRefused() throws {
        let sample = try SampleChain(citizenCount: 6)
        let evidence = try Self.equivocation(sample, key: sample.validatorKeys[0], height: 4)
        let report = try replayWithEvidence(sample, [evidence])
        #expect(report.failure?.code == .evidence)
        #expect(report.failure?.message == "block 3: evidence 0 is for height 4, after this block")
    }

    @Test func aBlockProposedByANonValidatorIsFoundAtItsHeight() throws {
        let sample = try SampleChain(citizenCount: 6)
        let outsider = PublicKey(of: try SigningKey(seed: SHA256.hash(Array("audit outside proposer".utf8))))
        let directory = ScratchDirectory()
        let path = directory.file("chain.socai-export")
        let writer = try ChainExportWriter(path: path, genesisJSON: sample.genesisJSON)
        for height in 1...4 {
            // Certified by the whole set, executed correctly: only the named proposer is wrong.
            let (block, commit) = try sample.append(
                [try sample.transfer(from: height - 1, to: height)], proposer: height == 3 ? outsider : nil)
            try writer.append(blockBytes: block.canonicalBytes, certificateBytes: commit.canonicalBytes)
        }
        try writer.finish()
        let report = try replay(genesis: sample.genesis, export: path)
        #expect(report.failure?.code == .validators)
        #expect(report.failure?.height == 3)
        #expect(report.failure?.message == "block 3: proposer \(outsider) is not in the validator set in force")
    }

    @Test func aStoreWrittenBeforeSetsWereRecordedGetsTheGenesisSetFromHeightOne() throws {
        let sample = try SampleChain(citizenCount: 6)
        let directory = ScratchDirectory()
        let path = directory.file("chain.sqlite")
        let executor = LedgerExecutor(chainID: sample.chainID)
        do {
            let store = try BlockStore(path: path, chainID: sample.chainID, genesisHash: sample.genesis.hash)
            try store.initializeState(try LedgerExecutor.genesisChanges(sample.genesis, on: store.state))
            for index in 0..<3 {
                let (block, commit) = try sample.append([try sample.transfer(from: index, to: index + 1)])
                try store.appendExecuting(block, commit: commit, executor: executor)
            }
        }
        // As a store written before sets were recorded: none is.
        try tamper(path, "DELETE FROM validator_sets")
        let store = try BlockStore(path: path, chainID: sample.chainID, genesisHash: sample.genesis.hash)
        #expect(try store.validatorSet(inForceAt: 2) == nil)
        try store.completeValidatorSetHistory(genesisSet: sample.genesis.validatorSet)
        #expect(try store.validatorSet(inForceAt: 1) == sample.genesis.validatorSet)
        #expect(try store.validatorSet(inForceAt: 2) == sample.genesis.validatorSet)
        // Complete already: a second call changes nothing.
        try store.completeValidatorSetHistory(genesisSet: sample.genesis.validatorSet)
    }

    @Test func aSetHistoryGapOverAChangeCannotBeFilledIn() throws {
        let sample = try SampleChain(citizenCount: 6)
        let newcomer = try SigningKey(seed: SHA256.hash(Array("audit gap newcomer".utf8)))
        let directory = ScratchDirectory()
        let path = directory.file("chain.sqlite")
        _ = try Self.storeWithASetChange(sample, adding: newcomer, at: path)
        // No set recorded at all: block 3 names the grown set, so genesis's cannot stand in.
        try tamper(path, "DELETE FROM validator_sets")
        let store = try BlockStore(path: path, chainID: sample.chainID, genesisHash: sample.genesis.hash)
        do {
            try store.completeValidatorSetHistory(genesisSet: sample.genesis.validatorSet)
            Issue.record("a gap over a set change was filled in with the genesis set")
        } catch {
            #expect(error.message.contains("block 3 names a set other than genesis's"))
        }
        #expect(try store.validatorSet(inForceAt: 1) == nil)
    }

    /// A store at `path` with four blocks of `sample`, in which governance adds `newcomer`:
    /// decided in block 1, in force from block 3 (H + 2).
    static func storeWithASetChange(_ sample: SampleChain, adding newcomer: SigningKey, at path: String) throws -> BlockStore {
        let store = try BlockStore(path: path, chainID: sample.chainID, genesisHash: sample.genesis.hash)
        try store.initializeState(try LedgerExecutor.genesisChanges(sample.genesis, on: store.state))
        let executor = LedgerExecutor(chainID: sample.chainID)
        func add(_ transactions: [TransactionEnvelope]) throws {
            let (block, commit) = try sample.append(transactions)
            try store.appendExecuting(block, commit: commit, executor: executor)
        }
        try add([try sample.setValidatorPower(PublicKey(of: newcomer), power: 1)])
        try add([try sample.transfer(from: 0, to: 1)])
        try sample.switchValidators(to: sample.validatorKeys + [newcomer])
        try add([try sample.transfer(from: 1, to: 2)])
        try add([try sample.transfer(from: 2, to: 3)])
        return store
    }

    @Test func theStoreRecordsEachValidatorSetFromTheHeightItTakesForce() throws {
        let sample = try SampleChain(citizenCount: 6)
        let newcomer = try SigningKey(seed: SHA256.hash(Array("audit newcomer".utf8)))
        let directory = ScratchDirectory()
        let store = try Self.storeWithASetChange(sample, adding: newcomer, at: directory.file("chain.sqlite"))
        let grown = try ValidatorSet(
            (sample.validatorKeys + [newcomer]).map { Validator(publicKey: PublicKey(of: $0), power: 1) })
        #expect(try store.validatorSet(inForceAt: 0) == nil)
        #expect(try store.validatorSet(inForceAt: 1) == sample.genesis.validatorSet)
        #expect(try store.validatorSet(inForceAt: 2) == sample.genesis.validatorSet)
        #expect(try store.validatorSet(inForceAt: 3) == grown)
        #expect(try store.validatorSet(inForceAt: 4) == grown)
        #expect(try store.validatorSet(inForceAt: 4)?.hash == store.block(at: 4)?.block.header.validatorsHash)
    }
}
