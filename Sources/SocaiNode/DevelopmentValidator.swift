import SocaiCore
import SocaiCrypto
import SocaiState
import SocaiStore

/// A one-validator stand-in for consensus on a node home whose key alone holds more than two
/// thirds of the genesis power: it builds, executes, signs and stores blocks of the
/// transactions it is given. Until validator nodes exist, this is how signed transactions
/// reach a real store, so the CLI's queries and `chain verify` work end to end.
public final class DevelopmentValidator {
    /// The node's block and state store.
    public let store: BlockStore
    /// The genesis the node was created for.
    public let genesis: Genesis
    private var chain: DevelopmentChain
    private let executor: LedgerExecutor

    /// Opens `home`, creating its store and genesis state if needed.
    public init(home: NodeHome) throws {
        genesis = try home.loadGenesis()
        store = try home.openBlockStore(genesis: genesis)
        executor = LedgerExecutor(genesis: genesis)
        if store.state.height == nil {
            guard store.height == 0 else {
                throw NodeError(
                    .invalid, "\(home.blockStorePath) holds blocks without ledger state; start from an empty data directory")
            }
            try store.initializeState(try LedgerExecutor.genesisChanges(genesis, on: store.state))
        }
        chain = try DevelopmentChain(
            chainID: genesis.chainID, genesisHash: genesis.hash, validatorKeys: [try home.loadNodeKey()],
            validatorSet: try executor.validatorSet(forHeight: store.height + 1, on: store.state))
        if let tip = try store.block(at: store.height) { chain.resume(after: tip.block, commit: tip.commit) }
    }

    /// The time the next block will carry: one second after the previous block (or genesis).
    public func nextBlockTime() throws -> UInt64 {
        let previous = try store.block(at: store.height)?.block.header.timeMilliseconds ?? genesis.genesisTimeMilliseconds
        return previous + 1_000
    }

    /// Builds the next block of `transactions`, executes it, signs its commit and stores both.
    @discardableResult
    public func commit(_ transactions: [TransactionEnvelope], timeMilliseconds: UInt64? = nil) throws -> (Block, BlockExecution) {
        let time = try timeMilliseconds ?? nextBlockTime()
        let state = store.state
        let executor = executor
        let (block, commit) = try chain.nextBlock(transactions: transactions, timeMilliseconds: time) {
            (draft: Block) throws(StateError) in
            try executor.execute(draft, on: state).stateRoot
        }
        let execution = try store.appendExecuting(block, commit: commit, executor: executor)
        return (block, execution)
    }
}
