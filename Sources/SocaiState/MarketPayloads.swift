import SocaiCore

/// `Transfer`: moves credits from the signer's DID to another DID.
public struct Transfer: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.transfer
    /// The paying DID (the signer holds one of its authentication keys).
    public let from: DID
    /// The receiving DID.
    public let to: DID
    /// Credits moved, 1 ... `LedgerLimits.amountMax`.
    public let amount: UInt64

    /// Creates a payload.
    public init(from: DID, to: DID, amount: UInt64) {
        self.from = from
        self.to = to
        self.amount = amount
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(from)
        writer.write(to)
        writer.write(amount)
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        from = try reader.read(DID.self)
        to = try reader.read(DID.self)
        amount = try reader.readUInt64("amount")
        guard amount >= 1, amount <= LedgerLimits.amountMax else {
            throw FormatError(.invalidValue, "amount \(amount) must be 1 to \(LedgerLimits.amountMax)")
        }
    }
}

/// The license a data product is sold under.
public struct License: Hashable, Sendable, CanonicalCodable {
    /// Purpose codes the buyer may use the data for, sorted (1 or more).
    public let allowedPurposes: [String]
    /// How long the buyer may use the data after delivery, in milliseconds.
    public let durationMilliseconds: UInt64
    /// Whether the buyer may resell the data.
    public let resaleAllowed: Bool

    /// Validates a license; purposes are sorted.
    public init(allowedPurposes: [String], durationMilliseconds: UInt64, resaleAllowed: Bool) throws(FormatError) {
        let sorted = Array(Set(allowedPurposes)).sorted()
        guard !sorted.isEmpty, sorted.count <= LedgerLimits.licensePurposesMax else {
            throw FormatError(.invalidValue, "a license allows 1 to \(LedgerLimits.licensePurposesMax) purposes")
        }
        for code in sorted { try Purpose.validate(code: code) }
        guard durationMilliseconds > 0 else { throw FormatError(.invalidValue, "license duration must be positive") }
        self.allowedPurposes = sorted
        self.durationMilliseconds = durationMilliseconds
        self.resaleAllowed = resaleAllowed
    }

    /// Writes the license.
    public func encode(to writer: inout ByteWriter) {
        writer.writeList(allowedPurposes) { writer, code in writer.writeShortText(code) }
        writer.write(durationMilliseconds)
        writer.write(UInt8(resaleAllowed ? 1 : 0))
    }

    /// Reads the license.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let purposes = try reader.readList("allowed purposes", maximum: LedgerLimits.licensePurposesMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.readShortText("purpose code", maximum: LedgerLimits.purposeCodeBytesMax)
        }
        try requireStrictlyAscending(purposes, "allowed purposes")
        try self.init(
            allowedPurposes: purposes, durationMilliseconds: try reader.readUInt64("license duration"),
            resaleAllowed: try reader.readFlag("resale allowed"))
    }
}

/// `OfferCreate`: a registered provider offers a data product. Its id is the transaction's hash.
public struct OfferCreate: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.offerCreate
    /// The offering provider organization.
    public let provider: DID
    /// A title buyers read.
    public let title: String
    /// The kinds of data in the product, sorted.
    public let categories: [DataCategory]
    /// SHA-256 of the product's schema.
    public let schemaHash: Hash
    /// Price in credits.
    public let price: UInt64
    /// The license terms.
    public let license: License
    /// The people whose personal data the product carries, sorted; empty for non-personal data.
    public let subjects: [DID]
    /// Blocks after an order within which the provider must deliver, or the buyer may take a refund.
    public let deliveryDeadlineBlocks: UInt64

    /// Creates a payload; categories and subjects are sorted.
    public init(
        provider: DID, title: String, categories: [DataCategory], schemaHash: Hash, price: UInt64, license: License,
        subjects: [DID], deliveryDeadlineBlocks: UInt64
    ) {
        self.provider = provider
        self.title = title
        self.categories = Array(Set(categories)).sorted()
        self.schemaHash = schemaHash
        self.price = price
        self.license = license
        self.subjects = Array(Set(subjects)).sorted()
        self.deliveryDeadlineBlocks = deliveryDeadlineBlocks
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(provider)
        writer.writeText(title)
        writeCategories(categories, to: &writer)
        writer.write(schemaHash)
        writer.write(price)
        writer.write(license)
        writer.writeList(subjects) { writer, subject in writer.write(subject) }
        writer.write(deliveryDeadlineBlocks)
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        provider = try reader.read(DID.self)
        title = try reader.readText("title", maximum: LedgerLimits.textBytesMax)
        guard !title.isEmpty else { throw FormatError(.invalidValue, "offer title must not be empty") }
        categories = try readCategories(&reader, "categories")
        schemaHash = try reader.read(Hash.self)
        price = try reader.readUInt64("price")
        guard price <= LedgerLimits.amountMax else {
            throw FormatError(.overLimit, "price \(price) exceeds \(LedgerLimits.amountMax)")
        }
        license = try reader.read(License.self)
        subjects = try reader.readList("subjects", maximum: LedgerLimits.offerSubjectsMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(DID.self)
        }
        try requireStrictlyAscending(subjects, "subjects")
        deliveryDeadlineBlocks = try reader.readUInt64("delivery deadline")
        guard deliveryDeadlineBlocks >= 1, deliveryDeadlineBlocks <= LedgerLimits.deliveryDeadlineBlocksMax else {
            throw FormatError(.invalidValue, "delivery deadline must be 1 to \(LedgerLimits.deliveryDeadlineBlocksMax) blocks")
        }
    }
}

/// A payload that names one offer or order by id and nothing else.
public protocol IdentifierPayload: LedgerPayload {
    /// The id named.
    var id: Hash { get }
    /// Creates the payload.
    init(id: Hash)
}

extension IdentifierPayload {
    /// Writes the id.
    public func encode(to writer: inout ByteWriter) { writer.write(id) }
    /// Reads the id.
    public init(from reader: inout ByteReader) throws(FormatError) { self.init(id: try reader.read(Hash.self)) }
}

/// `OfferClose`: the provider withdraws an offer; open orders are unaffected.
public struct OfferClose: IdentifierPayload {
    /// The kind.
    public static let kind = TransactionKind.offerClose
    /// The offer's id.
    public let id: Hash
    /// Creates a payload.
    public init(id: Hash) { self.id = id }
}

/// `OrderPlace`: a registered consumer buys an offer for a purpose its license allows,
/// escrowing the price. For an offer with subjects, `consentIDs` names, for each subject in
/// the offer's order, that subject's consent covering this consumer, provider, purpose and categories.
public struct OrderPlace: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.orderPlace
    /// The buying consumer organization.
    public let consumer: DID
    /// The offer bought.
    public let offerID: Hash
    /// The purpose the data will be used for.
    public let purposeCode: String
    /// One consent per offer subject, in the offer's subject order.
    public let consentIDs: [Hash]

    /// Creates a payload.
    public init(consumer: DID, offerID: Hash, purposeCode: String, consentIDs: [Hash]) {
        self.consumer = consumer
        self.offerID = offerID
        self.purposeCode = purposeCode
        self.consentIDs = consentIDs
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(consumer)
        writer.write(offerID)
        writer.writeShortText(purposeCode)
        writer.writeList(consentIDs) { writer, id in writer.write(id) }
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        consumer = try reader.read(DID.self)
        offerID = try reader.read(Hash.self)
        purposeCode = try reader.readShortText("purpose code", maximum: LedgerLimits.purposeCodeBytesMax)
        try Purpose.validate(code: purposeCode)
        consentIDs = try reader.readList("consent ids", maximum: LedgerLimits.offerSubjectsMax) {
            (reader: inout ByteReader) throws(FormatError) in
            try reader.read(Hash.self)
        }
    }
}

/// `OrderDeliver`: the provider records the hash of the package it delivered.
public struct OrderDeliver: LedgerPayload {
    /// The kind.
    public static let kind = TransactionKind.orderDeliver
    /// The order.
    public let orderID: Hash
    /// SHA-256 of the delivered package.
    public let packageHash: Hash

    /// Creates a payload.
    public init(orderID: Hash, packageHash: Hash) {
        self.orderID = orderID
        self.packageHash = packageHash
    }

    /// Writes the payload.
    public func encode(to writer: inout ByteWriter) {
        writer.write(orderID)
        writer.write(packageHash)
    }

    /// Reads the payload.
    public init(from reader: inout ByteReader) throws(FormatError) {
        orderID = try reader.read(Hash.self)
        packageHash = try reader.read(Hash.self)
    }
}

/// `OrderConfirm`: the consumer confirms delivery; escrow goes to the provider.
public struct OrderConfirm: IdentifierPayload {
    /// The kind.
    public static let kind = TransactionKind.orderConfirm
    /// The order's id.
    public let id: Hash
    /// Creates a payload.
    public init(id: Hash) { self.id = id }
}

/// `OrderRefund`: after the delivery deadline passed without delivery, the consumer takes back escrow.
public struct OrderRefund: IdentifierPayload {
    /// The kind.
    public static let kind = TransactionKind.orderRefund
    /// The order's id.
    public let id: Hash
    /// Creates a payload.
    public init(id: Hash) { self.id = id }
}
