import Dispatch
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState
import SocaiStore

#if canImport(Glibc)
    import Glibc
#endif

/// A validator's work per block without the network: execute a block of new identities on
/// the SQLite state, then store it with its execution, as `ValidatorNode.commit` does. The
/// figures are processor time of the one thread doing it, so a busy machine moves them
/// much less than wall time; `SOCAI_BENCH_ONLY=store` runs this alone, under a profiler.
/// The store's log checkpoints run on a thread of their own (`WALCheckpointer`) and are not
/// in these figures.
enum StoreBenchmarks {
    /// Blocks stored; `SOCAI_BENCH_STORE_BLOCKS` asks for more (up to 1,000), to see what a
    /// larger state costs: a validator's later blocks read more tree nodes back from SQLite.
    static let blocks =
        Int(ProcessInfo.processInfo.environment["SOCAI_BENCH_STORE_BLOCKS"] ?? "").map { min(max($0, 10), 1_000) } ?? 60
    static let transactionsPerBlock = 300

    static func run() throws {
        let chainID = try ChainID("socai-bench-store")
        let validators = (1...4).map { try! SigningKey(seed: SHA256.hash(Array("store bench validator \($0)".utf8))) }
        let genesis = try Genesis(
            file: Genesis.File(
                chainID: chainID.value, genesisTimeMilliseconds: 1_000,
                validators: validators.map { Genesis.ValidatorEntry(name: "v", publicKey: Hex.encode($0.publicKey), power: 1) },
                governance: Genesis.Governance(keys: [Hex.encode(validators[0].publicKey)], threshold: 1)))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("socai-storebench-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // `SOCAI_BENCH_KEEP=1` keeps the store, to look at its tables afterwards.
        defer {
            if ProcessInfo.processInfo.environment["SOCAI_BENCH_KEEP"] == "1" {
                print("store benchmark: the store is kept in \(directory)")
            } else {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        let store = try BlockStore(path: directory + "/chain.sqlite", chainID: chainID, genesisHash: genesis.hash)
        try store.initializeState(try LedgerExecutor.genesisChanges(genesis, on: store.state))
        let executor = LedgerExecutor(chainID: chainID)
        var chain = try DevelopmentChain(
            chainID: chainID, genesisHash: genesis.hash, validatorKeys: validators, validatorSet: genesis.validatorSet)

        let writtenBytesStart = processWrittenBytes()
        var executeNanoseconds: UInt64 = 0
        var storeNanoseconds: UInt64 = 0
        var transactions = 0
        // The last sixth of the blocks, reported apart: the largest state of the run.
        let lastBlocks = blocks / 6
        let lastBlocksFirstHeight = blocks - lastBlocks + 1
        var lastExecuteNanoseconds: UInt64 = 0
        var lastStoreNanoseconds: UInt64 = 0
        var lastTransactions = 0
        for height in 1...blocks {
            let envelopes = (0..<transactionsPerBlock).map { index in
                let key = try! SigningKey(seed: SHA256.hash(Array("store bench \(height) \(index)".utf8)))
                return try! DIDCreate(did: DID(initialKey: PublicKey(of: key))).envelope(chainID: chainID, key: key, nonce: 1)
            }
            // Executed once, cold, as a proposer does: the draft differs from the block only
            // in its header's state root, which execution does not read, so its execution is
            // the block's (the store checks the roots and hashes match).
            var executed: BlockExecution?
            var executeStart: UInt64 = 0
            var executeEnd: UInt64 = 0
            let (block, commit) = try chain.nextBlock(transactions: envelopes, timeMilliseconds: 1_000 + UInt64(height) * 1_000) {
                (draft: Block) throws(StateError) in
                executeStart = threadNanoseconds()
                let execution = try executor.execute(draft, on: store.state, signaturesVerified: true)
                executeEnd = threadNanoseconds()
                executed = execution
                return execution.stateRoot
            }
            guard let execution = executed else { preconditionFailure("the block was not executed") }
            let storeStart = threadNanoseconds()
            try store.append(block, commit: commit, execution: execution)
            let end = threadNanoseconds()
            precondition(execution.outcomes.allSatisfy { $0.code == .ok }, "benchmark transactions must all apply")
            executeNanoseconds += executeEnd - executeStart
            storeNanoseconds += end - storeStart
            transactions += envelopes.count
            if height >= lastBlocksFirstHeight {
                lastExecuteNanoseconds += executeEnd - executeStart
                lastStoreNanoseconds += end - storeStart
                lastTransactions += envelopes.count
            }
        }
        SocaiBenchmarks.report(
            "  bytes written (log, checkpoints)", Double(processWrittenBytes() - writtenBytesStart) / Double(transactions),
            "bytes/tx")
        SocaiBenchmarks.report(
            "block execute, \(transactionsPerBlock) DID creates/block", Double(executeNanoseconds) / Double(transactions) / 1_000,
            "µs/tx (processor)")
        SocaiBenchmarks.report(
            "block store, \(transactionsPerBlock) DID creates/block", Double(storeNanoseconds) / Double(transactions) / 1_000,
            "µs/tx (processor)")
        SocaiBenchmarks.report(
            "  last \(lastBlocks) blocks (\(transactions) DIDs by the end): execute",
            Double(lastExecuteNanoseconds) / Double(lastTransactions) / 1_000, "µs/tx (processor)")
        SocaiBenchmarks.report(
            "  last \(lastBlocks) blocks: store",
            Double(lastStoreNanoseconds) / Double(lastTransactions) / 1_000,
            "µs/tx (processor)")
    }

    /// Bytes this process has passed to write system calls so far (`wchar` in `/proc/self/io`):
    /// the log's frames and the checkpoints' pages, whether or not they reached the disk yet.
    static func processWrittenBytes() -> UInt64 {
        guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("wchar:") {
            return UInt64(line.dropFirst("wchar:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }

    /// Processor time of the calling thread.
    static func threadNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
