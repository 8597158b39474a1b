import SocaiCore
import SocaiState
import SocaiStore

/// A `NodeService` over a one-validator development chain: every accepted transaction is
/// committed at once in its own block. It serves the HTTP API in tests and tools without
/// a network; its answers come from the same store, executor and queries a validator uses.
public actor DevelopmentNode: NodeService {
    private let validator: DevelopmentValidator
    private let executor: LedgerExecutor
    private let mempool = Mempool()
    /// The committed height, published after each commit and before `submit` returns.
    public nonisolated let committedHeightWatch: CommittedHeightWatch?

    /// Opens the node home (its key must hold more than two thirds of the genesis power).
    public init(home: NodeHome) throws {
        validator = try DevelopmentValidator(home: home)
        executor = LedgerExecutor(genesis: validator.genesis)
        committedHeightWatch = CommittedHeightWatch(height: validator.store.height)
    }

    /// Checks the transaction like a mempool would, then commits it in a new block.
    public func submit(_ envelope: TransactionEnvelope) async throws -> Hash {
        let store = validator.store
        let hash = try mempool.add(
            envelope, executor: executor, state: store.state, height: store.height + 1,
            timeMilliseconds: try validator.nextBlockTime())
        try validator.commit(mempool.reap(transactionsMax: 1_000, bytesMax: Limits.blockBytesMax / 2))
        committedHeightWatch?.publish(store.height)
        try mempool.update(committed: try store.block(at: store.height)?.block.transactions ?? [], state: store.state)
        return hash
    }

    /// The result, which exists as soon as `submit` returned.
    public func waitForCommit(_ hash: Hash, timeoutMilliseconds: UInt64) async -> CommittedTransaction? {
        await committedTransaction(hash)
    }

    /// A committed result.
    public func committedTransaction(_ hash: Hash) async -> CommittedTransaction? {
        guard let stored = try? validator.store.state.transactionResult(hash),
            let code = TransactionResultCode(rawValue: stored.code)
        else {
            return nil
        }
        return CommittedTransaction(
            hash: hash.hex, height: stored.height, code: code.name, codeNumber: code.rawValue, message: stored.message)
    }

    /// Status.
    public func status() async -> NodeStatus {
        let store = validator.store
        let set = (try? executor.validatorSet(forHeight: store.height + 1, on: store.state))?.validators ?? []
        return NodeStatus(
            chainID: validator.genesis.chainID.value, nodeKey: "", height: store.height, latestBlockHash: store.tipHash.hex,
            stateRoot: store.state.stateRoot.hex, syncing: false, peers: [],
            validators: set.map { .init(publicKey: $0.publicKey.hex, power: $0.power) }, round: 0, mempoolSize: mempool.count)
    }

    /// A stored block.
    public func block(at height: UInt64) async throws -> (Block, CommitCertificate)? {
        try validator.store.block(at: height).map { ($0.block, $0.commit) }
    }

    /// The validator set in force at `height`, as the block store recorded it.
    public func validatorSet(inForceAt height: UInt64) async throws -> ValidatorSet? {
        try validator.store.validatorSet(inForceAt: height)
    }

    /// Runs a query on the committed state.
    public func query<Result: Sendable>(_ body: @Sendable (LedgerQueries, UInt64, UInt64) throws -> Result) async throws -> Result
    {
        let store = validator.store
        let time = store.tipTimeMilliseconds ?? validator.genesis.genesisTimeMilliseconds
        return try body(LedgerQueries(backend: store.state), store.height, time)
    }

    /// Always ready.
    public func isReady() async -> Bool { true }

    /// The height and mempool size.
    public func metricsText() async -> String {
        let metrics = NodeMetrics()
        metrics.height.set(Double(validator.store.height))
        metrics.mempoolTransactions.set(Double(mempool.count))
        return metrics.render()
    }
}
