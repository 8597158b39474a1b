/// A block header: everything a block hash commits to (docs/FORMAT.md §5).
public struct BlockHeader: Hashable, Sendable, CanonicalCodable {
    /// The only header format version.
    public static let formatVersion: UInt8 = 1

    /// The chain this block belongs to.
    public var chainID: ChainID
    /// Position in the chain; the first block is height 1.
    public var height: UInt64
    /// Block time in milliseconds since the Unix epoch (UTC); the state machine's only clock.
    public var timeMilliseconds: UInt64
    /// Hash of the previous block's header; at height 1, the genesis hash.
    public var previousBlockHash: Hash
    /// Hash of the commit certificate for the previous block; `Hash.zero` at height 1.
    public var lastCommitHash: Hash
    /// RFC 6962 Merkle root over the encoded transactions, in block order.
    public var transactionsRoot: Hash
    /// RFC 6962 Merkle root over the encoded evidence items, in block order.
    public var evidenceRoot: Hash
    /// Root of the application state after this block's transactions are applied.
    public var stateRoot: Hash
    /// Hash of the validator set that must commit this block.
    public var validatorsHash: Hash
    /// The validator that proposed this block.
    public var proposer: PublicKey

    /// Creates a header.
    public init(
        chainID: ChainID, height: UInt64, timeMilliseconds: UInt64, previousBlockHash: Hash,
        lastCommitHash: Hash, transactionsRoot: Hash, evidenceRoot: Hash, stateRoot: Hash,
        validatorsHash: Hash, proposer: PublicKey
    ) {
        self.chainID = chainID
        self.height = height
        self.timeMilliseconds = timeMilliseconds
        self.previousBlockHash = previousBlockHash
        self.lastCommitHash = lastCommitHash
        self.transactionsRoot = transactionsRoot
        self.evidenceRoot = evidenceRoot
        self.stateRoot = stateRoot
        self.validatorsHash = validatorsHash
        self.proposer = proposer
    }

    /// The block hash: SHA-256 of the header tag followed by the encoded header.
    public var hash: Hash { Hash.tagged(.hashHeader, canonicalBytes) }

    /// Writes the header's fields in order.
    public func encode(to writer: inout ByteWriter) {
        writer.write(Self.formatVersion)
        writer.write(chainID)
        writer.write(height)
        writer.write(timeMilliseconds)
        writer.write(previousBlockHash)
        writer.write(lastCommitHash)
        writer.write(transactionsRoot)
        writer.write(evidenceRoot)
        writer.write(stateRoot)
        writer.write(validatorsHash)
        writer.write(proposer)
    }

    /// Reads a header, rejecting unknown versions and height 0.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let version = try reader.readUInt8("header version")
        guard version == Self.formatVersion else {
            throw FormatError(.unknownVersion, "header version \(version) is unknown")
        }
        chainID = try reader.read(ChainID.self)
        height = try reader.readUInt64("header height")
        guard height >= 1 else { throw FormatError(.invalidValue, "header height must be at least 1") }
        timeMilliseconds = try reader.readUInt64("header time")
        previousBlockHash = try reader.read(Hash.self)
        lastCommitHash = try reader.read(Hash.self)
        transactionsRoot = try reader.read(Hash.self)
        evidenceRoot = try reader.read(Hash.self)
        stateRoot = try reader.read(Hash.self)
        validatorsHash = try reader.read(Hash.self)
        proposer = try reader.read(PublicKey.self)
    }
}

/// A block: its header, the certificate that committed its predecessor, its transactions
/// and its evidence (docs/FORMAT.md §10).
public struct Block: Hashable, Sendable, CanonicalCodable {
    /// The header (the block hash is the header's hash).
    public var header: BlockHeader
    /// The commit certificate of block `height - 1`; nil exactly at height 1.
    public var lastCommit: CommitCertificate?
    /// The transactions, in execution order.
    public var transactions: [TransactionEnvelope]
    /// Equivocation evidence committed by this block.
    public var evidence: [DuplicateVoteEvidence]

    /// Creates a block; `validateBasic()` checks it against its own header.
    public init(
        header: BlockHeader, lastCommit: CommitCertificate?, transactions: [TransactionEnvelope],
        evidence: [DuplicateVoteEvidence]
    ) {
        self.header = header
        self.lastCommit = lastCommit
        self.transactions = transactions
        self.evidence = evidence
    }

    /// The block hash (the header's hash).
    public var hash: Hash { header.hash }

    /// Merkle root over the encoded transactions.
    public static func transactionsRoot(_ transactions: [TransactionEnvelope]) -> Hash {
        Merkle.root(leaves: transactions.map(\.canonicalBytes))
    }

    /// Merkle root over the encoded evidence.
    public static func evidenceRoot(_ evidence: [DuplicateVoteEvidence]) -> Hash {
        Merkle.root(leaves: evidence.map(\.canonicalBytes))
    }

    /// Checks what a block can check on its own, without signatures or state: the roots and
    /// last-commit hash in the header match the body, every transaction is for the header's
    /// chain, the last commit is present exactly above height 1 and is for the height below.
    public func validateBasic() throws(VerificationError) {
        let height = header.height
        guard Self.transactionsRoot(transactions) == header.transactionsRoot else {
            throw VerificationError(.mismatch, "block \(height): transactions do not match the header's transactions root")
        }
        guard Self.evidenceRoot(evidence) == header.evidenceRoot else {
            throw VerificationError(.mismatch, "block \(height): evidence does not match the header's evidence root")
        }
        for transaction in transactions where transaction.chainID != header.chainID {
            throw VerificationError(
                .mismatch,
                "block \(height): transaction \(transaction.hash) is for chain \(transaction.chainID), not \(header.chainID)")
        }
        if height == 1 {
            guard lastCommit == nil, header.lastCommitHash == .zero else {
                throw VerificationError(.invalid, "block 1 must have no last commit and a zero last-commit hash")
            }
        } else {
            guard let lastCommit else {
                throw VerificationError(.invalid, "block \(height) is missing the commit certificate of block \(height - 1)")
            }
            guard lastCommit.height == height - 1, lastCommit.blockID == header.previousBlockHash else {
                throw VerificationError(
                    .mismatch, "block \(height): its last commit is not for block \(height - 1) \(header.previousBlockHash)")
            }
            guard lastCommit.hash == header.lastCommitHash else {
                throw VerificationError(.mismatch, "block \(height): last commit does not match the header's last-commit hash")
            }
        }
    }

    /// Writes the block.
    public func encode(to writer: inout ByteWriter) {
        writer.write(header)
        if let lastCommit {
            writer.write(UInt8(1))
            writer.write(lastCommit)
        } else {
            writer.write(UInt8(0))
        }
        writer.write(UInt32(transactions.count))
        for transaction in transactions { writer.writeLongBytes(transaction.canonicalBytes) }
        writer.write(UInt16(evidence.count))
        for item in evidence { writer.write(item) }
    }

    /// Reads a block, enforcing the count and size limits before allocating.
    public init(from reader: inout ByteReader) throws(FormatError) {
        guard reader.remaining <= Limits.blockBytesMax else {
            throw FormatError(.overLimit, "block of \(reader.remaining) bytes exceeds \(Limits.blockBytesMax)")
        }
        header = try reader.read(BlockHeader.self)
        lastCommit = try reader.readFlag("block last commit flag") ? try reader.read(CommitCertificate.self) : nil
        let transactionCount = Int(try reader.readUInt32("block transaction count"))
        guard transactionCount <= Limits.blockTransactionsMax else {
            throw FormatError(.overLimit, "\(transactionCount) transactions exceed the maximum \(Limits.blockTransactionsMax)")
        }
        var transactions: [TransactionEnvelope] = []
        transactions.reserveCapacity(min(transactionCount, reader.remaining / 4))
        for _ in 0..<transactionCount {
            let raw = try reader.readLongBytes("block transaction", maximum: Limits.transactionBytesMax)
            transactions.append(try TransactionEnvelope(canonicalBytes: raw))
        }
        self.transactions = transactions
        let evidenceCount = Int(try reader.readUInt16("block evidence count"))
        guard evidenceCount <= Limits.blockEvidenceMax else {
            throw FormatError(.overLimit, "\(evidenceCount) evidence items exceed the maximum \(Limits.blockEvidenceMax)")
        }
        var evidence: [DuplicateVoteEvidence] = []
        for _ in 0..<evidenceCount { evidence.append(try reader.read(DuplicateVoteEvidence.self)) }
        self.evidence = evidence
    }
}
