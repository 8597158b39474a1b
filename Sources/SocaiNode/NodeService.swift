import SocaiCore
import SocaiState

/// What a node's status endpoint reports.
public struct NodeStatus: Sendable, Codable, Equatable {
    /// The chain id.
    public var chainID: String
    /// The node's public key, hex.
    public var nodeKey: String
    /// Committed height.
    public var height: UInt64
    /// Hash of the latest committed block, hex.
    public var latestBlockHash: String
    /// State root after the latest block, hex.
    public var stateRoot: String
    /// Whether the node is catching up with peers.
    public var syncing: Bool
    /// Connected peers' keys, hex.
    public var peers: [String]
    /// The validator set for the next height.
    public var validators: [ValidatorEntry]
    /// Consensus round at the next height.
    public var round: UInt32
    /// Transactions waiting in the mempool.
    public var mempoolSize: Int

    /// One validator.
    public struct ValidatorEntry: Sendable, Codable, Equatable {
        /// Public key, hex.
        public var publicKey: String
        /// Voting power.
        public var power: UInt64
    }
}

/// A committed transaction's result.
public struct CommittedTransaction: Sendable, Codable, Equatable {
    /// The transaction hash, hex.
    public var hash: String
    /// Height of its block.
    public var height: UInt64
    /// Result code name.
    public var code: String
    /// Result code number.
    public var codeNumber: UInt16
    /// Explanation.
    public var message: String
}

/// What the HTTP API needs from a node: submission, status, blocks and proven state queries.
/// `ValidatorNode` implements it; tests can use a single-process development node.
public protocol NodeService: Sendable {
    /// Checks and accepts a transaction into the mempool; throws `Mempool.Rejection` naming the rule.
    func submit(_ envelope: TransactionEnvelope) async throws -> Hash
    /// Checks and accepts each of `envelopes` in order, as `submit(_:)` would one at a time,
    /// and returns one outcome per envelope: its hash, or the error (`Mempool.Rejection`
    /// naming the rule, or a failure to read the state). A batch is not atomic: each
    /// transaction stands or falls alone. At most `NodeSubmission.batchTransactionsMax`.
    func submit(batch envelopes: [TransactionEnvelope]) async -> [Result<Hash, any Error>]
    /// Waits for a transaction's result, or nil after `timeoutMilliseconds`.
    func waitForCommit(_ hash: Hash, timeoutMilliseconds: UInt64) async -> CommittedTransaction?
    /// A committed transaction's result.
    func committedTransaction(_ hash: Hash) async -> CommittedTransaction?
    /// Status.
    func status() async -> NodeStatus
    /// The block at `height` with its certificate.
    func block(at height: UInt64) async throws -> (Block, CommitCertificate)?
    /// Runs a state query against the committed state: the queries, the height and the last block's time.
    func query<Result: Sendable>(_ body: @Sendable (LedgerQueries, UInt64, UInt64) throws -> Result) async throws -> Result
    /// Whether the node is ready to serve (false while syncing).
    func isReady() async -> Bool
    /// Prometheus text exposition of the node's metrics.
    func metricsText() async -> String
    /// The committed height, readable without a hop onto the node; nil when the node does not
    /// publish it (then callers must not cache answers across requests).
    var committedHeightWatch: CommittedHeightWatch? { get }
    /// The validator set in force at `height`, when the node recorded it (nil otherwise).
    func validatorSet(inForceAt height: UInt64) async throws -> ValidatorSet?
}

/// Bounds on what one submission carries.
public enum NodeSubmission {
    /// Most transactions in one batch submission. A batch is admitted in one turn of the
    /// node's actor, and this keeps that turn to a few milliseconds.
    public static let batchTransactionsMax = 256
}

extension NodeService {
    /// One `submit(_:)` per envelope, in order.
    public func submit(batch envelopes: [TransactionEnvelope]) async -> [Result<Hash, any Error>] {
        precondition(envelopes.count <= NodeSubmission.batchTransactionsMax, "a submission batch over its maximum")
        var outcomes: [Result<Hash, any Error>] = []
        outcomes.reserveCapacity(envelopes.count)
        for envelope in envelopes {
            do { outcomes.append(.success(try await submit(envelope))) } catch { outcomes.append(.failure(error)) }
        }
        return outcomes
    }

    /// No published height: answers are computed afresh for every request.
    public var committedHeightWatch: CommittedHeightWatch? { nil }
    /// No record of past validator sets.
    public func validatorSet(inForceAt height: UInt64) async throws -> ValidatorSet? { nil }
}
