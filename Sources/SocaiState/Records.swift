import SocaiCore

/// A state value with one encoding. Records are what the state tree commits to.
public protocol StateRecord: CanonicalCodable, Sendable, Equatable {}

/// A signer's account: the last nonce it used.
public struct AccountRecord: StateRecord {
    /// The last nonce used; the next transaction must carry `nonce + 1`.
    public var nonce: UInt64
    /// Creates a record.
    public init(nonce: UInt64) { self.nonce = nonce }
    /// Writes the nonce.
    public func encode(to writer: inout ByteWriter) { writer.write(nonce) }
    /// Reads the nonce.
    public init(from reader: inout ByteReader) throws(FormatError) { nonce = try reader.readUInt64("nonce") }
}

/// A verification method in a DID document.
public struct VerificationMethodRecord: Hashable, Sendable, CanonicalCodable {
    /// Fragment id (`key-1`).
    public var id: String
    /// The Ed25519 public key.
    public var publicKey: PublicKey
    /// Authentication and/or assertion.
    public var relationships: KeyRelationships

    /// Creates a method.
    public init(id: String, publicKey: PublicKey, relationships: KeyRelationships) {
        self.id = id
        self.publicKey = publicKey
        self.relationships = relationships
    }

    /// Writes id, key, relationship bits.
    public func encode(to writer: inout ByteWriter) {
        writer.writeShortText(id)
        writer.write(publicKey)
        writer.write(relationships.rawValue)
    }

    /// Reads a method.
    public init(from reader: inout ByteReader) throws(FormatError) {
        id = try reader.readShortText("key id", maximum: LedgerLimits.fragmentBytesMax)
        publicKey = try reader.read(PublicKey.self)
        relationships = KeyRelationships(rawValue: try reader.readUInt8("key relationships"))
    }
}

/// A DID document as the ledger keeps it (the W3C form is derived from it by the resolver).
public struct DIDRecord: StateRecord {
    /// The DID.
    public var did: DID
    /// 1 at creation, +1 on every update and on deactivation.
    public var version: UInt64
    /// Whether the DID has been deactivated (final).
    public var deactivated: Bool
    /// Verification methods, sorted by id.
    public var verificationMethods: [VerificationMethodRecord]
    /// Services, sorted by id.
    public var services: [DIDService]
    /// Height of the block that created the DID (0 for genesis).
    public var createdHeight: UInt64
    /// Block time of creation, Unix milliseconds.
    public var createdMilliseconds: UInt64
    /// Height of the block that made this version.
    public var updatedHeight: UInt64
    /// Block time of this version, Unix milliseconds.
    public var updatedMilliseconds: UInt64

    /// Creates a record.
    public init(
        did: DID, version: UInt64, deactivated: Bool, verificationMethods: [VerificationMethodRecord], services: [DIDService],
        createdHeight: UInt64, createdMilliseconds: UInt64, updatedHeight: UInt64, updatedMilliseconds: UInt64
    ) {
        self.did = did
        self.version = version
        self.deactivated = deactivated
        self.verificationMethods = verificationMethods.sorted { $0.id < $1.id }
        self.services = services.sorted { $0.id < $1.id }
        self.createdHeight = createdHeight
        self.createdMilliseconds = createdMilliseconds
        self.updatedHeight = updatedHeight
        self.updatedMilliseconds = updatedMilliseconds
    }

    /// Whether `key` is a current authentication key of this (active) DID.
    public func authenticates(_ key: PublicKey) -> Bool {
        !deactivated && verificationMethods.contains { $0.publicKey == key && $0.relationships.contains(.authentication) }
    }

    /// Writes the record.
    public func encode(to writer: inout ByteWriter) {
        writer.write(did)
        writer.write(version)
        writer.write(UInt8(deactivated ? 1 : 0))
        writer.writeList(verificationMethods) { writer, method in writer.write(method) }
        writer.writeList(services) { writer, service in writer.write(service) }
        writer.write(createdHeight)
        writer.write(createdMilliseconds)
        writer.write(updatedHeight)
        writer.write(updatedMilliseconds)
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        did = try reader.read(DID.self)
        version = try reader.readUInt64("version")
        deactivated = try reader.readFlag("deactivated")
        verificationMethods = try reader.readList("verification methods", maximum: LedgerLimits.verificationMethodsMax) {
            (reader: inout ByteReader) throws(FormatError) in try reader.read(VerificationMethodRecord.self)
        }
        services = try reader.readList("services", maximum: LedgerLimits.servicesMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(DIDService.self)
        }
        createdHeight = try reader.readUInt64("created height")
        createdMilliseconds = try reader.readUInt64("created time")
        updatedHeight = try reader.readUInt64("updated height")
        updatedMilliseconds = try reader.readUInt64("updated time")
    }
}

/// A registered organization.
public struct OrganizationRecord: StateRecord {
    /// The organization's DID.
    public var did: DID
    /// Its name.
    public var name: String
    /// Its roles.
    public var roles: [OrganizationRole]
    /// Whether governance has suspended it.
    public var suspended: Bool
    /// Height of registration (0 for genesis).
    public var registeredHeight: UInt64

    /// Creates a record.
    public init(did: DID, name: String, roles: [OrganizationRole], suspended: Bool, registeredHeight: UInt64) {
        self.did = did
        self.name = name
        self.roles = roles.sorted()
        self.suspended = suspended
        self.registeredHeight = registeredHeight
    }

    /// Writes the record.
    public func encode(to writer: inout ByteWriter) {
        writer.write(did)
        writer.writeShortText(name)
        writer.write(roles.reduce(UInt8(0)) { $0 | $1.bit })
        writer.write(UInt8(suspended ? 1 : 0))
        writer.write(registeredHeight)
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        did = try reader.read(DID.self)
        name = try reader.readShortText("organization name", maximum: LedgerLimits.organizationNameBytesMax)
        roles = try decodeRoles(try reader.readUInt8("roles"))
        suspended = try reader.readFlag("suspended")
        registeredHeight = try reader.readUInt64("registered height")
    }
}

/// Governance keys, threshold and the sequence number of the last applied action.
public struct GovernanceRecord: StateRecord {
    /// Governance keys, ascending.
    public var keys: [PublicKey]
    /// Approvals needed.
    public var threshold: UInt16
    /// Number of governance actions applied so far.
    public var sequence: UInt64

    /// Creates a record.
    public init(keys: [PublicKey], threshold: UInt16, sequence: UInt64) {
        self.keys = keys.sorted()
        self.threshold = threshold
        self.sequence = sequence
    }

    /// Writes the record.
    public func encode(to writer: inout ByteWriter) {
        writer.writeList(keys) { writer, key in writer.write(key) }
        writer.write(threshold)
        writer.write(sequence)
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        keys = try reader.readList("governance keys", maximum: Limits.governanceKeysMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(PublicKey.self)
        }
        threshold = try reader.readUInt16("threshold")
        sequence = try reader.readUInt64("sequence")
    }
}

/// Block limits in force.
public struct ParametersRecord: StateRecord {
    /// Largest encoded block, in bytes.
    public var blockBytesMax: UInt32
    /// Most transactions per block.
    public var blockTransactionsMax: UInt32

    /// Creates a record.
    public init(blockBytesMax: UInt32, blockTransactionsMax: UInt32) {
        self.blockBytesMax = blockBytesMax
        self.blockTransactionsMax = blockTransactionsMax
    }

    /// Writes the record.
    public func encode(to writer: inout ByteWriter) {
        writer.write(blockBytesMax)
        writer.write(blockTransactionsMax)
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        blockBytesMax = try reader.readUInt32("blockBytesMax")
        blockTransactionsMax = try reader.readUInt32("blockTransactionsMax")
    }
}

/// Validator power changes scheduled for one height, ascending by key (power 0 removes).
public struct ValidatorUpdatesRecord: StateRecord {
    /// The changes.
    public var updates: [Validator]

    /// Creates a record; a later change for the same key replaces an earlier one.
    public init(updates: [Validator]) {
        var byKey: [PublicKey: Validator] = [:]
        for update in updates { byKey[update.publicKey] = update }
        self.updates = byKey.values.sorted { $0.publicKey < $1.publicKey }
    }

    /// Writes the changes.
    public func encode(to writer: inout ByteWriter) {
        writer.writeList(updates) { writer, update in writer.write(update) }
    }

    /// Reads the changes.
    public init(from reader: inout ByteReader) throws(FormatError) {
        updates = try reader.readList("validator updates", maximum: Limits.validatorsMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(Validator.self)
        }
        try requireStrictlyAscending(updates.map(\.publicKey), "validator updates")
    }
}

/// A consent as the ledger keeps it: the grant, when it was made, its use and its withdrawal.
public struct ConsentRecord: StateRecord {
    /// The consent id (the grant transaction's hash).
    public var id: Hash
    /// The grant as signed.
    public var grant: ConsentGrant
    /// Height of the granting block.
    public var grantedHeight: UInt64
    /// Block time of the grant.
    public var grantedMilliseconds: UInt64
    /// Height of the revoking block, if revoked.
    public var revokedHeight: UInt64?
    /// Block time of revocation, if revoked.
    public var revokedMilliseconds: UInt64?
    /// Accesses recorded under this consent.
    public var accessCount: UInt32

    /// Creates a record.
    public init(
        id: Hash, grant: ConsentGrant, grantedHeight: UInt64, grantedMilliseconds: UInt64, revokedHeight: UInt64? = nil,
        revokedMilliseconds: UInt64? = nil, accessCount: UInt32 = 0
    ) {
        self.id = id
        self.grant = grant
        self.grantedHeight = grantedHeight
        self.grantedMilliseconds = grantedMilliseconds
        self.revokedHeight = revokedHeight
        self.revokedMilliseconds = revokedMilliseconds
        self.accessCount = accessCount
    }

    /// The consent's status at block time `milliseconds`.
    public func status(at milliseconds: UInt64) -> ConsentStatus {
        if revokedHeight != nil { return .revoked }
        if milliseconds < grant.validFromMilliseconds { return .pending }
        if milliseconds >= grant.validUntilMilliseconds { return .expired }
        if let maximum = grant.accessesMax, accessCount >= maximum { return .exhausted }
        return .active
    }

    /// Writes the record.
    public func encode(to writer: inout ByteWriter) {
        writer.write(id)
        writer.write(grant)
        writer.write(grantedHeight)
        writer.write(grantedMilliseconds)
        writer.writeOptional(revokedHeight) { writer, value in writer.write(value) }
        writer.writeOptional(revokedMilliseconds) { writer, value in writer.write(value) }
        writer.write(accessCount)
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        id = try reader.read(Hash.self)
        grant = try reader.read(ConsentGrant.self)
        grantedHeight = try reader.readUInt64("granted height")
        grantedMilliseconds = try reader.readUInt64("granted time")
        revokedHeight = try reader.readOptional("revoked height") { (reader: inout ByteReader) throws(FormatError) in
            try reader.readUInt64("revoked height")
        }
        revokedMilliseconds = try reader.readOptional("revoked time") { (reader: inout ByteReader) throws(FormatError) in
            try reader.readUInt64("revoked time")
        }
        accessCount = try reader.readUInt32("access count")
    }
}

/// Where a consent stands at a moment of block time.
public enum ConsentStatus: String, Sendable, Equatable {
    /// Usable now.
    case active
    /// Not yet valid.
    case pending
    /// Past its end of validity.
    case expired
    /// Withdrawn by its subject.
    case revoked
    /// Its maximum number of accesses is used up.
    case exhausted
}

/// A consent request as the ledger keeps it.
public struct ConsentRequestRecord: StateRecord {
    /// The request id (the request transaction's hash).
    public var id: Hash
    /// The request as signed.
    public var request: ConsentRequest
    /// Height of the requesting block.
    public var height: UInt64

    /// Creates a record.
    public init(id: Hash, request: ConsentRequest, height: UInt64) {
        self.id = id
        self.request = request
        self.height = height
    }

    /// Writes the record.
    public func encode(to writer: inout ByteWriter) {
        writer.write(id)
        writer.write(request)
        writer.write(height)
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        id = try reader.read(Hash.self)
        request = try reader.read(ConsentRequest.self)
        height = try reader.readUInt64("height")
    }
}

/// One entry of a citizen's access log: who used which data, when, under which consent.
public struct AccessLogEntry: StateRecord {
    /// The access as the provider recorded it.
    public var access: AccessRecord
    /// The recording transaction's hash.
    public var transactionHash: Hash
    /// Height of the recording block.
    public var height: UInt64
    /// Block time of the recording block.
    public var milliseconds: UInt64

    /// Creates an entry.
    public init(access: AccessRecord, transactionHash: Hash, height: UInt64, milliseconds: UInt64) {
        self.access = access
        self.transactionHash = transactionHash
        self.height = height
        self.milliseconds = milliseconds
    }

    /// Writes the entry.
    public func encode(to writer: inout ByteWriter) {
        writer.write(access)
        writer.write(transactionHash)
        writer.write(height)
        writer.write(milliseconds)
    }

    /// Reads the entry.
    public init(from reader: inout ByteReader) throws(FormatError) {
        access = try reader.read(AccessRecord.self)
        transactionHash = try reader.read(Hash.self)
        height = try reader.readUInt64("height")
        milliseconds = try reader.readUInt64("time")
    }
}

/// An offer as the ledger keeps it.
public struct OfferRecord: StateRecord {
    /// The offer id (the creating transaction's hash).
    public var id: Hash
    /// The offer as signed.
    public var offer: OfferCreate
    /// Height of the creating block.
    public var createdHeight: UInt64
    /// Whether the provider closed it.
    public var closed: Bool

    /// Creates a record.
    public init(id: Hash, offer: OfferCreate, createdHeight: UInt64, closed: Bool) {
        self.id = id
        self.offer = offer
        self.createdHeight = createdHeight
        self.closed = closed
    }

    /// Writes the record.
    public func encode(to writer: inout ByteWriter) {
        writer.write(id)
        writer.write(offer)
        writer.write(createdHeight)
        writer.write(UInt8(closed ? 1 : 0))
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        id = try reader.read(Hash.self)
        offer = try reader.read(OfferCreate.self)
        createdHeight = try reader.readUInt64("created height")
        closed = try reader.readFlag("closed")
    }
}

/// Where an order stands.
public enum OrderStatus: UInt8, Sendable, Equatable {
    /// Paid into escrow, awaiting delivery.
    case placed = 1
    /// Delivered, awaiting the consumer's confirmation.
    case delivered = 2
    /// Confirmed: escrow paid to the provider.
    case confirmed = 3
    /// Refunded after the deadline: escrow returned to the consumer.
    case refunded = 4
}

/// An order as the ledger keeps it.
public struct OrderRecord: StateRecord {
    /// The order id (the placing transaction's hash).
    public var id: Hash
    /// The buyer.
    public var consumer: DID
    /// The seller.
    public var provider: DID
    /// The offer bought.
    public var offerID: Hash
    /// The purpose it was bought for.
    public var purposeCode: String
    /// The consents it was bought under, one per subject.
    public var consentIDs: [Hash]
    /// Price paid.
    public var price: UInt64
    /// Credits still in escrow (the price until confirmed or refunded, then 0).
    public var escrow: UInt64
    /// Status.
    public var status: OrderStatus
    /// Height of the placing block.
    public var placedHeight: UInt64
    /// Last height at which delivery counts as on time.
    public var deadlineHeight: UInt64
    /// SHA-256 of the delivered package, once delivered.
    public var packageHash: Hash?

    /// Creates a record.
    public init(
        id: Hash, consumer: DID, provider: DID, offerID: Hash, purposeCode: String, consentIDs: [Hash], price: UInt64,
        escrow: UInt64, status: OrderStatus, placedHeight: UInt64, deadlineHeight: UInt64, packageHash: Hash?
    ) {
        self.id = id
        self.consumer = consumer
        self.provider = provider
        self.offerID = offerID
        self.purposeCode = purposeCode
        self.consentIDs = consentIDs
        self.price = price
        self.escrow = escrow
        self.status = status
        self.placedHeight = placedHeight
        self.deadlineHeight = deadlineHeight
        self.packageHash = packageHash
    }

    /// Writes the record.
    public func encode(to writer: inout ByteWriter) {
        writer.write(id)
        writer.write(consumer)
        writer.write(provider)
        writer.write(offerID)
        writer.writeShortText(purposeCode)
        writer.writeList(consentIDs) { writer, id in writer.write(id) }
        writer.write(price)
        writer.write(escrow)
        writer.write(status.rawValue)
        writer.write(placedHeight)
        writer.write(deadlineHeight)
        writer.writeOptional(packageHash) { writer, hash in writer.write(hash) }
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        id = try reader.read(Hash.self)
        consumer = try reader.read(DID.self)
        provider = try reader.read(DID.self)
        offerID = try reader.read(Hash.self)
        purposeCode = try reader.readShortText("purpose code", maximum: LedgerLimits.purposeCodeBytesMax)
        consentIDs = try reader.readList("consent ids", maximum: LedgerLimits.offerSubjectsMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(Hash.self)
        }
        price = try reader.readUInt64("price")
        escrow = try reader.readUInt64("escrow")
        let statusByte = try reader.readUInt8("order status")
        guard let status = OrderStatus(rawValue: statusByte) else {
            throw FormatError(.invalidValue, "order status \(statusByte) is unknown")
        }
        self.status = status
        placedHeight = try reader.readUInt64("placed height")
        deadlineHeight = try reader.readUInt64("deadline height")
        packageHash = try reader.readOptional("package hash") { (reader: inout ByteReader) throws(FormatError) in
            try reader.read(Hash.self)
        }
    }
}

/// A u64 counter or amount stored on its own (balances, counts).
public struct AmountRecord: StateRecord {
    /// The number.
    public var value: UInt64
    /// Creates a record.
    public init(_ value: UInt64) { self.value = value }
    /// Writes the number.
    public func encode(to writer: inout ByteWriter) { writer.write(value) }
    /// Reads the number.
    public init(from reader: inout ByteReader) throws(FormatError) { value = try reader.readUInt64("amount") }
}

/// Where and how a transaction was executed: its block, position and result code.
public struct TransactionOutcomeRecord: StateRecord {
    /// Height of the block.
    public var height: UInt64
    /// Position in the block.
    public var index: UInt32
    /// The result.
    public var code: TransactionResultCode

    /// Creates a record.
    public init(height: UInt64, index: UInt32, code: TransactionResultCode) {
        self.height = height
        self.index = index
        self.code = code
    }

    /// Writes height, index, code.
    public func encode(to writer: inout ByteWriter) {
        writer.write(height)
        writer.write(index)
        writer.write(code.rawValue)
    }

    /// Reads the record.
    public init(from reader: inout ByteReader) throws(FormatError) {
        height = try reader.readUInt64("height")
        index = try reader.readUInt32("index")
        let raw = try reader.readUInt16("result code")
        guard let code = TransactionResultCode(rawValue: raw) else {
            throw FormatError(.invalidValue, "result code \(raw) is unknown")
        }
        self.code = code
    }
}
