/// Which of Tendermint's two voting steps a vote belongs to.
public enum VoteType: UInt8, Sendable, Hashable {
    /// A prevote (first voting step of a round).
    case prevote = 1
    /// A precommit (second voting step); 2f+1 precommits for a block commit it.
    case precommit = 2

    var signingTag: DomainTag {
        switch self {
        case .prevote: return .signPrevote
        case .precommit: return .signPrecommit
        }
    }
}

/// A signed prevote or precommit for a block hash, or for nil (no block).
public struct Vote: Hashable, Sendable, CanonicalCodable {
    /// The only vote format version.
    public static let formatVersion: UInt8 = 1

    /// Prevote or precommit.
    public var type: VoteType
    /// The height voted on (≥ 1).
    public var height: UInt64
    /// The round within the height (≤ `Limits.roundMax`).
    public var round: UInt32
    /// The block hash voted for, or `nil` for a vote for no block.
    public var blockID: Hash?
    /// The voting validator's key.
    public var validator: PublicKey
    /// The validator's signature of `signingBytes(chainID:)`.
    public var signature: Signature

    /// Creates a vote; `validate()` checks the ranges.
    public init(
        type: VoteType, height: UInt64, round: UInt32, blockID: Hash?, validator: PublicKey,
        signature: Signature = .empty
    ) {
        self.type = type
        self.height = height
        self.round = round
        self.blockID = blockID
        self.validator = validator
        self.signature = signature
    }

    /// Throws unless height ≥ 1 and the round is within its limit.
    public func validate() throws(FormatError) {
        guard height >= 1 else { throw FormatError(.invalidValue, "vote height must be at least 1") }
        guard round <= Limits.roundMax else {
            throw FormatError(.overLimit, "vote round \(round) exceeds \(Limits.roundMax)")
        }
    }

    /// The signed bytes: the type's tag, the chain id, then the vote without its signature.
    public func signingBytes(chainID: ChainID) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeRaw(type.signingTag.bytes)
        writer.write(chainID)
        encodeUnsigned(to: &writer)
        return writer.bytes
    }

    /// Returns whether the signature is the validator's, for this vote on `chainID`.
    public func hasValidSignature(chainID: ChainID) -> Bool {
        validator.isValidSignature(signature, of: signingBytes(chainID: chainID))
    }

    private func encodeUnsigned(to writer: inout ByteWriter) {
        writer.write(Self.formatVersion)
        writer.write(type.rawValue)
        writer.write(height)
        writer.write(round)
        encodeOptionalHash(blockID, to: &writer)
        writer.write(validator)
    }

    /// Writes the vote (docs/FORMAT.md §6).
    public func encode(to writer: inout ByteWriter) {
        encodeUnsigned(to: &writer)
        writer.write(signature)
    }

    /// Reads a vote, rejecting unknown versions and types and out-of-range values.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let version = try reader.readUInt8("vote version")
        guard version == Self.formatVersion else {
            throw FormatError(.unknownVersion, "vote version \(version) is unknown")
        }
        let typeByte = try reader.readUInt8("vote type")
        guard let type = VoteType(rawValue: typeByte) else {
            throw FormatError(.invalidValue, "vote type \(typeByte) is unknown (1 prevote, 2 precommit)")
        }
        self.type = type
        height = try reader.readUInt64("vote height")
        round = try reader.readUInt32("vote round")
        blockID = try decodeOptionalHash(from: &reader, "vote block id")
        validator = try reader.read(PublicKey.self)
        signature = try reader.read(Signature.self)
        try validate()
    }
}

/// Writes a presence flag (0 or 1) followed by the hash when present.
func encodeOptionalHash(_ hash: Hash?, to writer: inout ByteWriter) {
    if let hash {
        writer.write(UInt8(1))
        writer.write(hash)
    } else {
        writer.write(UInt8(0))
    }
}

/// Reads a presence flag, which must be 0 or 1, and the hash when present.
func decodeOptionalHash(from reader: inout ByteReader, _ field: String) throws(FormatError) -> Hash? {
    try reader.readFlag(field + " flag") ? try reader.read(Hash.self) : nil
}

/// A signed block proposal for a height and round (Tendermint's PROPOSAL message).
public struct Proposal: Hashable, Sendable, CanonicalCodable {
    /// The only proposal format version.
    public static let formatVersion: UInt8 = 1

    /// The height proposed for.
    public var height: UInt64
    /// The round proposed in.
    public var round: UInt32
    /// The round in which the proposer saw a polka for this block (validRound), or nil.
    public var validRound: UInt32?
    /// The proposed block's hash.
    public var blockID: Hash
    /// The proposing validator.
    public var proposer: PublicKey
    /// The proposer's signature of `signingBytes(chainID:)`.
    public var signature: Signature

    /// Creates a proposal; `validate()` checks the ranges.
    public init(
        height: UInt64, round: UInt32, validRound: UInt32?, blockID: Hash, proposer: PublicKey,
        signature: Signature = .empty
    ) {
        self.height = height
        self.round = round
        self.validRound = validRound
        self.blockID = blockID
        self.proposer = proposer
        self.signature = signature
    }

    /// Throws unless height ≥ 1, the round is in range and validRound < round.
    public func validate() throws(FormatError) {
        guard height >= 1 else { throw FormatError(.invalidValue, "proposal height must be at least 1") }
        guard round <= Limits.roundMax else {
            throw FormatError(.overLimit, "proposal round \(round) exceeds \(Limits.roundMax)")
        }
        if let validRound, validRound >= round {
            throw FormatError(.invalidValue, "proposal valid round \(validRound) must be below its round \(round)")
        }
    }

    /// The signed bytes: the proposal tag, the chain id, then the proposal without its signature.
    public func signingBytes(chainID: ChainID) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeRaw(DomainTag.signProposal.bytes)
        writer.write(chainID)
        encodeUnsigned(to: &writer)
        return writer.bytes
    }

    /// Returns whether the signature is the proposer's, for this proposal on `chainID`.
    public func hasValidSignature(chainID: ChainID) -> Bool {
        proposer.isValidSignature(signature, of: signingBytes(chainID: chainID))
    }

    private func encodeUnsigned(to writer: inout ByteWriter) {
        writer.write(Self.formatVersion)
        writer.write(height)
        writer.write(round)
        if let validRound {
            writer.write(UInt8(1))
            writer.write(validRound)
        } else {
            writer.write(UInt8(0))
        }
        writer.write(blockID)
        writer.write(proposer)
    }

    /// Writes the proposal (docs/FORMAT.md §8).
    public func encode(to writer: inout ByteWriter) {
        encodeUnsigned(to: &writer)
        writer.write(signature)
    }

    /// Reads a proposal.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let version = try reader.readUInt8("proposal version")
        guard version == Self.formatVersion else {
            throw FormatError(.unknownVersion, "proposal version \(version) is unknown")
        }
        height = try reader.readUInt64("proposal height")
        round = try reader.readUInt32("proposal round")
        validRound = try reader.readFlag("proposal valid round flag") ? try reader.readUInt32("proposal valid round") : nil
        blockID = try reader.read(Hash.self)
        proposer = try reader.read(PublicKey.self)
        signature = try reader.read(Signature.self)
        try validate()
    }
}
