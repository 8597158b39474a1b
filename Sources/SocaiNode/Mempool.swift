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

    /// A held transaction with its encoded size, computed once on admission: each commit
    /// walks every held transaction, and a size costs an encoding. (The envelope keeps its
    /// own hash.)
    private struct Entry {
        let envelope: TransactionEnvelope
        let size: Int
    }

    private var pending: [Entry] = []
    private var pendingHashes: Set<Hash> = []
    private var pendingPerSigner: [PublicKey: UInt64] = [:]
    /// Hashes of the latest committed transactions that left an outcome record in the state
    /// (`remember(committed:)`), at most `recentlyCommittedMaxDefault` unless a test asks for
    /// fewer.
    ///
    /// Why: a busy network commits a transaction before every copy of it has gone round
    /// the gossip, and each late copy asked the state whether it was committed. The key
    /// filter cannot rule a committed key out, so each such read walked the state tree and
    /// read SQLite: about 1% of a saturated validator's processor time. A hash found here is
    /// committed; one not found is still looked up in the state, so the bound costs nothing
    /// but that read.
    private var recentlyCommitted: RecentHashes<Void>
    /// Committed hashes remembered by default: several full blocks' worth (about 5 MB).
    static let recentlyCommittedMaxDefault = 1 << 16
    /// Transactions held when the caller names no bound: one full block's worth.
    public static let transactionsMaxDefault = 10_000
    /// Bytes of encoded transactions held when the caller names no bound.
    public static let bytesMaxDefault = 64 << 20

    /// Set while an `update` has not completed: a block was committed whose transactions the
    /// mempool may still hold, so the next update checks every held signer, not only its own.
    private var recheckEverySigner = false
    /// Bytes of encoded transactions held.
    public private(set) var bytes = 0

    /// Creates an empty mempool with the given limits.
    public convenience init(transactionsMax: Int = Mempool.transactionsMaxDefault, bytesMax: Int = Mempool.bytesMaxDefault) {
        self.init(transactionsMax: transactionsMax, bytesMax: bytesMax, recentlyCommittedMax: Self.recentlyCommittedMaxDefault)
    }

    /// Creates an empty mempool that also remembers at most `recentlyCommittedMax` committed
    /// hashes (tests make it small to reach the bound).
    init(transactionsMax: Int, bytesMax: Int, recentlyCommittedMax: Int) {
        precondition(transactionsMax > 0 && bytesMax > 0 && recentlyCommittedMax > 0)
        self.transactionsMax = transactionsMax
        self.bytesMax = bytesMax
        recentlyCommitted = RecentHashes(capacity: recentlyCommittedMax)
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
        guard !pendingHashes.contains(hash), recentlyCommitted[hash] == nil else { throw Rejection.duplicate }
        // Committed already: its outcome is in the state. A plain read, not a proven query:
        // every admission asks, and a proof walks the tree.
        guard try state.value(forKey: StateKey.transaction(hash)) == nil else { throw Rejection.duplicate }
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
        pending.append(Entry(envelope: envelope, size: size))
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
        for entry in pending where selected.count < transactionsMax {
            // Once a signer's transaction is skipped, its later nonces cannot go before it.
            if skippedSigners.contains(entry.envelope.signer) { continue }
            let size = entry.size + 4
            if selectedBytes + size > bytesMax {
                skippedSigners.insert(entry.envelope.signer)
                continue
            }
            selected.append(entry.envelope)
            selectedBytes += size
        }
        return selected
    }

    /// Removes committed transactions and those whose nonce the committed state has passed.
    /// Only the signers of `committed` can have a new committed nonce: their held runs are
    /// checked against the state again, every other signer's run stands as it was admitted
    /// (after a failed update, every held signer's run is checked).
    public func update(committed: [TransactionEnvelope], state: any StateBackend) throws {
        let committedHashes = Set(committed.map(\.hash))
        let committedSigners = Set(committed.map(\.signer))
        let queries = LedgerQueries(backend: state)
        // Every read first, so that a storage error leaves the mempool as it was; the block
        // is committed all the same, so the next update then checks every held signer.
        let signersToCheck = recheckEverySigner ? Set(pendingPerSigner.keys) : committedSigners
        recheckEverySigner = true
        // A signer all of whose held transactions the block committed has none left to check:
        // reading its nonce, which the block just wrote, cost a walk of the state tree per
        // transaction, as the value cache does not hold keys that were absent when admitted.
        var committedHeld: [PublicKey: UInt64] = [:]
        for envelope in committed where pendingHashes.contains(envelope.hash) {
            committedHeld[envelope.signer, default: 0] += 1
        }
        var nextNonce: [PublicKey: UInt64] = [:]
        for signer in signersToCheck {
            guard let held = pendingPerSigner[signer], held > committedHeld[signer, default: 0] else { continue }
            nextNonce[signer] = try queries.nextNonce(signer)
        }
        recheckEverySigner = false
        var kept: [Entry] = []
        kept.reserveCapacity(pending.count)
        for entry in pending {
            let signer = entry.envelope.signer
            var keep = !committedHashes.contains(entry.envelope.hash)
            if keep, let next = nextNonce[signer] {
                // Keep only an unbroken run of nonces from the signer's next one.
                keep = entry.envelope.nonce == next
                if keep { nextNonce[signer] = next + 1 }
            }
            if keep {
                kept.append(entry)
            } else {
                pendingHashes.remove(entry.envelope.hash)
                bytes -= entry.size
                let ahead = pendingPerSigner[signer, default: 0]
                precondition(ahead > 0, "mempool: a held transaction's signer had no count")
                pendingPerSigner[signer] = ahead > 1 ? ahead - 1 : nil
            }
        }
        pending = kept
        precondition(
            pendingHashes.count == pending.count && bytes >= 0, "mempool: the indexes disagree with the held transactions")
    }

    /// Remembers the committed transactions among `outcomes` (a committed block's) that left
    /// an outcome record in the state, so that a late copy of one is refused as a duplicate
    /// without reading the state; the oldest are forgotten past the bound.
    ///
    /// Only those: a transaction refused for its chain, signature or nonce leaves no trace,
    /// and one whose nonce was ahead of its signer's may yet be accepted again.
    public func remember(committed outcomes: [TransactionOutcome]) {
        for outcome in outcomes where outcome.code == .ok || outcome.code.consumesNonce {
            recentlyCommitted.record(outcome.transactionHash, ())
        }
    }
}
