import SocaiCore
import SocaiCrypto

/// Every kind of ledger transaction, by the number carried in the envelope's `kind` field.
public enum TransactionKind: UInt16, Sendable, Hashable, CaseIterable {
    /// Create a `did:socai` identifier from the signer's key.
    case didCreate = 1
    /// Add or remove keys and services of a DID.
    case didUpdate = 2
    /// Deactivate a DID for good.
    case didDeactivate = 3
    /// A governance action approved by M of the N governance keys.
    case governance = 10
    /// A consumer asks a subject for consent.
    case consentRequest = 20
    /// A subject grants consent.
    case consentGrant = 21
    /// A subject withdraws consent.
    case consentRevoke = 22
    /// A provider records an access under a consent.
    case accessRecord = 30
    /// Move credits between DIDs.
    case transfer = 40
    /// A provider offers a data product.
    case offerCreate = 41
    /// A provider withdraws an offer.
    case offerClose = 42
    /// A consumer buys an offer, escrowing its price.
    case orderPlace = 43
    /// The provider records the delivered package's hash.
    case orderDeliver = 44
    /// The consumer confirms delivery, releasing escrow to the provider.
    case orderConfirm = 45
    /// The consumer takes back escrow after the delivery deadline passed undelivered.
    case orderRefund = 46

    /// The kind's name, as the specification and the command line write it.
    public var name: String {
        switch self {
        case .didCreate: return "DIDCreate"
        case .didUpdate: return "DIDUpdate"
        case .didDeactivate: return "DIDDeactivate"
        case .governance: return "Governance"
        case .consentRequest: return "ConsentRequest"
        case .consentGrant: return "ConsentGrant"
        case .consentRevoke: return "ConsentRevoke"
        case .accessRecord: return "AccessRecord"
        case .transfer: return "Transfer"
        case .offerCreate: return "OfferCreate"
        case .offerClose: return "OfferClose"
        case .orderPlace: return "OrderPlace"
        case .orderDeliver: return "OrderDeliver"
        case .orderConfirm: return "OrderConfirm"
        case .orderRefund: return "OrderRefund"
        }
    }
}

/// A transaction payload of one kind.
public protocol LedgerPayload: CanonicalCodable, Sendable, Equatable {
    /// The envelope kind that carries this payload.
    static var kind: TransactionKind { get }
}

extension LedgerPayload {
    /// Builds and signs an envelope carrying this payload.
    public func envelope(chainID: ChainID, key: SigningKey, nonce: UInt64) throws(FormatError) -> TransactionEnvelope {
        try TransactionEnvelope.signed(
            chainID: chainID, key: key, nonce: nonce, kind: Self.kind.rawValue, payload: canonicalBytes)
    }
}

/// A service endpoint in a DID document.
public struct DIDService: Hashable, Sendable, CanonicalCodable {
    /// Fragment id, unique in the document (`#id`).
    public let id: String
    /// Service type, e.g. `LinkedDomains` or `DataProviderEndpoint`.
    public let type: String
    /// Endpoint URL.
    public let endpoint: String

    /// Validates a service.
    public init(id: String, type: String, endpoint: String) throws(FormatError) {
        try validateFragment(id)
        guard !type.isEmpty, type.utf8.count <= LedgerLimits.serviceTypeBytesMax else {
            throw FormatError(.invalidValue, "service type must be 1 to \(LedgerLimits.serviceTypeBytesMax) bytes")
        }
        guard !endpoint.isEmpty, endpoint.utf8.count <= LedgerLimits.serviceEndpointBytesMax,
            !endpoint.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0 == " " })
        else {
            throw FormatError(
                .invalidValue, "service endpoint must be 1 to \(LedgerLimits.serviceEndpointBytesMax) bytes without spaces")
        }
        self.id = id
        self.type = type
        self.endpoint = endpoint
    }

    /// Writes id, type, endpoint.
    public func encode(to writer: inout ByteWriter) {
        writer.writeShortText(id)
        writer.writeShortText(type)
        writer.writeText(endpoint)
    }

    /// Reads and validates a service.
    public init(from reader: inout ByteReader) throws(FormatError) {
        try self.init(
            id: try reader.readShortText("service id", maximum: LedgerLimits.fragmentBytesMax),
            type: try reader.readShortText("service type", maximum: LedgerLimits.serviceTypeBytesMax),
            endpoint: try reader.readText("service endpoint", maximum: LedgerLimits.serviceEndpointBytesMax))
    }
}

/// Throws unless `id` is a fragment: 1 to 32 bytes of a-z, A-Z, 0-9, '-' and '_'.
func validateFragment(_ id: String) throws(FormatError) {
    let bytes = Array(id.utf8)
    let allowed = bytes.allSatisfy { byte in
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
    guard !bytes.isEmpty, bytes.count <= LedgerLimits.fragmentBytesMax, allowed else {
        throw FormatError(
            .invalidValue,
            "fragment id \"\(id)\" must be 1 to \(LedgerLimits.fragmentBytesMax) bytes of letters, digits, '-' and '_'")
    }
}

/// Verification relationships a key can have in a DID document (a bit set).
public struct KeyRelationships: OptionSet, Hashable, Sendable {
    /// The bits.
    public let rawValue: UInt8
    /// Creates a set from its bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The key authenticates the DID's controller: it may sign DID updates and transactions as the DID.
    public static let authentication = KeyRelationships(rawValue: 0b01)
    /// The key may issue assertions (credentials) for the DID.
    public static let assertionMethod = KeyRelationships(rawValue: 0b10)
    /// Every defined bit.
    public static let all: KeyRelationships = [.authentication, .assertionMethod]
}

/// `DIDCreate`: creates the DID derived from the signer's key, with that key as `key-1`
/// (authentication and assertion) and the given services.
public struct DIDCreate: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.didCreate
    /// The DID; must equal `DID(initialKey: signer)`.
    public let did: DID
    /// Initial services, sorted by id.
    public let services: [DIDService]

    /// Creates a payload; services are sorted by id.
    public init(did: DID, services: [DIDService] = []) {
        self.did = did
        self.services = services.sorted { $0.id < $1.id }
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(did)
        writer.writeList(services) { writer, service in writer.write(service) }
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        did = try reader.read(DID.self)
        services = try reader.readList("services", maximum: LedgerLimits.servicesMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(DIDService.self)
        }
        try requireStrictlyAscending(services.map(\.id), "services")
    }
}

/// One change to a DID document.
public enum DIDOperation: Hashable, Sendable, CanonicalCodable {
    /// Add a verification method.
    case addKey(id: String, publicKey: PublicKey, relationships: KeyRelationships)
    /// Remove a verification method (rotation is an add and a remove in one update).
    case removeKey(id: String)
    /// Add a service.
    case addService(DIDService)
    /// Remove a service.
    case removeService(id: String)

    /// Writes a tag byte (1 add key, 2 remove key, 3 add service, 4 remove service) and fields.
    public func encode(to writer: inout ByteWriter) {
        switch self {
        case .addKey(let id, let publicKey, let relationships):
            writer.write(UInt8(1))
            writer.writeShortText(id)
            writer.write(publicKey)
            writer.write(relationships.rawValue)
        case .removeKey(let id):
            writer.write(UInt8(2))
            writer.writeShortText(id)
        case .addService(let service):
            writer.write(UInt8(3))
            writer.write(service)
        case .removeService(let id):
            writer.write(UInt8(4))
            writer.writeShortText(id)
        }
    }

    /// Reads one operation.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let tag = try reader.readUInt8("DID operation")
        switch tag {
        case 1:
            let id = try reader.readShortText("key id", maximum: LedgerLimits.fragmentBytesMax)
            try validateFragment(id)
            let key = try reader.read(PublicKey.self)
            let bits = try reader.readUInt8("key relationships")
            guard bits != 0, bits & ~KeyRelationships.all.rawValue == 0 else {
                throw FormatError(
                    .invalidValue, "key relationships \(bits) must be a non-empty set of 1 (authentication) and 2 (assertion)")
            }
            self = .addKey(id: id, publicKey: key, relationships: KeyRelationships(rawValue: bits))
        case 2:
            let id = try reader.readShortText("key id", maximum: LedgerLimits.fragmentBytesMax)
            try validateFragment(id)
            self = .removeKey(id: id)
        case 3:
            self = .addService(try reader.read(DIDService.self))
        case 4:
            let id = try reader.readShortText("service id", maximum: LedgerLimits.fragmentBytesMax)
            try validateFragment(id)
            self = .removeService(id: id)
        default:
            throw FormatError(.invalidValue, "DID operation \(tag) is unknown")
        }
    }
}

/// `DIDUpdate`: applies operations in order; signed by a current authentication key.
public struct DIDUpdate: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.didUpdate
    /// The DID to change.
    public let did: DID
    /// The changes, applied in order (1 to `LedgerLimits.didOperationsMax`).
    public let operations: [DIDOperation]

    /// Creates a payload.
    public init(did: DID, operations: [DIDOperation]) {
        self.did = did
        self.operations = operations
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(did)
        writer.writeList(operations) { writer, operation in writer.write(operation) }
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        did = try reader.read(DID.self)
        operations = try reader.readList("operations", maximum: LedgerLimits.didOperationsMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(DIDOperation.self)
        }
        guard !operations.isEmpty else { throw FormatError(.invalidValue, "a DID update needs at least one operation") }
    }
}

/// `DIDDeactivate`: ends a DID for good; signed by a current authentication key.
public struct DIDDeactivate: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.didDeactivate
    /// The DID to deactivate.
    public let did: DID

    /// Creates a payload.
    public init(did: DID) { self.did = did }
    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) { writer.write(did) }
    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) { did = try reader.read(DID.self) }
}
