import SocaiCore
import SocaiState

/// Transactions waiting for a block: bounded in count and bytes, without duplicates, each
/// checked by the state machine before it is accepted (and before it is gossiped).
///
/// Every transaction held has had its signature verified (here, or by the caller that says
/// so), so a block built from the mempool, or a proposal whose transactions are all held
/// here, need not verify those signatures again.
///
/// Per signer, nonces are accepted only in sequence (the next after the committed nonce and
/// the signer's pending ones), so arrival order is always a valid execution order.
public final class Mempool {
    /// Most transactions held.
    public let transactionsMax: Int
    /// Most bytes of encoded transactions held.
    public let bytesMax: Int

    /// Why a transaction was not accepted.
    public enum Rejection: Error, Equatable, CustomStringConvertible {
        /// Already pending or already committed.
        case duplicate
        /// The mempool is at its count or byte limit.
        case full(String)
        /// The state machine refuses it; the outcome names the rule.
        case invalid(TransactionResultCode, String)

        /// A one-line explanation.
        public var description: String {
            switch self {
            case .duplicate: return "the transaction is already pending or committed"
            case .full(let message): return message
            case .invalid(let code, let message): return "\(code.name): \(message)"
            }
        }
    }

    private var pending: [TransactionEnvelope] = []
    private var pendingHashes: Set<Hash> = []
    private var pendingPerSigner: [PublicKey: UInt64] = [:]
    /// Bytes of encoded transactions held.
    public private(set) var bytes = 0

    /// Creates an empty mempool with the given limits.
    public init(transactionsMax: Int = 10_000, bytesMax: Int = 64 * 1024 * 1024) {
        precondition(transactionsMax > 0 && bytesMax > 0)
        self.transactionsMax = transactionsMax
        self.bytesMax = bytesMax
    }

    /// Transactions held.
    public var count: Int { pending.count }

    /// Whether `hash` is pending.
    public func contains(_ hash: Hash) -> Bool { pendingHashes.contains(hash) }

    /// Checks `envelope` against the committed state (as if in the next block, at `height` and
    /// `timeMilliseconds`) and holds it if acceptable.
    public func add(
        _ envelope: TransactionEnvelope, executor: LedgerExecutor, state: any StateBackend, height: UInt64,
        timeMilliseconds: UInt64, signatureVerified: Bool = false
    ) throws -> Hash {
        let hash = envelope.hash
        guard !pendingHashes.contains(hash) else { throw Rejection.duplicate }
        guard try LedgerQueries(backend: state).transaction(hash) == nil else { throw Rejection.duplicate }
        let size = envelope.canonicalBytes.count
        guard pending.count < transactionsMax else {
            throw Rejection.full("the mempool holds its maximum of \(transactionsMax) transactions")
        }
        guard bytes + size <= bytesMax else { throw Rejection.full("the mempool holds its maximum of \(bytesMax) bytes") }
        let ahead = pendingPerSigner[envelope.signer, default: 0]
        let outcome = try executor.check(
            envelope, on: state, height: height, timeMilliseconds: timeMilliseconds, pendingFromSigner: ahead,
            signatureVerified: signatureVerified)
        switch outcome.code {
        case .ok:
            break
        case .unknownKind, .malformedPayload:
            throw Rejection.invalid(outcome.code, outcome.message)
        case let code where !code.consumesNonce:
            // Wrong chain, bad signature or out-of-sequence nonce: never includable.
            throw Rejection.invalid(code, outcome.message)
        default:
            // A rule fails against committed state. With earlier transactions of the same signer
            // still pending (a DID created a moment ago), it may pass once they apply: keep it.
            guard ahead > 0 else { throw Rejection.invalid(outcome.code, outcome.message) }
        }
        pending.append(envelope)
        pendingHashes.insert(hash)
        pendingPerSigner[envelope.signer] = ahead + 1
        bytes += size
        return hash
    }

    /// The oldest pending transactions that fit in `transactionsMax` and `bytesMax`, in order.
    public func reap(transactionsMax: Int, bytesMax: Int) -> [TransactionEnvelope] {
        var selected: [TransactionEnvelope] = []
        var selectedBytes = 0
        var skippedSigners: Set<PublicKey> = []
        for envelope in pending where selected.count < transactionsMax {
            // Once a signer's transaction is skipped, its later nonces cannot go before it.
            if skippedSigners.contains(envelope.signer) { continue }
            let size = envelope.canonicalBytes.count + 4
            if selectedBytes + size > bytesMax {
                skippedSigners.insert(envelope.signer)
                continue
            }
            selected.append(envelope)
            selectedBytes += size
        }
        return selected
    }

    /// Removes committed transactions and those whose nonce the committed state has passed.
    public func update(committed: [TransactionEnvelope], state: any StateBackend) throws {
        let committedHashes = Set(committed.map(\.hash))
        let queries = LedgerQueries(backend: state)
        var nextNonce: [PublicKey: UInt64] = [:]
        var kept: [TransactionEnvelope] = []
        for envelope in pending where !committedHashes.contains(envelope.hash) {
            if nextNonce[envelope.signer] == nil { nextNonce[envelope.signer] = try queries.nextNonce(envelope.signer) }
            // Keep only an unbroken run of nonces from the signer's next one.
            guard envelope.nonce == nextNonce[envelope.signer] else { continue }
            nextNonce[envelope.signer]! += 1
            kept.append(envelope)
        }
        pending = kept
        pendingHashes = Set(kept.map(\.hash))
        pendingPerSigner = [:]
        bytes = 0
        for envelope in kept {
            pendingPerSigner[envelope.signer, default: 0] += 1
            bytes += envelope.canonicalBytes.count
        }
    }
}
