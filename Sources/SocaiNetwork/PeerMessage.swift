import SocaiCore

/// One message received from an authenticated peer: opaque bytes and who sent them.
///
/// The transport gives no meaning to the payload; the node layer defines message kinds.
public struct PeerMessage: Sendable, Equatable {
    /// The sender's node key, proven by the handshake.
    public let peer: PublicKey
    /// The decrypted payload, at most `PeerLimits.messageBytesMax` bytes.
    public let payload: [UInt8]

    /// Creates a message.
    public init(peer: PublicKey, payload: [UInt8]) {
        self.peer = peer
        self.payload = payload
    }
}

/// Events a `PeerSessionHandler` sends down the pipeline with `fireUserInboundEventTriggered`.
public enum PeerSessionEvent: Sendable, Equatable {
    /// The handshake finished: the connection is now an encrypted session with `peer`.
    case established(peer: PublicKey)
}
