/// An error from a cryptographic operation, with a code a caller can switch on.
public struct CryptoError: Error, Equatable, CustomStringConvertible {
    /// What kind of failure occurred.
    public enum Code: String, Sendable, Equatable {
        /// An input had the wrong length.
        case invalidLength
        /// Authenticated decryption failed: wrong key (passphrase) or altered ciphertext.
        case authenticationFailed
        /// Key derivation failed, for example because memory could not be allocated.
        case keyDerivationFailed
        /// Parameters are outside the accepted bounds.
        case invalidParameters
        /// Text was not valid hexadecimal of the expected form.
        case invalidHex
    }

    /// What kind of failure occurred.
    public let code: Code
    /// A one-line explanation naming what was wrong.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The one-line explanation.
    public var description: String { message }
}
