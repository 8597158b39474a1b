import SocaiCore

/// The first thing an audit found wrong: where (height, and transaction where there is one)
/// and what, in words.
public struct AuditFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kind of failure, for machines; `detail` says it for people.
    public enum Code: String, Sendable, Equatable, Codable {
        /// The genesis file does not parse, or the chain was made for another genesis.
        case genesis
        /// The chain source cannot be read (file missing, damaged framing, database error).
        case source
        /// A block is missing from the source.
        case missingBlock
        /// A block or certificate does not decode.
        case undecodable
        /// A block names another chain or height.
        case wrongPlace
        /// A block's previous-block hash is not the hash of the block below.
        case brokenLink
        /// A block's time is earlier than the genesis time.
        case time
        /// A Merkle root, last-commit hash or other commitment in the header does not match.
        case mismatch
        /// A transaction signature does not verify.
        case transactionSignature
        /// A commit certificate or last commit does not certify its block.
        case commit
        /// The header's validators hash is not the set in force.
        case validators
        /// Evidence in a block is not valid.
        case evidence
        /// The replayed state root is not the header's.
        case stateRoot
        /// A result or state root the node recorded differs from the replay.
        case recorded
        /// The state machine could not execute a block (its own state is corrupt).
        case execution
    }

    /// The kind of failure.
    public let code: Code
    /// The height of the block that failed; nil for failures before block 1 (genesis, source).
    public let height: UInt64?
    /// The position of the failing transaction in its block, where there is one.
    public let transactionIndex: Int?
    /// What failed, in words, without the height prefix.
    public let detail: String

    /// Creates a failure.
    public init(_ code: Code, height: UInt64?, transactionIndex: Int? = nil, _ detail: String) {
        self.code = code
        self.height = height
        self.transactionIndex = transactionIndex
        self.detail = detail
    }

    /// "block 1834, transaction 12: signature does not verify".
    public var description: String {
        guard let height else { return detail }
        if let transactionIndex { return "block \(height), transaction \(transactionIndex): \(detail)" }
        return "block \(height): \(detail)"
    }
}
