import Foundation
import SocaiCore
import SocaiState
import Testing

@testable import SocaiStore

/// The store's write-ahead log is copied back into the file by `WALCheckpointer`: in the
/// background past its threshold, inline past its backstop, and never changing what the
/// store holds.
extension StateStoreTests {
    /// Appends a 12-block chain to a new store whose checkpointer is `checkpointer`; returns
    /// the store's path, the final state root, and the checkpoints the background ran.
    ///
    /// With `settlingEachBlock`, each commit waits for the checkpoint it asked for, so the
    /// checkpoint never races the next block's writes and copies the whole log: what the log
    /// then holds does not depend on how the threads were scheduled.
    func appendChain(
        settlingEachBlock: Bool = false, checkpointer makeCheckpointer: (String) -> WALCheckpointer
    ) throws -> (
        directory: TemporaryDirectory, root: Hash, backgroundCheckpoints: Int, databaseBytes: Int, walBytes: Int
    ) {
        let directory = TemporaryDirectory()
        let genesis = try genesis()
        let reference = try genesisState(genesis)
        let blocks = try buildChain(genesis, count: 12, reference: reference)
        let store = try genesisStore(genesis, in: directory)
        let checkpointer = makeCheckpointer(directory.file("chain.sqlite"))
        store.checkpointer = checkpointer
        let executor = LedgerExecutor(chainID: Self.chainID)
        for (block, commit) in blocks {
            try store.appendExecuting(block, commit: commit, executor: executor)
            if settlingEachBlock { checkpointer.waitUntilIdle() }
        }
        checkpointer.waitUntilIdle()
        #expect(store.state.stateRoot == reference.stateRoot)
        let path = directory.file("chain.sqlite")
        let databaseBytes = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        let walBytes = try #require(try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int)
        return (directory, reference.stateRoot, checkpointer.checkpointsCompleted, databaseBytes, walBytes)
    }

    @Test func theLogIsCopiedBackInTheBackgroundAndTheStoreReopensWhole() throws {
        let never = (1 << 30) as Int32
        let unbounded = try appendChain { WALCheckpointer(path: $0, backgroundFramesMin: never, inlineFramesMin: never) }
        // Settled: a checkpoint racing the next block's writes leaves those frames behind,
        // and on a slow machine every one of them did (CI, stop 17), so the log never restarted.
        let result = try appendChain(settlingEachBlock: true) {
            WALCheckpointer(path: $0, backgroundFramesMin: 8, inlineFramesMin: 1 << 20)
        }
        #expect(result.backgroundCheckpoints >= 2, "\(result.backgroundCheckpoints) background checkpoints")
        // Copied back: the file holds the pages, and the log restarted instead of growing.
        #expect(result.databaseBytes > 16 * 4_096, "the database file holds \(result.databaseBytes) bytes")
        #expect(
            result.walBytes < unbounded.walBytes, "log \(result.walBytes) bytes, \(unbounded.walBytes) without checkpoints")
        let reopened = try BlockStore(existingAt: result.directory.file("chain.sqlite"))
        #expect(reopened.height == 12)
        #expect(reopened.state.stateRoot == result.root)
        #expect(reopened.verifyChain().isValid)
    }

    @Test func checkpointsRacingTheWriterNeverChangeWhatTheStoreHolds() throws {
        // Unsettled, as a validator runs: how much each checkpoint copies depends on the
        // threads, but every one of them, whole or not, leaves the same chain and root.
        let raced = try appendChain { WALCheckpointer(path: $0, backgroundFramesMin: 8, inlineFramesMin: 1 << 20) }
        let reopened = try BlockStore(existingAt: raced.directory.file("chain.sqlite"))
        #expect(reopened.height == 12)
        #expect(reopened.state.stateRoot == raced.root)
        #expect(reopened.verifyChain().isValid)
    }

    @Test func pastTheBackstopTheCommittingConnectionCheckpointsItself() throws {
        let never = (1 << 30) as Int32
        let unbounded = try appendChain { WALCheckpointer(path: $0, backgroundFramesMin: never, inlineFramesMin: never) }
        // The backstop at the threshold: every commit past it checkpoints inline, so the
        // background never gets a turn.
        let inline = try appendChain { WALCheckpointer(path: $0, backgroundFramesMin: 8, inlineFramesMin: 8) }
        #expect(unbounded.backgroundCheckpoints == 0 && inline.backgroundCheckpoints == 0)
        #expect(
            inline.databaseBytes > 16 * 4_096, "the database file holds \(inline.databaseBytes) bytes: no inline checkpoint ran")
        // Without any checkpoint the pages stay in the log.
        #expect(unbounded.walBytes > inline.walBytes, "log \(unbounded.walBytes) without checkpoints, \(inline.walBytes) with")
        let reopened = try BlockStore(existingAt: inline.directory.file("chain.sqlite"))
        #expect(reopened.state.stateRoot == inline.root)
    }
}
