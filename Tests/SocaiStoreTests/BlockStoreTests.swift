import Foundation
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiStore

/// A fresh directory per test, removed when the test ends.
final class TemporaryDirectory {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("socai-store-\(UUID().uuidString)").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

private let chainID = try! ChainID("socai-store-test")
private let genesisHash = Hash.sha256(Array("store test genesis".utf8))

private func makeChain(validators: Int = 4) -> DevelopmentChain {
    let keys = (0..<validators).map { index in try! SigningKey(seed: [UInt8](repeating: UInt8(index + 1), count: 32)) }
    return try! DevelopmentChain(chainID: chainID, genesisHash: genesisHash, validatorKeys: keys)
}

private func transaction(_ nonce: UInt64) -> TransactionEnvelope {
    let key = try! SigningKey(seed: [UInt8](repeating: 0x77, count: 32))
    return try! TransactionEnvelope.signed(
        chainID: chainID, key: key, nonce: nonce, kind: 1, payload: Array("payload \(nonce)".utf8))
}

@Suite struct BlockStoreTests {
    @Test func appendsAndReopensAtTheSameTip() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("chain.sqlite")
        var chain = makeChain()
        var hashes: [Hash] = []
        do {
            let store = try BlockStore(path: path, chainID: chainID, genesisHash: genesisHash)
            #expect(store.height == 0)
            #expect(store.tipHash == genesisHash)
            for height in 1...5 {
                let (block, commit) = chain.nextBlock(
                    transactions: [transaction(UInt64(height))], timeMilliseconds: UInt64(height) * 1000)
                try store.append(block, commit: commit)
                hashes.append(block.hash)
            }
            #expect(store.height == 5)
        }
        let reopened = try BlockStore(existingAt: path)
        #expect(reopened.height == 5)
        #expect(reopened.tipHash == hashes.last)
        #expect(reopened.chainID == chainID)
        for (index, hash) in hashes.enumerated() {
            let stored = try #require(try reopened.block(at: UInt64(index + 1)))
            #expect(stored.block.hash == hash)
            #expect(stored.commit.blockID == hash)
        }
        #expect(try reopened.block(at: 6) == nil)
        let report = reopened.verifyChain { _ in chain.validatorSet }
        #expect(report.isValid)
        #expect(report.verifiedHeight == 5)
    }

    @Test func rejectsAWrongHeightABrokenLinkAndAnotherChain() throws {
        let directory = TemporaryDirectory()
        let store = try BlockStore(path: directory.file("chain.sqlite"), chainID: chainID, genesisHash: genesisHash)
        var chain = makeChain()
        let first = chain.nextBlock(transactions: [], timeMilliseconds: 1)
        let second = chain.nextBlock(transactions: [], timeMilliseconds: 2)
        // Height 2 before height 1.
        #expect(throws: StoreError.self) { try store.append(second.block, commit: second.commit) }
        do { try store.append(second.block, commit: second.commit) } catch { #expect(error.code == .wrongHeight) }
        try store.append(first.block, commit: first.commit)
        // The same height again.
        do { try store.append(first.block, commit: first.commit); Issue.record("appended height 1 twice") } catch {
            #expect(error.code == .wrongHeight)
        }
        // A block at the right height that links elsewhere.
        var fork = makeChain(validators: 3)
        _ = fork.nextBlock(transactions: [transaction(9)], timeMilliseconds: 1)
        let forked = fork.nextBlock(transactions: [], timeMilliseconds: 2)
        do { try store.append(forked.block, commit: forked.commit); Issue.record("appended a forked block") } catch {
            #expect(error.code == .brokenLink)
        }
        // A store opened for another genesis refuses to open.
        do {
            _ = try BlockStore(path: directory.file("chain.sqlite"), chainID: chainID, genesisHash: .zero)
            Issue.record("opened a store under the wrong genesis")
        } catch { #expect(error.code == .wrongChain) }
        #expect(store.height == 1)
    }

    @Test func rejectsABlockInconsistentWithItsHeaderOrCommit() throws {
        let directory = TemporaryDirectory()
        let store = try BlockStore(path: directory.file("chain.sqlite"), chainID: chainID, genesisHash: genesisHash)
        var chain = makeChain()
        let (block, commit) = chain.nextBlock(transactions: [transaction(1)], timeMilliseconds: 1)
        var tampered = block
        tampered.transactions.append(transaction(2))
        do { try store.append(tampered, commit: commit); Issue.record("appended a block whose root does not match") } catch {
            #expect(error.code == .invalidBlock)
        }
        let otherCommit = try CommitCertificate(height: 1, round: 0, blockID: .zero, signatures: commit.signatures)
        do { try store.append(block, commit: otherCommit); Issue.record("appended a block with another block's commit") } catch {
            #expect(error.code == .invalidBlock)
        }
        #expect(store.height == 0)
        try store.append(block, commit: commit)
        #expect(store.height == 1)
    }

    @Test func blocksCannotBeUpdatedOrDeletedEvenThroughSQL() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("chain.sqlite")
        let store = try BlockStore(path: path, chainID: chainID, genesisHash: genesisHash)
        var chain = makeChain()
        let (block, commit) = chain.nextBlock(transactions: [], timeMilliseconds: 1)
        try store.append(block, commit: commit)
        let raw = try SQLiteConnection(path: path, create: false)
        #expect(throws: StoreError.self) { try raw.execute("UPDATE blocks SET block = x'00' WHERE height = 1") }
        #expect(throws: StoreError.self) { try raw.execute("DELETE FROM blocks WHERE height = 1") }
        #expect(try store.block(at: 1)?.block == block)
    }

    @Test func verifyReportsTheFirstDamagedHeight() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("chain.sqlite")
        var chain = makeChain()
        do {
            let store = try BlockStore(path: path, chainID: chainID, genesisHash: genesisHash)
            for height in 1...6 {
                let (block, commit) = chain.nextBlock(
                    transactions: [transaction(UInt64(height))], timeMilliseconds: UInt64(height))
                try store.append(block, commit: commit)
            }
        }
        // Damage block 4 behind the store's back: flip one byte of a transaction payload.
        let raw = try SQLiteConnection(path: path, create: false)
        try raw.execute("DROP TRIGGER blocks_append_only_update")
        let select = try raw.prepare("SELECT block FROM blocks WHERE height = 4")
        try select.bind([])
        _ = try select.step()
        var bytes = select.blob(0)
        bytes[bytes.count - 80] ^= 0x01
        try raw.prepare("UPDATE blocks SET block = ? WHERE height = 4").run([.blob(bytes)])

        let store = try BlockStore(existingAt: path)
        let report = store.verifyChain()
        #expect(!report.isValid)
        #expect(report.firstBadHeight == 4)
        #expect(report.verifiedHeight == 3)
        #expect(throws: StoreError.self) { _ = try store.block(at: 4) }
    }

    @Test func verifyChecksCertificatesAgainstTheValidatorSet() throws {
        let directory = TemporaryDirectory()
        let store = try BlockStore(path: directory.file("chain.sqlite"), chainID: chainID, genesisHash: genesisHash)
        var chain = makeChain()
        for height in 1...3 {
            let (block, commit) = chain.nextBlock(transactions: [], timeMilliseconds: UInt64(height))
            try store.append(block, commit: commit)
        }
        #expect(store.verifyChain { _ in chain.validatorSet }.isValid)
        // Against a different validator set, block 1 already fails.
        let strangers = makeChain(validators: 2).validatorSet
        let report = store.verifyChain { _ in strangers }
        #expect(report.firstBadHeight == 1)
    }

    @Test func opensOnlyExistingStoresWhenAskedTo() throws {
        let directory = TemporaryDirectory()
        do { _ = try BlockStore(existingAt: directory.file("absent.sqlite")); Issue.record("opened a missing store") } catch {
            #expect(error.code == .notFound)
        }
    }
}
