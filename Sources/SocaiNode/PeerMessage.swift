import SocaiCore

/// What validators say to each other over the encrypted peer links (docs/FORMAT.md, "Peer
/// messages"). Each message is one frame: a kind byte, then the kind's canonical fields.
public enum NodeMessage: Equatable, Sendable, CanonicalCodable {
    /// A signed proposal and the proposed block.
    case proposal(Proposal, Block)
    /// A signed prevote or precommit.
    case vote(Vote)
    /// A transaction for the mempools.
    case transaction(TransactionEnvelope)
    /// Equivocation evidence for the next proposer to include.
    case evidence(DuplicateVoteEvidence)
    /// "My committed height is …": lets a peer that is behind know whom to ask.
    case status(height: UInt64)
    /// "Send me blocks from this height on" (block sync).
    case blockRequest(fromHeight: UInt64, countMax: UInt16)
    /// A committed block with the certificate that committed it.
    case blockResponse(Block, CommitCertificate)
    /// Transactions for the mempools, 1 to `transactionsPerMessageMax` in one frame: gossip
    /// sends what a node accepted in the last few milliseconds together, so a busy network
    /// pays the per-frame cost (a sealed frame, a write, a wakeup) once per batch.
    case transactions([TransactionEnvelope])

    /// Most blocks one request may ask for.
    public static let blocksPerRequestMax: UInt16 = 32
    /// Most transactions one `transactions` message may carry. With each transaction at most
    /// `Limits.transactionBytesMax`, a full batch stays far below a frame's maximum.
    public static let transactionsPerMessageMax: UInt16 = 256

    /// Whether `payload` is a `transaction` or `transactions` message, judged by its kind byte
    /// alone (nothing is decoded): a node takes gossiped transactions in a lane of their own,
    /// so that consensus messages never wait behind their signature checks.
    public static func isTransactionGossip(_ payload: [UInt8]) -> Bool {
        payload.first == 3 || payload.first == 8
    }

    /// The transactions the message carries for the mempools, in order: one for
    /// `transaction`, all of a `transactions` batch, none for any other kind.
    public var carriedTransactions: [TransactionEnvelope] {
        switch self {
        case .transaction(let envelope): return [envelope]
        case .transactions(let envelopes): return envelopes
        default: return []
        }
    }

    /// Writes the kind byte and fields.
    public func encode(to writer: inout ByteWriter) {
        switch self {
        case .proposal(let proposal, let block):
            writer.write(UInt8(1))
            writer.write(proposal)
            writer.writeLongBytes(block.canonicalBytes)
        case .vote(let vote):
            writer.write(UInt8(2))
            writer.write(vote)
        case .transaction(let envelope):
            writer.write(UInt8(3))
            writer.writeLongBytes(envelope.canonicalBytes)
        case .evidence(let evidence):
            writer.write(UInt8(4))
            writer.write(evidence)
        case .status(let height):
            writer.write(UInt8(5))
            writer.write(height)
        case .blockRequest(let fromHeight, let countMax):
            writer.write(UInt8(6))
            writer.write(fromHeight)
            writer.write(countMax)
        case .blockResponse(let block, let commit):
            writer.write(UInt8(7))
            writer.writeLongBytes(block.canonicalBytes)
            writer.write(commit)
        case .transactions(let envelopes):
            precondition(
                !envelopes.isEmpty && envelopes.count <= Int(Self.transactionsPerMessageMax),
                "a transactions message carries 1 to \(Self.transactionsPerMessageMax) transactions")
            writer.write(UInt8(8))
            writer.write(UInt16(envelopes.count))
            for envelope in envelopes { writer.writeLongBytes(envelope.canonicalBytes) }
        }
    }

    /// Reads one message; every size is bounded by the block and transaction limits.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let kind = try reader.readUInt8("message kind")
        switch kind {
        case 1:
            let proposal = try reader.read(Proposal.self)
            let block = try Block(canonicalBytes: try reader.readLongBytes("proposed block", maximum: Limits.blockBytesMax))
            self = .proposal(proposal, block)
        case 2: self = .vote(try reader.read(Vote.self))
        case 3:
            self = .transaction(
                try TransactionEnvelope(
                    canonicalBytes: try reader.readLongBytes("transaction", maximum: Limits.transactionBytesMax)))
        case 4: self = .evidence(try reader.read(DuplicateVoteEvidence.self))
        case 5: self = .status(height: try reader.readUInt64("status height"))
        case 6:
            let fromHeight = try reader.readUInt64("request height")
            let countMax = try reader.readUInt16("request count")
            guard fromHeight >= 1, countMax >= 1, countMax <= Self.blocksPerRequestMax else {
                throw FormatError(
                    .invalidValue, "a block request asks for 1 to \(Self.blocksPerRequestMax) blocks from height 1 on")
            }
            self = .blockRequest(fromHeight: fromHeight, countMax: countMax)
        case 7:
            let block = try Block(canonicalBytes: try reader.readLongBytes("block", maximum: Limits.blockBytesMax))
            self = .blockResponse(block, try reader.read(CommitCertificate.self))
        case 8:
            let count = try reader.readUInt16("transaction count")
            guard count >= 1, count <= Self.transactionsPerMessageMax else {
                throw FormatError(
                    .invalidValue,
                    "a transactions message carries 1 to \(Self.transactionsPerMessageMax) transactions, not \(count)")
            }
            var envelopes: [TransactionEnvelope] = []
            envelopes.reserveCapacity(Int(count))
            for _ in 0..<count {
                envelopes.append(
                    try TransactionEnvelope(
                        canonicalBytes: try reader.readLongBytes("transaction", maximum: Limits.transactionBytesMax)))
            }
            self = .transactions(envelopes)
        default:
            throw FormatError(.invalidValue, "peer message kind \(kind) is unknown")
        }
    }
}
