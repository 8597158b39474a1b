import Hummingbird
import SocaiCore
import SocaiCrypto
import SocaiState

/// A state entry's proof, as JSON: the entry, the root it is proven against and the proof bytes.
public struct ProofView: ResponseEncodable, Sendable, Equatable {
    /// The state key, hex.
    public let key: String
    /// The value, hex (its canonical encoding), or nil for a proof of absence.
    public let value: String?
    /// The state root, hex.
    public let root: String
    /// The sparse Merkle proof, hex (docs/FORMAT.md §19).
    public let proof: String

    init(_ proof: StateProof) {
        key = Hex.encode(proof.key)
        value = proof.value.map(Hex.encode)
        root = proof.root.hex
        self.proof = Hex.encode(proof.proof.canonicalBytes)
    }
}

/// A proven answer: a JSON view of the record and the proof of its entry.
public struct ProvenView<View: Encodable & Sendable>: ResponseEncodable, Sendable {
    /// The record as JSON.
    public let record: View
    /// Height of the state the proof is against.
    public let height: UInt64
    /// The proof.
    public let proof: ProofView
}

/// A page of proven answers.
///
/// Each item is proven present; a list cannot prove by itself that nothing was left out.
/// Where the ledger keeps a count of the entries (the access log), the answer carries it,
/// proven, as `total`: a client that reads every page checks that it got `total` items.
/// A page holds at most `itemsMax` items; a full one carries `next`, which `?after=` takes
/// to read the following page (which may be empty).
public struct ProvenList<View: Encodable & Sendable>: ResponseEncodable, Sendable {
    /// The items.
    public let items: [ProvenView<View>]
    /// The most items one page lists (`LedgerQueries.listLimitMax`).
    public let itemsMax: Int
    /// The cursor of the next page (hex), when this page is full.
    public let next: String?
    /// How many entries the ledger counts for this list, where it keeps such a count.
    public let total: UInt64?
    /// The proof of `total`'s entry (absent entry: a total of 0).
    public let totalProof: ProofView?

    /// A page without a proven total.
    init(items: [ProvenView<View>], next: [UInt8]?) {
        self.init(items: items, next: next, total: nil, totalProof: nil)
    }

    /// A page with the ledger's count of the list's entries and that count's proof.
    init(items: [ProvenView<View>], next: [UInt8]?, total: UInt64?, totalProof: ProofView?) {
        self.items = items
        self.itemsMax = LedgerQueries.listLimitMax
        self.next = next.map(Hex.encode)
        self.total = total
        self.totalProof = totalProof
    }
}

/// A DID document record as JSON.
public struct DIDView: Encodable, Sendable {
    let did: String
    let version: UInt64
    let deactivated: Bool
    let verificationMethods: [Method]
    let services: [Service]
    let createdHeight: UInt64
    let createdMilliseconds: UInt64
    let updatedHeight: UInt64
    let updatedMilliseconds: UInt64

    struct Method: Encodable, Sendable {
        let id: String
        let publicKey: String
        let authentication: Bool
        let assertionMethod: Bool
    }

    struct Service: Encodable, Sendable {
        let id: String
        let type: String
        let endpoint: String
    }

    init(_ record: DIDRecord) {
        did = record.did.value
        version = record.version
        deactivated = record.deactivated
        verificationMethods = record.verificationMethods.map {
            Method(
                id: $0.id, publicKey: $0.publicKey.hex, authentication: $0.relationships.contains(.authentication),
                assertionMethod: $0.relationships.contains(.assertionMethod))
        }
        services = record.services.map { Service(id: $0.id, type: $0.type, endpoint: $0.endpoint) }
        createdHeight = record.createdHeight
        createdMilliseconds = record.createdMilliseconds
        updatedHeight = record.updatedHeight
        updatedMilliseconds = record.updatedMilliseconds
    }
}

/// A consent as JSON: the API's answer and the CLI's `consent list` rows.
public struct ConsentView: Encodable, Sendable {
    /// The consent id, hex.
    public let id: String
    /// The citizen whose data it covers.
    public let subject: String
    /// The organization allowed to use the data.
    public let consumer: String
    /// The organization that holds the data.
    public let provider: String
    /// The purpose code.
    public let purposeCode: String
    /// The purpose in words.
    public let purposeText: String
    /// The data categories covered.
    public let categories: [String]
    /// The use allowed (view, copy, …).
    public let mode: String
    /// Start of validity, Unix milliseconds.
    public let validFromMilliseconds: UInt64
    /// End of validity, Unix milliseconds.
    public let validUntilMilliseconds: UInt64
    /// Most accesses allowed, if limited.
    public let accessesMax: UInt32?
    /// Accesses recorded so far.
    public let accessCount: UInt32
    /// Height of the grant.
    public let grantedHeight: UInt64
    /// Height of the revocation, if revoked.
    public let revokedHeight: UInt64?
    /// Active, revoked, expired, … at the state's time.
    public let status: String
    /// Whether the record's state proof verified (set by clients that check it; absent otherwise).
    public let proven: Bool?

    /// The view of `record` at block time `time`.
    public init(_ record: ConsentRecord, atMilliseconds time: UInt64, proven: Bool? = nil) {
        let grant = record.grant
        id = record.id.hex
        subject = grant.subject.value
        consumer = grant.consumer.value
        provider = grant.provider.value
        purposeCode = grant.purpose.code
        purposeText = grant.purpose.text
        categories = grant.categories.map(\.value)
        mode = grant.mode.name
        validFromMilliseconds = grant.validFromMilliseconds
        validUntilMilliseconds = grant.validUntilMilliseconds
        accessesMax = grant.accessesMax
        accessCount = record.accessCount
        grantedHeight = record.grantedHeight
        revokedHeight = record.revokedHeight
        status = record.status(at: time).rawValue
        self.proven = proven
    }
}

/// An access-log entry as JSON: the API's answer and the CLI's `access log` rows.
public struct AccessView: Encodable, Sendable {
    /// The consent the access was made under, hex.
    public let consentID: String
    /// The organization that delivered the data.
    public let provider: String
    /// The organization that received it.
    public let consumer: String
    /// The data categories delivered.
    public let categories: [String]
    /// The purpose code.
    public let purposeCode: String
    /// Hash of what was delivered, hex.
    public let deliveredHash: String
    /// The recording transaction, hex.
    public let transactionHash: String
    /// Height of the recording block.
    public let height: UInt64
    /// Block time, Unix milliseconds.
    public let milliseconds: UInt64
    /// Whether the entry's state proof verified (set by clients that check it; absent otherwise).
    public let proven: Bool?

    /// The view of `entry`.
    public init(_ entry: AccessLogEntry, proven: Bool? = nil) {
        consentID = entry.access.consentID.hex
        provider = entry.access.provider.value
        consumer = entry.access.consumer.value
        categories = entry.access.categories.map(\.value)
        purposeCode = entry.access.purposeCode
        deliveredHash = entry.access.deliveredHash.hex
        transactionHash = entry.transactionHash.hex
        height = entry.height
        milliseconds = entry.milliseconds
        self.proven = proven
    }
}

/// An offer as JSON.
public struct OfferView: Encodable, Sendable {
    let id: String
    let provider: String
    let title: String
    let categories: [String]
    let schemaHash: String
    let price: UInt64
    let allowedPurposes: [String]
    let licenseDurationMilliseconds: UInt64
    let resaleAllowed: Bool
    let subjects: [String]
    let deliveryDeadlineBlocks: UInt64
    let createdHeight: UInt64
    let closed: Bool

    init(_ record: OfferRecord) {
        let offer = record.offer
        id = record.id.hex
        provider = offer.provider.value
        title = offer.title
        categories = offer.categories.map(\.value)
        schemaHash = offer.schemaHash.hex
        price = offer.price
        allowedPurposes = offer.license.allowedPurposes
        licenseDurationMilliseconds = offer.license.durationMilliseconds
        resaleAllowed = offer.license.resaleAllowed
        subjects = offer.subjects.map(\.value)
        deliveryDeadlineBlocks = offer.deliveryDeadlineBlocks
        createdHeight = record.createdHeight
        closed = record.closed
    }
}

/// An order as JSON.
public struct OrderView: Encodable, Sendable {
    let id: String
    let consumer: String
    let provider: String
    let offerID: String
    let purposeCode: String
    let consentIDs: [String]
    let price: UInt64
    let escrow: UInt64
    let status: String
    let placedHeight: UInt64
    let deadlineHeight: UInt64
    let packageHash: String?

    init(_ record: OrderRecord) {
        id = record.id.hex
        consumer = record.consumer.value
        provider = record.provider.value
        offerID = record.offerID.hex
        purposeCode = record.purposeCode
        consentIDs = record.consentIDs.map(\.hex)
        price = record.price
        escrow = record.escrow
        status = String(describing: record.status)
        placedHeight = record.placedHeight
        deadlineHeight = record.deadlineHeight
        packageHash = record.packageHash?.hex
    }
}

/// A balance as JSON.
public struct BalanceView: Encodable, Sendable {
    let did: String
    let credits: UInt64
}
