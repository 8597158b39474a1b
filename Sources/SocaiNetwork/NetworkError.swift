/// Why a frame, a handshake, a session or the peer network failed, with a code a caller
/// can switch on.
public struct NetworkError: Error, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Equatable {
        /// A frame's length prefix announced more bytes than allowed.
        case frameTooLarge
        /// A frame's length prefix was zero.
        case emptyFrame
        /// A Hello or Auth had the wrong size or an invalid field.
        case malformedHandshake
        /// A Hello carried a protocol version other than 1.
        case unknownVersion
        /// The peer is on another chain.
        case chainMismatch
        /// The peer's node key is not among the configured peers.
        case unknownPeer
        /// An outbound connection reached a node other than the peer dialed.
        case unexpectedPeer
        /// The peer is configured but refused for now: it was disconnected for misbehaving.
        case refusedPeer
        /// The peer presented this node's own key or echoed its own Hello.
        case selfConnection
        /// The peer's Auth signature does not verify.
        case badSignature
        /// The peer's ephemeral key was refused by the key exchange.
        case keyExchangeFailed
        /// The handshake did not finish before its deadline.
        case handshakeTimeout
        /// A frame failed authenticated decryption: altered, replayed, reordered or forged.
        case decryptionFailed
        /// A direction of the session used up its nonce counter.
        case counterExhausted
        /// A message to send is longer than `PeerLimits.messageBytesMax`.
        case messageTooLarge
        /// A message was written before the handshake finished.
        case notEstablished
        /// Too many inbound connections are still handshaking.
        case connectionLimit
        /// A configuration value is invalid.
        case invalidConfiguration
        /// The listener could not be bound.
        case bindFailed
        /// The network was shut down.
        case shutDown
    }

    /// The kind of failure.
    public let code: Code
    /// A one-line explanation naming what was wrong.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The code and the explanation.
    public var description: String { "\(code.rawValue): \(message)" }
}
