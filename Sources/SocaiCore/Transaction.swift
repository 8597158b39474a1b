import SocaiCrypto

/// A signed transaction: who signs, in which chain, with which nonce, what kind of
/// operation and its payload. The payload's meaning belongs to the state machine; the
/// envelope's encoding, hash and signature rules are fixed here (docs/FORMAT.md §4).
public struct TransactionEnvelope: Hashable, Sendable, CanonicalCodable {
    /// The only envelope format version this implementation reads and writes.
    public static let formatVersion: UInt8 = 1

    /// The chain the transaction is for.
    public var chainID: ChainID { didSet { hash = definedHash } }
    /// The signer's public key.
    public var signer: PublicKey { didSet { hash = definedHash } }
    /// The signer's sequence number; the state machine accepts each nonce once, in order.
    public var nonce: UInt64 { didSet { hash = definedHash } }
    /// The operation kind (the state machine's registry gives the meaning); never 0.
    public var kind: UInt16 { didSet { hash = definedHash } }
    /// The operation's canonical payload, at most `Limits.transactionPayloadBytesMax` bytes.
    public var payload: [UInt8] { didSet { hash = definedHash } }
    /// The signer's Ed25519 signature of `signingBytes`.
    public var signature: Signature { didSet { hash = definedHash } }

    /// Creates an envelope; `validate()` checks the field limits.
    public init(
        chainID: ChainID, signer: PublicKey, nonce: UInt64, kind: UInt16, payload: [UInt8],
        signature: Signature = .empty
    ) {
        self.chainID = chainID
        self.signer = signer
        self.nonce = nonce
        self.kind = kind
        self.payload = payload
        self.signature = signature
        hash = .zero
        hash = definedHash
    }

    /// Builds and signs an envelope with `key`, which becomes the signer.
    public static func signed(
        chainID: ChainID, key: SigningKey, nonce: UInt64, kind: UInt16, payload: [UInt8]
    ) throws(FormatError) -> TransactionEnvelope {
        var envelope = TransactionEnvelope(
            chainID: chainID, signer: PublicKey(of: key), nonce: nonce, kind: kind, payload: payload)
        try envelope.validate()
        envelope.signature = Signature(signing: envelope.signingBytes, with: key)
        return envelope
    }

    /// Throws unless the kind is non-zero and the payload is within its limit.
    public func validate() throws(FormatError) {
        guard kind != 0 else { throw FormatError(.invalidValue, "transaction kind 0 is reserved") }
        guard payload.count <= Limits.transactionPayloadBytesMax else {
            throw FormatError(
                .overLimit, "transaction payload of \(payload.count) bytes exceeds \(Limits.transactionPayloadBytesMax)")
        }
    }

    /// The bytes the signer signs: the signing tag followed by every field but the signature.
    public var signingBytes: [UInt8] {
        var writer = ByteWriter()
        writer.writeRaw(DomainTag.signTransaction.bytes)
        encodeUnsigned(to: &writer)
        return writer.bytes
    }

    /// The transaction hash: SHA-256 of the hashing tag followed by the whole envelope.
    /// Computed when the envelope is made, decoded or changed, never on reading: a node asks
    /// for it many times per transaction (gossip, mempool, block root, execution), and each
    /// computation is an encoding and a SHA-256.
    public private(set) var hash: Hash

    /// The hash as docs/FORMAT.md §4 defines it, computed from the fields now.
    private var definedHash: Hash { Hash.tagged(.hashTransaction, canonicalBytes) }

    /// Returns whether the signature is the signer's signature of `signingBytes`.
    public var hasValidSignature: Bool { signer.isValidSignature(signature, of: signingBytes) }

    private func encodeUnsigned(to writer: inout ByteWriter) {
        writer.write(Self.formatVersion)
        writer.write(chainID)
        writer.write(signer)
        writer.write(nonce)
        writer.write(kind)
        writer.writeLongBytes(payload)
    }

    /// Writes the envelope (docs/FORMAT.md §4).
    public func encode(to writer: inout ByteWriter) {
        encodeUnsigned(to: &writer)
        writer.write(signature)
    }

    /// Reads an envelope, rejecting unknown versions, kind 0 and oversize payloads.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let start = reader.offset
        let version = try reader.readUInt8("transaction version")
        guard version == Self.formatVersion else {
            throw FormatError(.unknownVersion, "transaction version \(version) is unknown (expected \(Self.formatVersion))")
        }
        chainID = try reader.read(ChainID.self)
        signer = try reader.read(PublicKey.self)
        nonce = try reader.readUInt64("transaction nonce")
        kind = try reader.readUInt16("transaction kind")
        payload = try reader.readLongBytes("transaction payload", maximum: Limits.transactionPayloadBytesMax)
        signature = try reader.read(Signature.self)
        hash = .zero
        try validate()
        // The bytes just read are the envelope's canonical encoding: every field has one
        // encoding and the reader accepts no other (fixed-width integers, length-prefixed
        // bytes, validated strings). So they are hashed as they are, rather than encoded again;
        // a node decodes each transaction several times (gossip copies, proposals, sync).
        hash = reader.withBytesRead(since: start) { Hash.tagged(.hashTransaction, $0) }
        assert(hash == definedHash, "a decoded envelope's bytes are not its encoding")
    }
}
