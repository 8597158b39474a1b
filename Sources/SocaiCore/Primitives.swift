import SocaiCrypto

/// A 32-byte SHA-256 digest: block hashes, transaction hashes, Merkle roots, state roots.
public struct Hash: Hashable, Comparable, Sendable, CanonicalCodable, CustomStringConvertible {
    /// The 32 digest bytes, held inline.
    public let storage: Bytes32

    /// Length of a hash in bytes.
    public static let byteCount = 32
    /// The all-zero hash, used where a header field has nothing to commit to (height 1's last commit).
    public static let zero = Hash(storage: .zero)

    /// Wraps exactly 32 bytes.
    public init(_ bytes: [UInt8]) throws(FormatError) {
        guard bytes.count == Self.byteCount else {
            throw FormatError(.invalidValue, "a hash is 32 bytes, got \(bytes.count)")
        }
        storage = Bytes32(bytes)
    }

    init(unchecked bytes: [UInt8]) { storage = Bytes32(bytes) }

    /// Wraps 32 bytes already held inline.
    public init(storage: Bytes32) { self.storage = storage }

    /// The 32 digest bytes as a new array (an allocation; hot paths use `storage`).
    public var bytes: [UInt8] { storage.array }

    /// SHA-256 of `data` with no prefix.
    public static func sha256(_ data: [UInt8]) -> Hash {
        data.withUnsafeBytes { input in Hash(storage: Bytes32 { SHA256.hash(input, into: $0) }) }
    }

    /// SHA-256 of the 65 bytes `prefix ‖ first ‖ second`, laid out on the stack, not in a new
    /// array: the hash of every Merkle and state-tree node. Deliberately not generic: a
    /// generic form called from SocaiState looked up generic metadata on every node, which put
    /// `_swift_getGenericMetadata` at 0.6% of a replay and its tree at 6–7.5% instead of 4.7%.
    public static func ofPrefixedPair(_ prefix: UInt8, _ first: Hash, _ second: Hash) -> Hash {
        withUnsafeTemporaryAllocation(byteCount: 65, alignment: 8) { buffer in
            buffer[0] = prefix
            first.storage.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[1..<33]).copyMemory(from: $0) }
            second.storage.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[33..<65]).copyMemory(from: $0) }
            return sha256(UnsafeRawBufferPointer(buffer))
        }
    }

    /// Appends this hash's 32 bytes to `bytes` (not generic, for the same reason as
    /// `ofPrefixedPair`).
    public func append(to bytes: inout [UInt8]) {
        storage.withUnsafeBytes { bytes.append(contentsOf: $0) }
    }

    /// SHA-256 of the bytes `data` points at.
    public static func sha256(_ data: UnsafeRawBufferPointer) -> Hash { Hash(storage: Bytes32 { SHA256.hash(data, into: $0) }) }

    /// SHA-256 of the domain tag followed by `data`: the hash of a tagged object (docs/FORMAT.md §2).
    public static func tagged(_ tag: DomainTag, _ data: [UInt8]) -> Hash {
        data.withUnsafeBytes { tagged(tag, $0) }
    }

    /// SHA-256 of the domain tag followed by the bytes `data` points at.
    public static func tagged(_ tag: DomainTag, _ data: UnsafeRawBufferPointer) -> Hash {
        var hasher = SHA256.Hasher()
        hasher.update(tag.bytes)
        hasher.update(data)
        return Hash(storage: Bytes32 { hasher.finalize(into: $0) })
    }

    /// Parses 64 lowercase hex digits.
    public init(hex: String) throws(FormatError) {
        let raw: [UInt8]
        do throws(CryptoError) { raw = try Hex.decode(hex, count: Self.byteCount) } catch {
            throw FormatError(.invalidValue, "hash: \(error.message)")
        }
        self.init(unchecked: raw)
    }

    /// Lowercase hex.
    public var hex: String { Hex.encode(bytes) }
    /// Lowercase hex.
    public var description: String { hex }

    /// Orders hashes as unsigned big-endian numbers (byte-wise lexicographic).
    public static func < (left: Hash, right: Hash) -> Bool { left.storage < right.storage }

    /// Writes the 32 bytes.
    public func encode(to writer: inout ByteWriter) { writer.write(storage) }
    /// Reads 32 bytes.
    public init(from reader: inout ByteReader) throws(FormatError) {
        storage = try reader.readBytes32("hash")
    }
}

/// A 32-byte Ed25519 public key: a transaction signer, a validator, a governance key.
public struct PublicKey: Hashable, Comparable, Sendable, CanonicalCodable, CustomStringConvertible {
    /// The 32 key bytes, held inline.
    public let storage: Bytes32

    /// Wraps exactly 32 bytes.
    public init(_ bytes: [UInt8]) throws(FormatError) {
        guard bytes.count == Ed25519.publicKeyBytes else {
            throw FormatError(.invalidValue, "an Ed25519 public key is 32 bytes, got \(bytes.count)")
        }
        storage = Bytes32(bytes)
    }

    init(unchecked bytes: [UInt8]) {
        precondition(bytes.count == Ed25519.publicKeyBytes)
        storage = Bytes32(bytes)
    }

    /// The public key of a signing key.
    public init(of signingKey: SigningKey) { self.init(unchecked: signingKey.publicKey) }

    /// Parses 64 lowercase hex digits.
    public init(hex: String) throws(FormatError) {
        let raw: [UInt8]
        do throws(CryptoError) { raw = try Hex.decode(hex, count: Ed25519.publicKeyBytes) } catch {
            throw FormatError(.invalidValue, "public key: \(error.message)")
        }
        self.init(unchecked: raw)
    }

    /// The 32 key bytes as a new array (an allocation; hot paths use `storage`).
    public var bytes: [UInt8] { storage.array }

    /// Lowercase hex.
    public var hex: String { Hex.encode(bytes) }
    /// Lowercase hex.
    public var description: String { hex }

    /// Returns whether `signature` is this key's signature of `message`.
    public func isValidSignature(_ signature: Signature, of message: [UInt8]) -> Bool {
        Ed25519.isValidSignature(signature.bytes, of: message, publicKey: bytes)
    }

    /// Byte-wise lexicographic order: the order of every set of keys in an encoding.
    public static func < (left: PublicKey, right: PublicKey) -> Bool { left.storage < right.storage }

    /// Writes the 32 bytes.
    public func encode(to writer: inout ByteWriter) { writer.write(storage) }
    /// Reads 32 bytes.
    public init(from reader: inout ByteReader) throws(FormatError) {
        storage = try reader.readBytes32("public key")
    }
}

/// A 64-byte Ed25519 signature.
public struct Signature: Hashable, Sendable, CanonicalCodable, CustomStringConvertible {
    /// The 64 signature bytes.
    public let bytes: [UInt8]

    /// A signature of all zeros: the placeholder in a structure that is about to be signed.
    public static let empty = Signature(unchecked: [UInt8](repeating: 0, count: Ed25519.signatureBytes))

    /// Wraps exactly 64 bytes.
    public init(_ bytes: [UInt8]) throws(FormatError) {
        guard bytes.count == Ed25519.signatureBytes else {
            throw FormatError(.invalidValue, "an Ed25519 signature is 64 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    init(unchecked bytes: [UInt8]) {
        precondition(bytes.count == Ed25519.signatureBytes)
        self.bytes = bytes
    }

    /// Signs `message` with `key`.
    public init(signing message: [UInt8], with key: SigningKey) {
        self.init(unchecked: key.signature(for: message))
    }

    /// Lowercase hex.
    public var hex: String { Hex.encode(bytes) }
    /// Lowercase hex.
    public var description: String { hex }

    /// Writes the 64 bytes.
    public func encode(to writer: inout ByteWriter) { writer.writeRaw(bytes) }
    /// Reads 64 bytes.
    public init(from reader: inout ByteReader) throws(FormatError) {
        self.init(unchecked: try reader.readRaw(Ed25519.signatureBytes, "signature"))
    }
}

/// A chain identifier: 1 to 50 bytes of lowercase ASCII letters, digits and '-', not
/// starting or ending with '-'. It is inside every signed payload, so a signature made
/// for one chain never verifies on another.
public struct ChainID: Hashable, Sendable, CanonicalCodable, CustomStringConvertible {
    /// The identifier text.
    public let value: String

    /// Validates and wraps an identifier.
    public init(_ value: String) throws(FormatError) {
        let characters = Array(value.utf8)
        guard !characters.isEmpty, characters.count <= Limits.chainIDBytesMax else {
            throw FormatError(.invalidValue, "chain id must be 1 to \(Limits.chainIDBytesMax) bytes, got \(characters.count)")
        }
        let allowed = characters.allSatisfy { character in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(character)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(character)
                || character == UInt8(ascii: "-")
        }
        guard allowed, characters.first != UInt8(ascii: "-"), characters.last != UInt8(ascii: "-") else {
            throw FormatError(
                .invalidValue, "chain id \"\(value)\" must use only a-z, 0-9 and '-', and not start or end with '-'")
        }
        self.value = value
    }

    /// The identifier text.
    public var description: String { value }

    /// Writes a u8 length and the ASCII bytes.
    public func encode(to writer: inout ByteWriter) { writer.writeShortBytes(Array(value.utf8)) }
    /// Reads and validates a chain id.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let raw = try reader.readShortBytes("chain id", maximum: Limits.chainIDBytesMax)
        try self.init(String(decoding: raw, as: UTF8.self))
        // Invalid UTF-8 decodes with replacement characters, which the character check rejects.
    }
}

/// A domain-separation tag: ASCII text ending in a zero byte, prefixed to every signed
/// message and every tagged hash. No tag contains a zero byte before its end, so no
/// tag followed by data can equal another tag followed by data.
public struct DomainTag: Sendable, Equatable {
    /// The tag bytes, including the terminating zero.
    public let bytes: [UInt8]

    init(_ text: StaticString) {
        bytes = Array(text.description.utf8) + [0]
    }

    /// Signing tag for a transaction envelope.
    public static let signTransaction = DomainTag("socai/sign/transaction/v1")
    /// Signing tag for a prevote.
    public static let signPrevote = DomainTag("socai/sign/prevote/v1")
    /// Signing tag for a precommit.
    public static let signPrecommit = DomainTag("socai/sign/precommit/v1")
    /// Signing tag for a block proposal.
    public static let signProposal = DomainTag("socai/sign/proposal/v1")
    /// Signing tag for a free-form message (`socai key sign`): such a signature can never
    /// be mistaken for a transaction, vote or proposal signature.
    public static let signMessage = DomainTag("socai/sign/message/v1")

    /// Hashing tag for a transaction (its transaction hash).
    public static let hashTransaction = DomainTag("socai/hash/transaction/v1")
    /// Hashing tag for a block header (the block hash).
    public static let hashHeader = DomainTag("socai/hash/header/v1")
    /// Hashing tag for a commit certificate.
    public static let hashCommit = DomainTag("socai/hash/commit/v1")
    /// Hashing tag for a validator set.
    public static let hashValidatorSet = DomainTag("socai/hash/validators/v1")
    /// Hashing tag for a genesis document.
    public static let hashGenesis = DomainTag("socai/hash/genesis/v1")
    /// Hashing tag for an evidence item.
    public static let hashEvidence = DomainTag("socai/hash/evidence/v1")

    /// Every tag, for tests that check no tag is a prefix of another.
    public static let all: [DomainTag] = [
        signTransaction, signPrevote, signPrecommit, signProposal, signMessage, hashTransaction, hashHeader,
        hashCommit, hashValidatorSet, hashGenesis, hashEvidence,
    ]
}

/// A free-form message signed with a Socai key, domain-separated from every chain message.
public enum SignedMessage {
    /// Longest message signed or verified, in bytes.
    public static let messageBytesMax = 1 << 20

    /// The bytes actually signed: the message tag followed by the message.
    public static func signingBytes(_ message: [UInt8]) -> [UInt8] {
        DomainTag.signMessage.bytes + message
    }
}
