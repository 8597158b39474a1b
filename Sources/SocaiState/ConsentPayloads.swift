import SocaiCore

/// `ConsentRequest`: a consumer organization asks a subject for consent. A grant may refer to it.
public struct ConsentRequest: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.consentRequest
    /// The requesting consumer organization (the signer must hold one of its authentication keys).
    public let consumer: DID
    /// The citizen asked.
    public let subject: DID
    /// The organization that holds the data.
    public let provider: DID
    /// Why the data is wanted.
    public let purpose: Purpose
    /// Which kinds of data, sorted.
    public let categories: [DataCategory]
    /// How the data would be used.
    public let mode: AccessMode
    /// Until when consent is asked for (block time, Unix milliseconds).
    public let validUntilMilliseconds: UInt64

    /// Creates a payload; categories are sorted.
    public init(
        consumer: DID, subject: DID, provider: DID, purpose: Purpose, categories: [DataCategory], mode: AccessMode,
        validUntilMilliseconds: UInt64
    ) {
        self.consumer = consumer
        self.subject = subject
        self.provider = provider
        self.purpose = purpose
        self.categories = Array(Set(categories)).sorted()
        self.mode = mode
        self.validUntilMilliseconds = validUntilMilliseconds
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(consumer)
        writer.write(subject)
        writer.write(provider)
        writer.write(purpose)
        writeCategories(categories, to: &writer)
        writer.write(mode.rawValue)
        writer.write(validUntilMilliseconds)
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        consumer = try reader.read(DID.self)
        subject = try reader.read(DID.self)
        provider = try reader.read(DID.self)
        purpose = try reader.read(Purpose.self)
        categories = try readCategories(&reader, "categories")
        mode = try AccessMode.decode(from: &reader)
        validUntilMilliseconds = try reader.readUInt64("valid until")
    }
}

/// `ConsentGrant`: a citizen's explicit, informed consent for one consumer to use named kinds
/// of data held by one provider, for one purpose, in one mode, for a time. Its id is the
/// grant transaction's hash. Signed by an authentication key of the subject's DID.
public struct ConsentGrant: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.consentGrant
    /// The citizen granting consent.
    public let subject: DID
    /// The organization allowed to use the data.
    public let consumer: DID
    /// The organization holding the data.
    public let provider: DID
    /// The single purpose consented to.
    public let purpose: Purpose
    /// The kinds of data covered, sorted.
    public let categories: [DataCategory]
    /// How the data may be used.
    public let mode: AccessMode
    /// Start of validity (block time, Unix milliseconds, inclusive).
    public let validFromMilliseconds: UInt64
    /// End of validity (block time, Unix milliseconds, exclusive).
    public let validUntilMilliseconds: UInt64
    /// At most this many recorded accesses, or unlimited when nil.
    public let accessesMax: UInt32?
    /// The request this grant answers, if any (the request transaction's hash).
    public let requestID: Hash?

    /// Creates a payload; categories are sorted.
    public init(
        subject: DID, consumer: DID, provider: DID, purpose: Purpose, categories: [DataCategory], mode: AccessMode,
        validFromMilliseconds: UInt64, validUntilMilliseconds: UInt64, accessesMax: UInt32? = nil, requestID: Hash? = nil
    ) {
        self.subject = subject
        self.consumer = consumer
        self.provider = provider
        self.purpose = purpose
        self.categories = Array(Set(categories)).sorted()
        self.mode = mode
        self.validFromMilliseconds = validFromMilliseconds
        self.validUntilMilliseconds = validUntilMilliseconds
        self.accessesMax = accessesMax
        self.requestID = requestID
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(subject)
        writer.write(consumer)
        writer.write(provider)
        writer.write(purpose)
        writeCategories(categories, to: &writer)
        writer.write(mode.rawValue)
        writer.write(validFromMilliseconds)
        writer.write(validUntilMilliseconds)
        writer.writeOptional(accessesMax) { writer, value in writer.write(value) }
        writer.writeOptional(requestID) { writer, value in writer.write(value) }
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        subject = try reader.read(DID.self)
        consumer = try reader.read(DID.self)
        provider = try reader.read(DID.self)
        purpose = try reader.read(Purpose.self)
        categories = try readCategories(&reader, "categories")
        mode = try AccessMode.decode(from: &reader)
        validFromMilliseconds = try reader.readUInt64("valid from")
        validUntilMilliseconds = try reader.readUInt64("valid until")
        accessesMax = try reader.readOptional("accesses max") { (reader: inout ByteReader) throws(FormatError) in
            try reader.readUInt32("accesses max")
        }
        requestID = try reader.readOptional("request id") { (reader: inout ByteReader) throws(FormatError) in
            try reader.read(Hash.self)
        }
    }
}

/// `ConsentRevoke`: the subject withdraws a consent, effective from the block that carries it.
/// Accesses recorded before stay lawful and stay on record.
public struct ConsentRevoke: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.consentRevoke
    /// The consent's id (its grant transaction's hash).
    public let consentID: Hash

    /// Creates a payload.
    public init(consentID: Hash) { self.consentID = consentID }
    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) { writer.write(consentID) }
    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) { consentID = try reader.read(Hash.self) }
}

/// `AccessRecord`: a provider records that it delivered data to a consumer under a consent.
/// Signed by an authentication key of the provider's DID.
public struct AccessRecord: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.accessRecord
    /// The consent the access is made under.
    public let consentID: Hash
    /// The provider recording the access.
    public let provider: DID
    /// The consumer that received data.
    public let consumer: DID
    /// The kinds of data delivered, sorted; must be covered by the consent.
    public let categories: [DataCategory]
    /// The purpose code; must be the consent's.
    public let purposeCode: String
    /// SHA-256 of what was delivered (the data itself never touches the ledger).
    public let deliveredHash: Hash

    /// Creates a payload; categories are sorted.
    public init(
        consentID: Hash, provider: DID, consumer: DID, categories: [DataCategory], purposeCode: String, deliveredHash: Hash
    ) {
        self.consentID = consentID
        self.provider = provider
        self.consumer = consumer
        self.categories = Array(Set(categories)).sorted()
        self.purposeCode = purposeCode
        self.deliveredHash = deliveredHash
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(consentID)
        writer.write(provider)
        writer.write(consumer)
        writeCategories(categories, to: &writer)
        writer.writeShortText(purposeCode)
        writer.write(deliveredHash)
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        consentID = try reader.read(Hash.self)
        provider = try reader.read(DID.self)
        consumer = try reader.read(DID.self)
        categories = try readCategories(&reader, "categories")
        purposeCode = try reader.readShortText("purpose code", maximum: LedgerLimits.purposeCodeBytesMax)
        try Purpose.validate(code: purposeCode)
        deliveredHash = try reader.read(Hash.self)
    }
}
