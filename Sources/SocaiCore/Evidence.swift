/// Proof that one validator signed two different votes of one type at one height and round
/// (CometBFT's DuplicateVoteEvidence). Evidence is data: it is gossiped and committed in blocks.
public struct DuplicateVoteEvidence: Hashable, Sendable, CanonicalCodable {
    /// The only evidence format version.
    public static let formatVersion: UInt8 = 1

    /// The vote whose block id sorts first (nil sorts before any hash).
    public let voteA: Vote
    /// The other vote.
    public let voteB: Vote

    /// Orders two conflicting votes canonically; throws unless they truly conflict.
    public init(_ first: Vote, _ second: Vote) throws(FormatError) {
        let firstSortsFirst = Self.sortsBefore(first.blockID, second.blockID)
        voteA = firstSortsFirst ? first : second
        voteB = firstSortsFirst ? second : first
        try validate()
    }

    private static func sortsBefore(_ left: Hash?, _ right: Hash?) -> Bool {
        switch (left, right) {
        case (nil, .some): return true
        case (.some(let left), .some(let right)): return left < right
        default: return false
        }
    }

    /// Throws unless the votes share validator, type, height and round, and voteA's block id
    /// sorts strictly before voteB's.
    public func validate() throws(FormatError) {
        guard voteA.validator == voteB.validator, voteA.type == voteB.type, voteA.height == voteB.height,
            voteA.round == voteB.round
        else {
            throw FormatError(.invalidValue, "evidence votes must share validator, type, height and round")
        }
        guard Self.sortsBefore(voteA.blockID, voteB.blockID) else {
            throw FormatError(.nonCanonical, "evidence votes must be for different blocks, the lower block id first")
        }
    }

    /// Checks both signatures and that the validator was in `validatorSet`.
    public func verify(chainID: ChainID, validatorSet: ValidatorSet) throws(VerificationError) {
        guard validatorSet.validator(for: voteA.validator) != nil else {
            throw VerificationError(
                .unknownValidator, "evidence names \(voteA.validator), which is not a validator at height \(voteA.height)")
        }
        guard voteA.hasValidSignature(chainID: chainID), voteB.hasValidSignature(chainID: chainID) else {
            throw VerificationError(.invalidSignature, "evidence against \(voteA.validator) carries an invalid vote signature")
        }
    }

    /// The evidence hash (tagged).
    public var hash: Hash { Hash.tagged(.hashEvidence, canonicalBytes) }

    /// Writes version and both votes (docs/FORMAT.md §9).
    public func encode(to writer: inout ByteWriter) {
        writer.write(Self.formatVersion)
        writer.write(voteA)
        writer.write(voteB)
    }

    /// Reads and validates evidence.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let version = try reader.readUInt8("evidence version")
        guard version == Self.formatVersion else {
            throw FormatError(.unknownVersion, "evidence version \(version) is unknown")
        }
        voteA = try reader.read(Vote.self)
        voteB = try reader.read(Vote.self)
        try validate()
    }
}
