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

/// A list of proven answers.
public struct ProvenList<View: Encodable & Sendable>: ResponseEncodable, Sendable {
    /// The items.
    public let items: [ProvenView<View>]
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

/// A consent as JSON.
public struct ConsentView: Encodable, Sendable {
    let id: String
    let subject: String
    let consumer: String
    let provider: String
    let purposeCode: String
    let purposeText: String
    let categories: [String]
    let mode: String
    let validFromMilliseconds: UInt64
    let validUntilMilliseconds: UInt64
    let accessesMax: UInt32?
    let accessCount: UInt32
    let grantedHeight: UInt64
    let revokedHeight: UInt64?
    let status: String

    init(_ record: ConsentRecord, atMilliseconds time: UInt64) {
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
    }
}

/// An access-log entry as JSON.
public struct AccessView: Encodable, Sendable {
    let consentID: String
    let provider: String
    let consumer: String
    let categories: [String]
    let purposeCode: String
    let deliveredHash: String
    let transactionHash: String
    let height: UInt64
    let milliseconds: UInt64

    init(_ entry: AccessLogEntry) {
        consentID = entry.access.consentID.hex
        provider = entry.access.provider.value
        consumer = entry.access.consumer.value
        categories = entry.access.categories.map(\.value)
        purposeCode = entry.access.purposeCode
        deliveredHash = entry.access.deliveredHash.hex
        transactionHash = entry.transactionHash.hex
        height = entry.height
        milliseconds = entry.milliseconds
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
