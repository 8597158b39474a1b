import SocaiCore
import SocaiCrypto

/// Every size, count and time limit of the peer transport, in one place.
///
/// docs/FORMAT.md ("Peer handshake and frames") lists the same numbers; `PeerNetworkConfiguration`
/// starts from these defaults and may tighten any of them (tests shorten the times), never loosen them.
public enum PeerLimits {
    /// Longest message payload a peer may send after the handshake, in bytes: the largest
    /// block (`Limits.blockBytesMax`, 8 MiB) plus 64 KiB for the node layer's own framing.
    public static let messageBytesMax = Limits.blockBytesMax + 64 * 1024
    /// Longest frame payload on the wire, in bytes: an encrypted message and its 16-byte tag.
    /// The decoder rejects a larger length as soon as the 4-byte prefix arrives.
    public static let frameBytesMax = messageBytesMax + AEAD.tagBytes
    /// Length of the frame length prefix (a big-endian u32).
    public static let frameLengthPrefixBytes = 4
    /// Longest Hello, in bytes: version, chain id (at most 50 bytes plus its length byte),
    /// node key, ephemeral key and challenge.
    public static let helloBytesMax = 1 + 1 + Limits.chainIDBytesMax + 32 + 32 + 32
    /// Length of an Auth: one Ed25519 signature.
    public static let authBytes = 64
    /// Longest frame accepted before the handshake has finished, in bytes, so a peer that
    /// has not authenticated cannot make a node buffer more than this.
    public static let handshakeFrameBytesMax = 256
    /// Number of frames a peer sends during the handshake (Hello, then Auth); the frame
    /// decoder holds exactly these to `handshakeFrameBytesMax`.
    public static let handshakeFramesInbound = 2
    /// Length of the random challenge in a Hello.
    public static let challengeBytes = 32
    /// Time allowed from connection to a finished handshake, in milliseconds.
    public static let handshakeDeadlineMilliseconds: Int64 = 5_000
    /// Time allowed for a TCP connection attempt, in milliseconds.
    public static let connectTimeoutMilliseconds: Int64 = 5_000
    /// First delay before redialing a peer, in milliseconds; it doubles after each failure.
    public static let reconnectDelayMillisecondsMin: Int64 = 100
    /// Longest delay between two dials of one peer, in milliseconds.
    public static let reconnectDelayMillisecondsMax: Int64 = 5_000
    /// How long a peer the node disconnected for misbehaving (`PeerNetwork.disconnect`) is
    /// refused, in milliseconds: neither dialed nor let in until then.
    public static let misbehaviorRefusalMilliseconds: Int64 = 30_000
    /// Most messages waiting to be written to one peer; when full the oldest is dropped.
    public static let sendQueueFramesMax = 1_024
    /// Most bytes of messages waiting to be written to one peer; when over, the oldest are
    /// dropped. At least one largest message always fits.
    public static let sendQueueBytesMax = 64 * 1024 * 1024
    /// Most received messages buffered for the node (`PeerNetwork.messages`); when full the
    /// oldest buffered message is dropped.
    public static let incomingMessagesMax = 4_096
    /// Most inbound connections that have not finished their handshake; further
    /// connections are closed at once until one finishes or fails.
    public static let pendingInboundConnectionsMax = 32
    /// Socket write buffer level above which a connection stops taking queued messages, in bytes.
    public static let writeBufferBytesHigh = 4 * 1024 * 1024
    /// Socket write buffer level below which a connection takes queued messages again, in bytes.
    public static let writeBufferBytesLow = 1024 * 1024
    /// Frames one direction of a session may carry: the 64-bit nonce counter runs from 0 to
    /// `UInt64.max - 1`, and the connection is closed rather than let it wrap around.
    public static let framesPerDirectionMax: UInt64 = .max
}
