/// Why bytes or a document were rejected, with a code a caller can switch on.
public struct FormatError: Error, Equatable, CustomStringConvertible {
    /// The kind of rejection.
    public enum Code: String, Sendable, Equatable {
        /// The input ended before the structure did.
        case truncated
        /// Bytes remained after a complete structure.
        case trailingBytes
        /// A length, count or value exceeded its stated maximum.
        case overLimit
        /// A format version this implementation does not know.
        case unknownVersion
        /// A value has more than one spelling and this is not the canonical one
        /// (an out-of-range flag, unsorted or duplicate set members, invalid UTF-8).
        case nonCanonical
        /// A value is well-formed but not allowed (zero height, empty set, bad chain id).
        case invalidValue
        /// A structure's contents do not match a hash or root that commits to them.
        case mismatch
    }

    /// The kind of rejection.
    public let code: Code
    /// A one-line explanation naming the field and what was wrong.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The one-line explanation.
    public var description: String { message }
}
