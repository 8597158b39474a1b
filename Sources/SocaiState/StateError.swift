import SocaiCore

/// A failure of the state layer itself (storage, corrupt data) — not a transaction's
/// rejection, which is a `TransactionResult` recorded in the block.
public struct StateError: Error, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// The backing storage failed.
        case storage
        /// Stored state does not decode or does not match the hash that commits to it.
        case corrupt
        /// A caller broke an API precondition (for example, duplicate keys in one update).
        case invalidArgument
    }

    /// The kind of failure.
    public let code: Code
    /// A one-line explanation.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The one-line explanation.
    public var description: String { message }
}
