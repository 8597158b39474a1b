import SocaiCore
import SocaiCrypto

/// Limits of the ledger's application fields (docs/FORMAT.md lists the same numbers).
public enum LedgerLimits {
    /// Longest DID string, in bytes.
    public static let didBytesMax = 64
    /// Longest fragment id of a key or service (`key-1`), in bytes.
    public static let fragmentBytesMax = 32
    /// Most verification methods in one DID document.
    public static let verificationMethodsMax = 16
    /// Most services in one DID document.
    public static let servicesMax = 16
    /// Longest service type, in bytes.
    public static let serviceTypeBytesMax = 64
    /// Longest service endpoint, in bytes.
    public static let serviceEndpointBytesMax = 512
    /// Most operations in one DID update.
    public static let didOperationsMax = 32
    /// Longest purpose code (`research.public-health`), in bytes.
    public static let purposeCodeBytesMax = 64
    /// Longest free text (purpose text, offer title, license terms), in bytes.
    public static let textBytesMax = 1024
    /// Most data categories in one consent, access or offer.
    public static let categoriesMax = 16
    /// Longest organization name, in bytes.
    public static let organizationNameBytesMax = 128
    /// Most personal-data subjects named by one offer.
    public static let offerSubjectsMax = 64
    /// Most purposes an offer's license allows.
    public static let licensePurposesMax = 16
    /// Most extra governance approvals attached to one governance transaction.
    public static let governanceApprovalsMax = 32
    /// Longest delivery deadline an offer may set, in blocks.
    public static let deliveryDeadlineBlocksMax: UInt64 = 1_000_000
    /// Largest single amount of credits in a transfer, price or escrow.
    public static let amountMax: UInt64 = Limits.creditsTotalMax
}

/// A decentralized identifier of the `did:socai` method: `did:socai:` followed by the base58btc
/// encoding of the first 16 bytes of SHA-256("socai/did/v1" ‖ 0x00 ‖ initial public key).
/// Self-certifying: whoever holds the initial key can prove the identifier is theirs.
public struct DID: Hashable, Comparable, Sendable, CanonicalCodable, CustomStringConvertible {
    /// The method prefix.
    public static let prefix = "did:socai:"
    static let derivationTag = Array("socai/did/v1".utf8) + [0]
    /// The base58btc alphabet as a 128-bit membership mask (bit b set when ASCII byte b is
    /// in it): every transaction naming a DID validates it, and a `Set` lookup per character
    /// ran a SipHash each.
    private static let base58Mask: (low: UInt64, high: UInt64) = {
        var mask: (low: UInt64, high: UInt64) = (0, 0)
        for byte in "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8 {
            if byte < 64 { mask.low |= 1 << UInt64(byte) } else { mask.high |= 1 << UInt64(byte - 64) }
        }
        return mask
    }()

    /// Whether `byte` is a base58btc character.
    static func isBase58(_ byte: UInt8) -> Bool {
        let mask = base58Mask
        if byte < 64 { return mask.low >> UInt64(byte) & 1 == 1 }
        return byte < 128 && mask.high >> UInt64(byte - 64) & 1 == 1
    }

    /// The full identifier, `did:socai:…`.
    public let value: String

    /// Validates an identifier: the `did:socai:` prefix followed by 1 to 54 base58btc characters
    /// (64 bytes in all; a derived identifier has about 22).
    public init(_ value: String) throws(FormatError) {
        let suffix = value.utf8.dropFirst(Self.prefix.utf8.count)
        guard value.hasPrefix(Self.prefix), value.utf8.count <= LedgerLimits.didBytesMax, !suffix.isEmpty,
            suffix.allSatisfy(Self.isBase58)
        else {
            throw FormatError(.invalidValue, "\"\(value)\" is not a did:socai identifier")
        }
        self.value = value
    }

    /// The identifier derived from an initial public key.
    public init(initialKey: PublicKey) {
        let digest = SHA256.hash(Self.derivationTag + initialKey.bytes)
        value = Self.prefix + Base58.encode(Array(digest.prefix(16)))
    }

    /// The identifier.
    public var description: String { value }

    /// Orders identifiers by their bytes.
    public static func < (left: DID, right: DID) -> Bool {
        left.value.utf8.lexicographicallyPrecedes(right.value.utf8)
    }

    /// Writes a u8 length and the ASCII identifier.
    public func encode(to writer: inout ByteWriter) { writer.writeShortText(value) }

    /// Reads and validates an identifier.
    public init(from reader: inout ByteReader) throws(FormatError) {
        try self.init(try reader.readShortText("did", maximum: LedgerLimits.didBytesMax))
    }
}

/// A kind of personal data, such as `civil-status` or `health.records`: lowercase ASCII
/// words of letters and digits joined by '-' or '.', 1 to 64 bytes.
public struct DataCategory: Hashable, Comparable, Sendable, CanonicalCodable, CustomStringConvertible {
    /// The categories Socai's registry knows; a consent or offer may name only these.
    public static let registry: Set<String> = [
        "civil-status", "residence", "land", "health.records", "health.insurance", "insurance", "tax", "education",
        "employment", "social-security", "vehicle", "business-registration",
    ]

    /// The category name.
    public let value: String

    /// Validates a category name against the registry.
    public init(_ value: String) throws(FormatError) {
        guard Self.registry.contains(value) else {
            throw FormatError(
                .invalidValue, "unknown data category \"\(value)\"; known: \(Self.registry.sorted().joined(separator: ", "))")
        }
        self.value = value
    }

    /// The category name.
    public var description: String { value }

    /// Byte order of the names.
    public static func < (left: DataCategory, right: DataCategory) -> Bool {
        left.value.utf8.lexicographicallyPrecedes(right.value.utf8)
    }

    /// Writes the name.
    public func encode(to writer: inout ByteWriter) { writer.writeShortText(value) }

    /// Reads and validates a name.
    public init(from reader: inout ByteReader) throws(FormatError) {
        try self.init(try reader.readShortText("data category", maximum: 64))
    }
}

/// A purpose of processing: a code (lowercase ASCII letters, digits, '-', '.') and a text
/// the subject reads. Each purpose is granted separately (Decree 13/2023/ND-CP art. 11).
public struct Purpose: Hashable, Sendable, CanonicalCodable {
    /// Machine-readable code, e.g. `loan-assessment`.
    public let code: String
    /// Human-readable explanation shown to the subject.
    public let text: String

    /// Validates a purpose.
    public init(code: String, text: String) throws(FormatError) {
        try Self.validate(code: code)
        guard !text.isEmpty, text.utf8.count <= LedgerLimits.textBytesMax else {
            throw FormatError(.invalidValue, "purpose text must be 1 to \(LedgerLimits.textBytesMax) bytes")
        }
        self.code = code
        self.text = text
    }

    /// Throws unless `code` is 1 to 64 bytes of a-z, 0-9, '-' and '.'.
    public static func validate(code: String) throws(FormatError) {
        let bytes = Array(code.utf8)
        let allowed = bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
        }
        guard !bytes.isEmpty, bytes.count <= LedgerLimits.purposeCodeBytesMax, allowed else {
            throw FormatError(
                .invalidValue,
                "purpose code \"\(code)\" must be 1 to \(LedgerLimits.purposeCodeBytesMax) bytes of a-z, 0-9, '-' and '.'")
        }
    }

    /// Writes code then text.
    public func encode(to writer: inout ByteWriter) {
        writer.writeShortText(code)
        writer.writeText(text)
    }

    /// Reads and validates a purpose.
    public init(from reader: inout ByteReader) throws(FormatError) {
        try self.init(
            code: try reader.readShortText("purpose code", maximum: LedgerLimits.purposeCodeBytesMax),
            text: try reader.readText("purpose text", maximum: LedgerLimits.textBytesMax))
    }
}

/// How a consumer may use data under a consent (the consent artefact's fetch modes).
public enum AccessMode: UInt8, Sendable, Hashable, CaseIterable {
    /// Look at the data, not keep it.
    case view = 1
    /// Keep a copy for the consent's duration.
    case store = 2
    /// Ask questions whose answers are derived from the data.
    case query = 3

    /// The mode's name on the command line and in JSON.
    public var name: String {
        switch self {
        case .view: return "view"
        case .store: return "store"
        case .query: return "query"
        }
    }

    /// Parses a mode name.
    public init?(name: String) {
        guard let mode = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = mode
    }

    static func decode(from reader: inout ByteReader) throws(FormatError) -> AccessMode {
        let raw = try reader.readUInt8("access mode")
        guard let mode = AccessMode(rawValue: raw) else {
            throw FormatError(.invalidValue, "access mode \(raw) is unknown (1 view, 2 store, 3 query)")
        }
        return mode
    }
}

/// Reads a sorted, duplicate-free list of categories (1 to `LedgerLimits.categoriesMax`).
func readCategories(_ reader: inout ByteReader, _ field: String) throws(FormatError) -> [DataCategory] {
    let categories = try reader.readList(field, maximum: LedgerLimits.categoriesMax) {
        (reader: inout ByteReader) throws(FormatError) in
        try reader.read(DataCategory.self)
    }
    guard !categories.isEmpty else { throw FormatError(.invalidValue, "\(field) must name at least one data category") }
    try requireStrictlyAscending(categories, field)
    return categories
}

/// Writes a list of categories (already sorted).
func writeCategories(_ categories: [DataCategory], to writer: inout ByteWriter) {
    writer.writeList(categories) { writer, category in writer.write(category) }
}
