import SocaiCore
import Synchronization

/// The outcome of checking recent transactions' signatures, by transaction hash, so that a
/// transaction is verified once per node however many copies arrive.
///
/// Gossip relays every accepted transaction to every peer, so with n validators a node is
/// sent each transaction by up to n − 1 peers (and its own submissions come back). Before
/// this record every copy was verified again, which made Ed25519 three times the cost it
/// needs to be on a four-validator network. A copy still goes to the mempool, which refuses
/// duplicates: only the signature check is skipped, and its result is the recorded one.
///
/// Keyed by the transaction hash, which covers the signature (docs/FORMAT.md §4): a copy
/// with another signature is another entry with its own verdict.
///
/// Thread-safe: HTTP submissions and the peer message loop record and read it off the node's
/// actor. Bounded: the oldest verdict is forgotten once `capacity` are held.
final class SignatureVerdicts: Sendable {
    /// Verdicts held by default: a few blocks' worth of transactions (about 3 MB).
    static let capacityDefault = 1 << 16

    private let verdicts: Mutex<RecentHashes<Bool>>

    /// An empty record of at most `capacity` verdicts.
    init(capacity: Int = SignatureVerdicts.capacityDefault) {
        verdicts = Mutex(RecentHashes(capacity: capacity))
    }

    /// Whether `envelope` carries a valid signature: the recorded verdict if there is one,
    /// else checked now and recorded.
    func isValid(_ envelope: TransactionEnvelope) -> Bool {
        let hash = envelope.hash
        if let verdict = verdicts.withLock({ $0[hash] }) { return verdict }
        // Verified outside the lock: two threads may both verify one transaction the first
        // time, which is harmless, but no thread waits behind another's verification.
        let verdict = envelope.hasValidSignature
        verdicts.withLock { _ = $0.record(hash, verdict) }
        return verdict
    }

    /// Number of verdicts held.
    var count: Int { verdicts.withLock { $0.count } }
}
