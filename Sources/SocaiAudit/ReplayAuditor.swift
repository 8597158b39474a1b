import Dispatch
import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState
import SocaiStore
import Synchronization

/// One transaction as the replay executed it, for observers such as the consent audit.
public struct ExecutedTransaction: Sendable {
    /// The block's height.
    public let height: UInt64
    /// The block's time (the state machine's only clock).
    public let timeMilliseconds: UInt64
    /// Position in the block.
    public let index: Int
    /// The transaction.
    public let envelope: TransactionEnvelope
    /// Its hash (consent, offer and order ids are transaction hashes).
    public let hash: Hash
    /// The replayed result.
    public let code: TransactionResultCode
}

/// How far a replay has come, reported after each batch of blocks.
public struct ReplayProgress: Sendable {
    /// Highest height fully checked.
    public let height: UInt64
    /// The height the source claims to end at (0 when unknown).
    public let claimedHeight: UInt64
    /// Transactions checked so far.
    public let transactions: UInt64
    /// Seconds since the replay started.
    public let elapsedSeconds: Double
}

/// The result of a replay, for people and (as JSON) for machines.
public struct ReplayReport: Codable, Sendable, Equatable {
    /// The first failure, for machines.
    public struct Failure: Codable, Sendable, Equatable {
        /// Height of the failing block; nil before block 1.
        public var height: UInt64?
        /// Position of the failing transaction, where there is one.
        public var transactionIndex: Int?
        /// The kind of failure.
        public var code: AuditFailure.Code
        /// The whole message, height first.
        public var message: String
    }

    /// The genesis chain id.
    public var chainID: String
    /// The genesis hash, hex.
    public var genesisHash: String
    /// The chain's format version (from the genesis), which selected the rules replayed.
    public var formatVersion: UInt8
    /// Blocks that passed every check.
    public var blocks: UInt64
    /// Transactions in those blocks.
    public var transactions: UInt64
    /// Ed25519 signatures verified: transactions, precommits, evidence votes.
    public var signaturesChecked: UInt64
    /// Heights at which the validator set in force changed (by governance).
    public var validatorSetChanges: UInt64
    /// The last height that passed every check (0 when none did).
    public var finalHeight: UInt64
    /// The replayed state root after `finalHeight`, hex (the genesis state root at height 0).
    public var finalStateRoot: String
    /// Wall-clock seconds the replay took (reported, never hashed).
    public var elapsedSeconds: Double
    /// Processor seconds the whole process spent during the replay, on all threads.
    public var processorSeconds: Double
    /// Processor seconds the signature threads spent checking signatures, summed over
    /// threads: with `processorSeconds`, how much of the replay's cost signature checking is.
    /// (A wall-clock ratio on a shared machine moves with the other load; this share much less.)
    public var signatureCheckSeconds: Double
    /// Transactions per second over the whole replay.
    public var transactionsPerSecond: Double
    /// True when every check held.
    public var valid: Bool
    /// The first failure, when not valid.
    public var failure: Failure?
}

/// Replays a chain from the genesis file alone (docs/FORMAT.md §15, §22): for every block the
/// hash link, Merkle roots, every transaction signature, the commit certificate against the
/// validator set in force (following governance changes), evidence, then re-execution and the
/// header's state root. With a node's store it also compares the node's recorded results and
/// state roots, and finally its whole state, with the replay.
///
/// Signature checks run on all cores, one batch of blocks ahead of execution: while the calling
/// thread executes batch N, worker threads verify the signatures of batch N + 1.
public final class ReplayAuditor {
    /// Most signatures in one batch: enough to keep every core busy, small enough to bound memory.
    /// Small batches also shorten the two stretches where a core can idle: at the start, while
    /// the first batch's signatures are checked and nothing can execute, and at the end, while
    /// the last batch executes and nothing is left to check. (At 16,384, a 200,000-transfer
    /// replay kept the two cores 92% busy; at 4,096, 93–94%.)
    public static let batchSignaturesMax = 4_096
    /// Most blocks in one batch.
    public static let batchBlocksMax = 512
    /// Batches read, decoded and being verified ahead of the one executing.
    static let batchesAheadMax = 3
    /// State entries read from a store per page in the final state comparison.
    static let statePageEntriesMax = 4_096

    private let genesis: Genesis
    private let executor: LedgerExecutor
    /// The replayed state: the current tree only.
    var backend = ReplayStateBackend()
    private let workers: Int
    /// Called for every executed transaction, in chain order.
    public var onTransaction: ((ExecutedTransaction) -> Void)?
    /// Called after each batch of blocks.
    public var onProgress: ((ReplayProgress) -> Void)?

    /// An auditor for the chain of `genesis`, checking signatures on `workers` threads.
    public init(genesis: Genesis, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        precondition(workers >= 1)
        self.genesis = genesis
        executor = LedgerExecutor(genesis: genesis)
        self.workers = workers
    }

    // MARK: - Replay

    private struct Counters {
        var blocks: UInt64 = 0
        var transactions: UInt64 = 0
        var signatures: UInt64 = 0
        var validatorSetChanges: UInt64 = 0
        var height: UInt64 = 0
        var signatureCheckNanoseconds: UInt64 = 0
    }

    /// User plus system processor seconds of this process so far (`getrusage`).
    static func processorSeconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
            let who = __rusage_who_t(RUSAGE_SELF.rawValue)
        #else
            let who = RUSAGE_SELF
        #endif
        guard getrusage(who, &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// Replays every block of `source`; stops at the first failure. Never throws: failures are
    /// in the report.
    public func replay(_ source: any BlockSource) -> ReplayReport {
        let start = DispatchTime.now().uptimeNanoseconds
        let processorStart = Self.processorSeconds()
        var counters = Counters()
        let failure = run(source, &counters, start: start)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let processor = Self.processorSeconds() - processorStart
        return ReplayReport(
            chainID: genesis.chainID.value, genesisHash: genesis.hash.hex, formatVersion: genesis.formatVersion,
            blocks: counters.blocks,
            transactions: counters.transactions, signaturesChecked: counters.signatures,
            validatorSetChanges: counters.validatorSetChanges, finalHeight: counters.height,
            finalStateRoot: backend.stateRoot.hex, elapsedSeconds: seconds, processorSeconds: processor,
            signatureCheckSeconds: Double(counters.signatureCheckNanoseconds) / 1e9,
            transactionsPerSecond: seconds > 0 ? Double(counters.transactions) / seconds : 0, valid: failure == nil,
            failure: failure.map {
                .init(height: $0.height, transactionIndex: $0.transactionIndex, code: $0.code, message: $0.description)
            })
    }

    private func run(_ source: any BlockSource, _ counters: inout Counters, start: UInt64) -> AuditFailure? {
        if let claimed = source.claimedGenesisHash, claimed != genesis.hash {
            return AuditFailure(
                .genesis, height: nil, "the chain was made for genesis \(claimed), not the given genesis \(genesis.hash)")
        }
        do throws(StateError) {
            backend.apply(try LedgerExecutor.genesisChanges(genesis, on: backend))
        } catch {
            return AuditFailure(.genesis, height: nil, "the genesis state cannot be built: \(error.message)")
        }
        let reading = BatchReading(decoder: BatchDecoder(genesis: genesis), source: source)
        // An export file is read by nothing else, so batches are read, decoded and sent to
        // the signature workers on a serial queue, up to `batchesAheadMax` ahead, while this
        // thread executes: execution is the one sequential stage, and neither decoding nor a
        // batch whose signatures are not yet checked should leave the cores idle behind it.
        // A node's store is also read for its records on this thread, so it is read here.
        let readAhead = source.recorded == nil
        // Execution keeps one core busy throughout; signature threads beyond the remaining
        // cores would only take turns with it, and it is the stage every block waits for.
        let signatureThreads = max(1, workers - 1)
        let readQueue = DispatchQueue(label: "socai.audit.read")
        var pending: [PendingBatch] = []
        func requestRead() {
            let slot = PendingBatch()
            slot.ready.enter()
            let read = { @Sendable [signatureThreads] in
                if !reading.decoder.finished {
                    let batch = reading.read()
                    batch.work.start(threads: signatureThreads)
                    slot.batch = batch
                }
                slot.ready.leave()
            }
            if readAhead { readQueue.async(execute: read) } else { read() }
            pending.append(slot)
        }
        // No read outlives the replay, even one that ends early on a failure.
        defer { for slot in pending { slot.ready.wait() } }
        var history = ValidatorSetHistory(genesisSet: genesis.validatorSet)
        // Every block is in exactly one batch and a read after the last batch yields none, so
        // this loop runs at most (batches + 1) times.
        while true {
            while pending.count < Self.batchesAheadMax { requestRead() }
            let slot = pending.removeFirst()
            slot.ready.wait()
            guard let current = slot.batch else { break }
            current.work.waitHelpingCheck()
            counters.signatureCheckNanoseconds += current.work.checkNanoseconds()
            let valid = current.work.valid()
            for entry in current.entries {
                switch entry {
                case .failure(let failure):
                    return failure
                case .block(let prepared):
                    do throws(AuditFailure) {
                        try check(prepared, valid: valid, source: source, history: &history, &counters)
                    } catch {
                        return error
                    }
                }
            }
            onProgress?(
                ReplayProgress(
                    height: counters.height, claimedHeight: source.claimedHeight, transactions: counters.transactions,
                    elapsedSeconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9))
        }
        if let recorded = source.recorded { return compareState(recorded, height: counters.height) }
        return nil
    }

    /// The sequential checks of one decoded block, then its execution.
    private func check(
        _ prepared: PreparedBlock, valid: [Bool], source: any BlockSource, history: inout ValidatorSetHistory,
        _ counters: inout Counters
    ) throws(AuditFailure) {
        let block = prepared.block
        let header = block.header
        let height = header.height
        let set: ValidatorSet
        do throws(StateError) { set = try executor.validatorSet(forHeight: height, on: backend) } catch {
            throw AuditFailure(.execution, height: height, "the validator set in force cannot be read: \(error.message)")
        }
        if let lastCommit = block.lastCommit, let offset = prepared.lastCommitOffset {
            try checkCommit(
                lastCommit, against: history.set(at: height - 1), valid: valid[offset..<offset + lastCommit.signatures.count],
                label: "the last commit (of block \(height - 1))", height: height)
            counters.signatures += UInt64(lastCommit.signatures.count)
        }
        let transactionsValid = valid[prepared.transactionsOffset..<prepared.transactionsOffset + block.transactions.count]
        if let bad = transactionsValid.firstIndex(of: false) {
            throw AuditFailure(
                .transactionSignature, height: height, transactionIndex: bad - prepared.transactionsOffset,
                "signature does not verify")
        }
        counters.signatures += UInt64(block.transactions.count)
        guard header.validatorsHash == set.hash else {
            throw AuditFailure(
                .validators, height: height, "validators hash differs: header \(header.validatorsHash), set in force \(set.hash)")
        }
        guard set.validator(for: header.proposer) != nil else {
            throw AuditFailure(
                .validators, height: height, "proposer \(header.proposer) is not in the validator set in force")
        }
        if height > 1, set != history.set(at: height - 1) { counters.validatorSetChanges += 1 }
        history.record(set, at: height)
        for (index, evidence) in block.evidence.enumerated() {
            let evidenceHeight = evidence.voteA.height
            guard evidenceHeight >= 1, evidenceHeight <= height else {
                throw AuditFailure(
                    .evidence, height: height, "evidence \(index) is for height \(evidenceHeight), after this block")
            }
            do throws(VerificationError) {
                try evidence.verify(chainID: genesis.chainID, validatorSet: history.set(at: evidenceHeight))
            } catch {
                throw AuditFailure(.evidence, height: height, "evidence \(index): \(error.message)")
            }
            counters.signatures += 2
        }
        try checkCommit(
            prepared.certificate, against: set,
            valid: valid[prepared.certificateOffset..<prepared.certificateOffset + prepared.certificate.signatures.count],
            label: "commit", height: height)
        counters.signatures += UInt64(prepared.certificate.signatures.count)

        let execution: BlockExecution
        do throws(StateError) { execution = try executor.execute(block, on: backend, signaturesVerified: true) } catch {
            throw AuditFailure(.execution, height: height, "the block cannot be executed: \(error.message)")
        }
        precondition(execution.validatorSet == set, "execution used another validator set than the one in force")
        guard execution.stateRoot == header.stateRoot else {
            throw AuditFailure(
                .stateRoot, height: height, "state root differs: header \(header.stateRoot), replayed \(execution.stateRoot)")
        }
        if let recorded = source.recorded { try compareRecorded(recorded, execution: execution, height: height) }
        backend.apply(execution.changes)
        if let onTransaction {
            for (index, envelope) in block.transactions.enumerated() {
                let outcome = execution.outcomes[index]
                onTransaction(
                    ExecutedTransaction(
                        height: height, timeMilliseconds: header.timeMilliseconds, index: index, envelope: envelope,
                        hash: outcome.transactionHash, code: outcome.code))
            }
        }
        counters.blocks += 1
        counters.transactions += UInt64(block.transactions.count)
        counters.height = height
    }

    /// Membership and power of a certificate whose signatures were verified on the workers.
    private func checkCommit(
        _ commit: CommitCertificate, against set: ValidatorSet, valid: ArraySlice<Bool>, label: String, height: UInt64
    ) throws(AuditFailure) {
        precondition(valid.count == commit.signatures.count)
        // The rule is the certificate's own (the one block sync applies); only the signature
        // checks were done beforehand, on all cores.
        let start = valid.startIndex
        switch commit.firstDefect(validatorSet: set, signatureVerifies: { valid[start + $0] }) {
        case nil:
            return
        case .unknownValidator(let validator):
            throw AuditFailure(
                .commit, height: height, "\(label) is signed by \(validator), which is not in the validator set in force")
        case .invalidSignature(let validator):
            throw AuditFailure(.commit, height: height, "\(label) signature of validator \(validator) does not verify")
        case .insufficientPower(let power, let totalPower):
            throw AuditFailure(
                .commit, height: height, "\(label) has \(power) of \(totalPower) voting power, needs more than 2/3")
        }
    }

    /// The node's recorded result of every transaction and its state root at `height`.
    private func compareRecorded(_ recorded: StoredChainReader, execution: BlockExecution, height: UInt64) throws(AuditFailure) {
        func read<Value>(_ body: () throws(StoreError) -> Value) throws(AuditFailure) -> Value {
            do throws(StoreError) { return try body() } catch {
                throw AuditFailure(.source, height: height, "cannot read the node's records: \(error.message)")
            }
        }
        for (index, outcome) in execution.outcomes.enumerated() where outcome.code == .ok || outcome.code.consumesNonce {
            let stored = try read { () throws(StoreError) in try recorded.recordedResult(outcome.transactionHash) }
            let replayed = "\(outcome.code.name) (\(outcome.code.rawValue))"
            guard let stored else {
                throw AuditFailure(
                    .recorded, height: height, transactionIndex: index, "result differs: recorded none, replayed \(replayed)")
            }
            guard stored.height == height, stored.position == UInt32(index), stored.code == outcome.code.rawValue else {
                let name = TransactionResultCode(rawValue: stored.code)?.name ?? "unknown"
                throw AuditFailure(
                    .recorded, height: height, transactionIndex: index,
                    "result differs: recorded \(name) (\(stored.code)) at block \(stored.height), transaction \(stored.position); replayed \(replayed)"
                )
            }
        }
        let root = try read { () throws(StoreError) in try recorded.recordedStateRoot(atHeight: height) }
        guard root == execution.stateRoot else {
            throw AuditFailure(
                .recorded, height: height,
                "recorded state root differs: recorded \(root.map(\.hex) ?? "none"), replayed \(execution.stateRoot)")
        }
    }

    /// After the last block: the node's whole current state must equal the replayed state,
    /// and the keys the node keeps in key order for the queries that list them must be
    /// exactly the replay's listed keys.
    private func compareState(_ recorded: StoredChainReader, height: UInt64) -> AuditFailure? {
        // The node's entries come in its store's order (by tree key in a schema-5 store), so
        // each is looked up in the replay, and the keys seen are counted.
        var seen = Set<StateKeyBytes>()
        var cursor: StoredChainReader.StateEntryCursor? = nil
        // Each page advances the cursor; at most count/page + 1 pages of a state that matched so far.
        while true {
            let page: (entries: [(key: [UInt8], value: [UInt8])], next: StoredChainReader.StateEntryCursor?)
            do throws(StateError) { page = try recorded.stateEntries(after: cursor, limit: Self.statePageEntriesMax) } catch {
                return AuditFailure(.source, height: height, "cannot read the node's state: \(error.message)")
            }
            for entry in page.entries {
                let expected: [UInt8]?
                do throws(StateError) { expected = try backend.value(forKey: entry.key) } catch {
                    return AuditFailure(.execution, height: height, "the replayed state cannot be read: \(error.message)")
                }
                guard let expected else {
                    return AuditFailure(
                        .recorded, height: height, "the node's state holds \(Self.describe(entry.key)), which the replay does not"
                    )
                }
                guard entry.value == expected else {
                    return AuditFailure(
                        .recorded, height: height, "the node's state value of \(Self.describe(entry.key)) differs from the replay"
                    )
                }
                guard seen.insert(StateKeyBytes(entry.key)).inserted else {
                    return AuditFailure(.recorded, height: height, "the node's state lists \(Self.describe(entry.key)) twice")
                }
            }
            guard page.entries.count == Self.statePageEntriesMax, let next = page.next else { break }
            cursor = next
        }
        let replayed: [(key: [UInt8], value: [UInt8])]
        do throws(StateError) { replayed = try backend.entries(withPrefix: [], after: nil, limit: backend.count) } catch {
            return AuditFailure(.execution, height: height, "the replayed state cannot be read: \(error.message)")
        }
        if seen.count != replayed.count, let missing = replayed.first(where: { !seen.contains(StateKeyBytes($0.key)) }) {
            return AuditFailure(
                .recorded, height: height, "the node's state lacks \(Self.describe(missing.key)), which the replay has")
        }
        return compareListedState(recorded, replayed: replayed.filter { StateKey.isListed($0.key) }, height: height)
    }

    /// The node's listed keys (`StateKey.listedPrefixes`), read in key order as the queries
    /// that list read them, must be `replayed`'s listed entries, in the same order.
    private func compareListedState(
        _ recorded: StoredChainReader, replayed: [(key: [UInt8], value: [UInt8])], height: UInt64
    ) -> AuditFailure? {
        var position = 0
        // Ascending prefixes, none a prefix of another: their entries follow each other in key order.
        for prefix in StateKey.listedPrefixes.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            var after: [UInt8]? = nil
            while true {
                let page: [(key: [UInt8], value: [UInt8])]
                do throws(StateError) {
                    page = try recorded.listedStateEntries(withPrefix: prefix, after: after, limit: Self.statePageEntriesMax)
                } catch {
                    return AuditFailure(.source, height: height, "cannot read the node's listed state: \(error.message)")
                }
                for entry in page {
                    guard position < replayed.count, replayed[position].key == entry.key,
                        replayed[position].value == entry.value
                    else {
                        return AuditFailure(
                            .recorded, height: height,
                            "the node's listed state and the replay differ at \(Self.describe(entry.key))")
                    }
                    position += 1
                }
                guard page.count == Self.statePageEntriesMax, let last = page.last else { break }
                after = last.key
            }
        }
        guard position == replayed.count else {
            return AuditFailure(
                .recorded, height: height,
                "the node's listed state lacks \(Self.describe(replayed[position].key)), which the replay has")
        }
        return nil
    }

    /// A state key for people: its text prefix, then the rest in hex.
    static func describe(_ key: [UInt8]) -> String {
        let printable = key.prefix { $0 >= 0x20 && $0 < 0x7f }
        let text = String(decoding: printable, as: UTF8.self)
        let rest = key.dropFirst(printable.count)
        return "key \"\(text)\"" + (rest.isEmpty ? "" : " + \(Hex.encode(Array(rest)))")
    }
}

// MARK: - Batches

/// A decoded block whose structural checks passed, with where its signatures sit in the batch.
struct PreparedBlock {
    let block: Block
    let certificate: CommitCertificate
    let transactionsOffset: Int
    let certificateOffset: Int
    /// Where the last commit's precommits sit, when they need checking (not identical to the
    /// certificate of the block below, which was checked already).
    let lastCommitOffset: Int?
}

enum BatchEntry {
    case block(PreparedBlock)
    case failure(AuditFailure)
}

struct Batch {
    var entries: [BatchEntry]
    var work: SignatureWork
}

/// The decoder and its source, shared with the queue that reads ahead. One thread uses it
/// at a time: reads run in order on one serial queue (or all on the replay thread), so no
/// lock is needed.
final class BatchReading: @unchecked Sendable {
    var decoder: BatchDecoder
    let source: any BlockSource

    init(decoder: BatchDecoder, source: any BlockSource) {
        self.decoder = decoder
        self.source = source
    }

    func read() -> Batch { decoder.readBatch(source) }
}

/// A batch being read ahead: `batch` is set (nil once the chain has ended) before `ready`
/// is left, and read only after waiting on `ready`.
final class PendingBatch: @unchecked Sendable {
    let ready = DispatchGroup()
    var batch: Batch?
}

/// A signature to check on a worker thread.
enum SignatureItem: Sendable {
    case transaction(TransactionEnvelope)
    case vote(Vote)
}

/// One batch's signatures, checked in chunks that any thread may claim: the signature
/// threads, and the execution thread when it reaches a batch that is not yet checked
/// (`waitHelpingCheck`). Read `valid()` only after that returns.
///
/// Why the execution thread helps rather than waits: with one signature thread per core
/// beside it, the threads outnumber the cores and take turns, each evicting the others'
/// caches; with one fewer, the core execution leaves idle while it waits is lost. Helping
/// keeps exactly one thread per core busy.
final class SignatureWork: @unchecked Sendable {
    /// Items a chunk holds at most: small enough that the last chunks of a batch spread
    /// over every thread, large enough that claiming one costs nothing beside its checks.
    static let chunkItemsMax = 64
    /// Batches are checked one after another, so that a batch read ahead never takes turns
    /// with the one execution needs next.
    static let queue = DispatchQueue(label: "socai.audit.signatures")

    let items: [SignatureItem]
    let chainID: ChainID
    let chunks: Int
    /// One flag per item, written by the thread that claimed its chunk.
    private let results: UnsafeMutableBufferPointer<Bool>
    /// Thread processor time each chunk took, written by the thread that claimed it.
    private let chunkNanoseconds: UnsafeMutableBufferPointer<UInt64>
    /// The next chunk to claim; a value at or past `chunks` means none is left.
    private let nextChunk = Atomic<Int>(0)
    /// Chunks checked; the thread that checks the last one signals `finished`.
    private let checkedChunks = Atomic<Int>(0)
    /// Signalled once, when every chunk is checked; waited on once, by the execution thread.
    /// A semaphore rather than a group: a batch dropped unchecked, after a failure ended the
    /// replay, may then be freed at any count without tripping libdispatch's balance check.
    private let finished = DispatchSemaphore(value: 0)

    init(items: [SignatureItem], chainID: ChainID) {
        self.items = items
        self.chainID = chainID
        chunks = (items.count + Self.chunkItemsMax - 1) / Self.chunkItemsMax
        results = .allocate(capacity: items.count)
        results.initialize(repeating: false)
        chunkNanoseconds = .allocate(capacity: chunks)
        chunkNanoseconds.initialize(repeating: 0)
        if chunks == 0 { finished.signal() }
    }

    deinit {
        results.deallocate()
        chunkNanoseconds.deallocate()
    }

    /// The calling thread's processor time so far, in nanoseconds.
    private static func threadNanoseconds() -> UInt64 {
        var time = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) == 0 else { return 0 }
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    /// Queues the batch for `threads` signature threads, after the batches queued before it.
    func start(threads: Int) {
        precondition(threads >= 1)
        Self.queue.async { [self] in
            if threads == 1 {
                claimChunks()
            } else {
                DispatchQueue.concurrentPerform(iterations: threads) { _ in self.claimChunks() }
            }
        }
    }

    /// Checks chunks on the calling thread until none is left to claim.
    private func claimChunks() {
        // Each pass claims a chunk or ends, and there are `chunks` to claim.
        while true {
            let chunk = nextChunk.add(1, ordering: .relaxed).oldValue
            guard chunk < chunks else { return }
            let started = Self.threadNanoseconds()
            for index in (chunk * Self.chunkItemsMax)..<min(items.count, (chunk + 1) * Self.chunkItemsMax) {
                switch items[index] {
                case .transaction(let envelope): results[index] = envelope.hasValidSignature
                case .vote(let vote): results[index] = vote.hasValidSignature(chainID: chainID)
                }
            }
            chunkNanoseconds[chunk] = Self.threadNanoseconds() &- started
            // Releasing and acquiring: the thread that checks the last chunk sees every other
            // chunk's flags, and signalling `finished` passes them on to the waiting thread.
            let checked = checkedChunks.add(1, ordering: .acquiringAndReleasing).newValue
            precondition(checked <= chunks, "a signature chunk was checked twice")
            if checked == chunks { finished.signal() }
        }
    }

    /// Checks the chunks no thread has claimed yet on the calling thread, then waits for the
    /// ones other threads are still checking.
    func waitHelpingCheck() {
        claimChunks()
        finished.wait()
    }

    /// The flags, once `waitHelpingCheck` has returned.
    func valid() -> [Bool] { Array(results) }

    /// Processor time the checks took on their threads, once `waitHelpingCheck` has returned.
    func checkNanoseconds() -> UInt64 { chunkNanoseconds.reduce(0, &+) }
}

/// The validator set in force at each height, kept as the heights where it changed.
struct ValidatorSetHistory {
    /// (first height, set), ascending by height; one entry per change, so at most one per block.
    private var changes: [(height: UInt64, set: ValidatorSet)]

    init(genesisSet: ValidatorSet) { changes = [(1, genesisSet)] }

    func set(at height: UInt64) -> ValidatorSet {
        precondition(height >= 1)
        var low = 0
        var high = changes.count
        while high - low > 1 {
            let middle = (low + high) / 2
            if changes[middle].height <= height { low = middle } else { high = middle }
        }
        return changes[low].set
    }

    mutating func record(_ set: ValidatorSet, at height: UInt64) {
        precondition(height >= changes.last!.height)
        if changes.last!.set != set { changes.append((height, set)) }
    }
}

/// Reads and decodes blocks in order and runs every check that needs neither signatures nor
/// state: framing, decoding, chain and height, hash link, time, Merkle roots, last-commit link,
/// and that the certificate is for its block.
struct BatchDecoder {
    let genesis: Genesis
    private(set) var finished = false
    private var nextHeight: UInt64 = 1
    private var previousHash: Hash
    private var previousCertificate: CommitCertificate?

    init(genesis: Genesis) {
        self.genesis = genesis
        previousHash = genesis.hash
    }

    mutating func readBatch(_ source: any BlockSource) -> Batch {
        var entries: [BatchEntry] = []
        var items: [SignatureItem] = []
        while !finished, entries.count < ReplayAuditor.batchBlocksMax, items.count < ReplayAuditor.batchSignaturesMax {
            do throws(AuditFailure) {
                guard let raw = try source.nextRecord() else {
                    finished = true
                    break
                }
                entries.append(.block(try prepare(raw, items: &items)))
            } catch {
                entries.append(.failure(error))
                finished = true
            }
        }
        return Batch(entries: entries, work: SignatureWork(items: items, chainID: genesis.chainID))
    }

    private mutating func prepare(
        _ raw: (block: [UInt8], certificate: [UInt8]), items: inout [SignatureItem]
    ) throws(AuditFailure) -> PreparedBlock {
        let height = nextHeight
        let chainID = genesis.chainID
        let block: Block
        do throws(FormatError) { block = try Block(canonicalBytes: raw.block) } catch {
            throw AuditFailure(.undecodable, height: height, "the block does not decode: \(error.message)")
        }
        let certificate: CommitCertificate
        do throws(FormatError) { certificate = try CommitCertificate(canonicalBytes: raw.certificate) } catch {
            throw AuditFailure(.undecodable, height: height, "its commit certificate does not decode: \(error.message)")
        }
        let header = block.header
        guard header.chainID == chainID else {
            throw AuditFailure(.wrongPlace, height: height, "the block is for chain \(header.chainID), not \(chainID)")
        }
        guard header.height == height else {
            throw AuditFailure(.wrongPlace, height: height, "the block says it is at height \(header.height)")
        }
        guard header.previousBlockHash == previousHash else {
            let below = height == 1 ? "the genesis hashes to" : "block \(height - 1) hashes to"
            throw AuditFailure(
                .brokenLink, height: height,
                "previous-block hash differs: header \(header.previousBlockHash), \(below) \(previousHash)")
        }
        if height == 1, header.timeMilliseconds < genesis.genesisTimeMilliseconds {
            throw AuditFailure(
                .time, height: height,
                "block time \(header.timeMilliseconds) is earlier than the genesis time \(genesis.genesisTimeMilliseconds)")
        }
        // The shared structural check (the one block sync uses) on the happy path; only when
        // it fails are the roots recomputed, to say in words which commitment differs.
        do throws(VerificationError) { try block.validateBasic() } catch {
            try explainStructuralFailure(block, height: height)
            throw AuditFailure(.mismatch, height: height, error.message)
        }
        var lastCommitToCheck: CommitCertificate? = nil
        if let lastCommit = block.lastCommit, lastCommit != previousCertificate { lastCommitToCheck = lastCommit }
        let blockHash = block.hash
        guard certificate.height == height, certificate.blockID == blockHash else {
            throw AuditFailure(
                .commit, height: height,
                "the commit certificate is for block \(certificate.blockID) at height \(certificate.height), not this block (\(blockHash))"
            )
        }

        let transactionsOffset = items.count
        for envelope in block.transactions { items.append(.transaction(envelope)) }
        let certificateOffset = items.count
        for vote in certificate.precommits { items.append(.vote(vote)) }
        var lastCommitOffset: Int? = nil
        if let lastCommitToCheck {
            lastCommitOffset = items.count
            for vote in lastCommitToCheck.precommits { items.append(.vote(vote)) }
        }
        nextHeight += 1
        previousHash = blockHash
        previousCertificate = certificate
        return PreparedBlock(
            block: block, certificate: certificate, transactionsOffset: transactionsOffset,
            certificateOffset: certificateOffset, lastCommitOffset: lastCommitOffset)
    }

    /// Names the first commitment of a block that `validateBasic` refused.
    private func explainStructuralFailure(_ block: Block, height: UInt64) throws(AuditFailure) {
        let header = block.header
        let chainID = genesis.chainID
        let transactionsRoot = Block.transactionsRoot(block.transactions)
        guard header.transactionsRoot == transactionsRoot else {
            throw AuditFailure(
                .mismatch, height: height,
                "transactions root differs: header \(header.transactionsRoot), computed \(transactionsRoot)")
        }
        let evidenceRoot = Block.evidenceRoot(block.evidence)
        guard header.evidenceRoot == evidenceRoot else {
            throw AuditFailure(
                .mismatch, height: height, "evidence root differs: header \(header.evidenceRoot), computed \(evidenceRoot)")
        }
        for (index, envelope) in block.transactions.enumerated() where envelope.chainID != chainID {
            throw AuditFailure(
                .mismatch, height: height, transactionIndex: index, "the transaction is for chain \(envelope.chainID)")
        }
        if height == 1 {
            guard block.lastCommit == nil, header.lastCommitHash == .zero else {
                throw AuditFailure(.commit, height: height, "block 1 must carry no last commit and a zero last-commit hash")
            }
            return
        }
        guard let lastCommit = block.lastCommit else {
            throw AuditFailure(.commit, height: height, "the block carries no last commit for block \(height - 1)")
        }
        guard lastCommit.height == height - 1, lastCommit.blockID == header.previousBlockHash else {
            throw AuditFailure(
                .commit, height: height,
                "the last commit is for block \(lastCommit.blockID) at height \(lastCommit.height), not block \(height - 1) (\(header.previousBlockHash))"
            )
        }
        guard lastCommit.hash == header.lastCommitHash else {
            throw AuditFailure(
                .mismatch, height: height,
                "last-commit hash differs: header \(header.lastCommitHash), computed \(lastCommit.hash)")
        }
    }
}
