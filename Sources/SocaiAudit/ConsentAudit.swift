import SocaiCore
import SocaiState

/// One consent event of a citizen: a grant, a revocation, an access or a sale that relied on
/// one of their consents.
public struct ConsentEvent: Codable, Sendable, Equatable {
    /// What happened.
    public enum Kind: String, Codable, Sendable {
        /// A consent was granted.
        case grant
        /// A consent was revoked.
        case revoke
        /// A provider delivered data under a consent.
        case access
        /// A data product including the subject's data was sold under a consent.
        case sale
    }

    /// What happened.
    public var kind: Kind
    /// Block height.
    public var height: UInt64
    /// Position in the block.
    public var transactionIndex: Int
    /// Block time, milliseconds since the Unix epoch.
    public var timeMilliseconds: UInt64
    /// The transaction's hash, hex.
    public var transactionHash: String
    /// The consent concerned (its grant's transaction hash), hex.
    public var consentID: String
    /// The subject.
    public var subject: String
    /// The consumer.
    public var consumer: String
    /// The provider.
    public var provider: String
    /// The purpose code.
    public var purposeCode: String
    /// Data categories granted, accessed or sold.
    public var categories: [String]
}

/// An access or a sale that no consent covered, found by the auditor's own check.
public struct ConsentViolation: Codable, Sendable, Equatable {
    /// `access` or `sale`.
    public var kind: ConsentEvent.Kind
    /// Block height.
    public var height: UInt64
    /// Position in the block.
    public var transactionIndex: Int
    /// The transaction's hash, hex.
    public var transactionHash: String
    /// Why no consent covered it, in words.
    public var reason: String
}

/// The auditor's own consent check, fed every executed transaction in chain order.
///
/// Deliberately independent of the state machine (docs ARCHITECTURE, rules of the house): it
/// rebuilds consents from committed grants and revocations and asks, of every committed access
/// and sale, whether a consent covered it — same subject, consumer, provider and purpose, every
/// category granted, the block time inside [validFrom, validUntil), not revoked before, below
/// its access limit, and the subject's DID not deactivated. It never calls `LedgerRules`.
public final class ConsentAuditor {
    /// Most violations kept in the report (all are counted).
    public static let violationsKeptMax = 10_000
    /// Most events kept for one subject.
    public static let eventsKeptMax = 1_000_000

    private struct Consent {
        let grant: ConsentGrant
        let height: UInt64
        var revokedHeight: UInt64?
        var accessCount: UInt64 = 0
    }

    private let subject: DID?
    // Looked up by id only; never iterated, so dictionary order cannot reach the output.
    private var consents: [Hash: Consent] = [:]
    private var offers: [Hash: OfferCreate] = [:]
    private var deactivatedHeights: [DID: UInt64] = [:]
    /// The subject's events, in chain order (only when a subject was given).
    public private(set) var events: [ConsentEvent] = []
    /// Violations found, in chain order (at most `violationsKeptMax`).
    public private(set) var violations: [ConsentViolation] = []
    /// Every violation found, kept or not.
    public private(set) var violationCount = 0
    /// Committed accesses checked.
    public private(set) var accessesChecked = 0
    /// Committed sales checked (one per order, covering all its subjects).
    public private(set) var salesChecked = 0

    /// An auditor; with `subject`, it also lists that citizen's events.
    public init(subject: DID? = nil) { self.subject = subject }

    /// Takes the next executed transaction; only successful ones changed anything.
    public func record(_ transaction: ExecutedTransaction) {
        guard transaction.code == .ok, let kind = TransactionKind(rawValue: transaction.envelope.kind) else { return }
        let payload = transaction.envelope.payload
        // A payload that executed `ok` decoded in the state machine; one that does not decode
        // here would be a state-machine bug, so it is reported as a violation rather than skipped.
        do throws(FormatError) {
            switch kind {
            case .consentGrant:
                let grant = try ConsentGrant(canonicalBytes: payload)
                consents[transaction.hash] = Consent(grant: grant, height: transaction.height)
                note(.grant, transaction, consentID: transaction.hash, grant: grant, categories: grant.categories)
            case .consentRevoke:
                let revoke = try ConsentRevoke(canonicalBytes: payload)
                guard var consent = consents[revoke.consentID] else {
                    return violation(.access, transaction, "a revocation of consent \(revoke.consentID), which was never granted")
                }
                consent.revokedHeight = transaction.height
                consents[revoke.consentID] = consent
                note(
                    .revoke, transaction, consentID: revoke.consentID, grant: consent.grant, categories: consent.grant.categories)
            case .accessRecord:
                let access = try AccessRecord(canonicalBytes: payload)
                accessesChecked += 1
                if let reason = uncovered(
                    access.consentID, subject: nil, consumer: access.consumer, provider: access.provider,
                    purposeCode: access.purposeCode, categories: access.categories, transaction: transaction)
                {
                    violation(.access, transaction, reason)
                }
                if var consent = consents[access.consentID] {
                    consent.accessCount += 1
                    consents[access.consentID] = consent
                    note(.access, transaction, consentID: access.consentID, grant: consent.grant, categories: access.categories)
                }
            case .offerCreate:
                offers[transaction.hash] = try OfferCreate(canonicalBytes: payload)
            case .orderPlace:
                let order = try OrderPlace(canonicalBytes: payload)
                salesChecked += 1
                guard let offer = offers[order.offerID] else {
                    return violation(.sale, transaction, "a sale of offer \(order.offerID), which was never created")
                }
                guard order.consentIDs.count == offer.subjects.count else {
                    return violation(
                        .sale, transaction,
                        "the offer has \(offer.subjects.count) subjects but the order names \(order.consentIDs.count) consents")
                }
                for (subject, consentID) in zip(offer.subjects, order.consentIDs) {
                    if let reason = uncovered(
                        consentID, subject: subject, consumer: order.consumer, provider: offer.provider,
                        purposeCode: order.purposeCode, categories: offer.categories, transaction: transaction)
                    {
                        violation(.sale, transaction, "subject \(subject): \(reason)")
                    } else if let consent = consents[consentID] {
                        note(.sale, transaction, consentID: consentID, grant: consent.grant, categories: offer.categories)
                    }
                }
            case .didDeactivate:
                let did = try DIDDeactivate(canonicalBytes: payload).did
                if deactivatedHeights[did] == nil { deactivatedHeights[did] = transaction.height }
            default:
                return
            }
        } catch {
            violation(kind == .orderPlace ? .sale : .access, transaction, "a committed payload does not decode: \(error.message)")
        }
    }

    /// Why consent `id` did not cover this use, or nil when it did. `subject` nil means any subject.
    private func uncovered(
        _ id: Hash, subject: DID?, consumer: DID, provider: DID, purposeCode: String, categories: [DataCategory],
        transaction: ExecutedTransaction
    ) -> String? {
        guard let consent = consents[id] else { return "no consent \(id) was granted before it" }
        let grant = consent.grant
        if let subject, grant.subject != subject { return "consent \(id) is of subject \(grant.subject), not \(subject)" }
        guard grant.consumer == consumer else { return "consent \(id) names consumer \(grant.consumer), not \(consumer)" }
        guard grant.provider == provider else { return "consent \(id) names provider \(grant.provider), not \(provider)" }
        guard grant.purpose.code == purposeCode else {
            return "consent \(id) is for purpose \(grant.purpose.code), not \(purposeCode)"
        }
        let granted = Set(grant.categories)
        let missing = categories.filter { !granted.contains($0) }
        guard missing.isEmpty else {
            return "consent \(id) does not grant \(missing.map { "\($0)" }.joined(separator: ", "))"
        }
        if let revoked = consent.revokedHeight { return "consent \(id) was revoked at block \(revoked)" }
        let time = transaction.timeMilliseconds
        guard time >= grant.validFromMilliseconds else {
            return "consent \(id) is valid from \(grant.validFromMilliseconds), after the block time \(time)"
        }
        guard time < grant.validUntilMilliseconds else {
            return "consent \(id) expired at \(grant.validUntilMilliseconds), before the block time \(time)"
        }
        if let limit = grant.accessesMax, consent.accessCount >= UInt64(limit) {
            return "consent \(id) had already been used \(consent.accessCount) of \(limit) times"
        }
        if let deactivated = deactivatedHeights[grant.subject] {
            return "the subject \(grant.subject) was deactivated at block \(deactivated)"
        }
        return nil
    }

    private func note(
        _ kind: ConsentEvent.Kind, _ transaction: ExecutedTransaction, consentID: Hash, grant: ConsentGrant,
        categories: [DataCategory]
    ) {
        guard let subject, grant.subject == subject, events.count < Self.eventsKeptMax else { return }
        events.append(
            ConsentEvent(
                kind: kind, height: transaction.height, transactionIndex: transaction.index,
                timeMilliseconds: transaction.timeMilliseconds, transactionHash: transaction.hash.hex,
                consentID: consentID.hex, subject: grant.subject.value, consumer: grant.consumer.value,
                provider: grant.provider.value, purposeCode: grant.purpose.code, categories: categories.map { "\($0)" }))
    }

    private func violation(_ kind: ConsentEvent.Kind, _ transaction: ExecutedTransaction, _ reason: String) {
        violationCount += 1
        guard violations.count < Self.violationsKeptMax else { return }
        violations.append(
            ConsentViolation(
                kind: kind, height: transaction.height, transactionIndex: transaction.index,
                transactionHash: transaction.hash.hex, reason: reason))
    }
}
