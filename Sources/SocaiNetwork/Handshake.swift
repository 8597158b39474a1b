import SocaiCore
import SocaiCrypto

/// The signing tag of a handshake Auth, in the style of `DomainTag`: ASCII, then a zero
/// byte. It is defined here rather than in SocaiCore because only the transport signs it;
/// docs/FORMAT.md ("Peer handshake and frames") documents it beside the chain tags, and no
/// chain tag starts with it, so an Auth signature can never pass as a chain signature.
public enum HandshakeTag {
    /// `socai/sign/handshake/v1` followed by `0x00`.
    public static let bytes: [UInt8] = Array("socai/sign/handshake/v1".utf8) + [0]
}

/// The first frame each side sends: who it is and the fresh values for this session.
public struct HandshakeHello: Sendable, Equatable {
    /// The only protocol version.
    public static let currentVersion: UInt8 = 1

    /// Protocol version; must be 1.
    public var version: UInt8
    /// The chain the sender is on.
    public var chainID: ChainID
    /// The sender's long-term Ed25519 node key.
    public var nodeKey: PublicKey
    /// The sender's X25519 public key for this session.
    public var ephemeralKey: [UInt8]
    /// 32 random bytes the other side must sign, so an old Auth cannot be replayed.
    public var challenge: [UInt8]

    /// Creates a Hello; the ephemeral key and challenge must be 32 bytes each.
    public init(version: UInt8 = currentVersion, chainID: ChainID, nodeKey: PublicKey, ephemeralKey: [UInt8], challenge: [UInt8])
    {
        precondition(ephemeralKey.count == KeyExchange.publicKeyBytes, "an ephemeral key is 32 bytes")
        precondition(challenge.count == PeerLimits.challengeBytes, "a challenge is 32 bytes")
        self.version = version
        self.chainID = chainID
        self.nodeKey = nodeKey
        self.ephemeralKey = ephemeralKey
        self.challenge = challenge
    }

    /// `u8 version ‖ chainid ‖ pubkey ‖ ephemeral (32) ‖ challenge (32)`.
    public var encoded: [UInt8] {
        var writer = ByteWriter()
        writer.write(version)
        writer.write(chainID)
        writer.write(nodeKey)
        writer.writeRaw(ephemeralKey)
        writer.writeRaw(challenge)
        return writer.bytes
    }

    /// Decodes a Hello that must fill `bytes` exactly. The version is checked first, so a
    /// later version with another layout is reported as `unknownVersion`.
    public init(decoding bytes: [UInt8]) throws(NetworkError) {
        guard bytes.count <= PeerLimits.helloBytesMax else {
            throw NetworkError(.malformedHandshake, "Hello is \(bytes.count) bytes; the limit is \(PeerLimits.helloBytesMax)")
        }
        guard let first = bytes.first else {
            throw NetworkError(.malformedHandshake, "Hello is empty")
        }
        guard first == Self.currentVersion else {
            throw NetworkError(.unknownVersion, "Hello version \(first) is unknown (expected \(Self.currentVersion))")
        }
        version = first
        var reader = ByteReader(Array(bytes.dropFirst()))
        do throws(FormatError) {
            chainID = try reader.read(ChainID.self)
            nodeKey = try reader.read(PublicKey.self)
            ephemeralKey = try reader.readRaw(KeyExchange.publicKeyBytes, "Hello ephemeral key")
            challenge = try reader.readRaw(PeerLimits.challengeBytes, "Hello challenge")
            try reader.expectEnd("Hello")
        } catch {
            throw NetworkError(.malformedHandshake, "Hello: \(error.message)")
        }
    }
}

/// The bytes an Auth signs: the handshake tag, the chain id (`bytes8`), the signer's own
/// ephemeral key, the other side's ephemeral key and the other side's challenge.
///
/// Signing both ephemeral keys binds the node key to this exchange (a man in the middle
/// cannot substitute its own ephemeral key); signing the other side's fresh challenge
/// proves the signature was made now, for this connection.
public func handshakeSigningBytes(
    chainID: ChainID, ownEphemeralKey: [UInt8], peerEphemeralKey: [UInt8], peerChallenge: [UInt8]
) -> [UInt8] {
    var writer = ByteWriter()
    writer.writeRaw(HandshakeTag.bytes)
    writer.write(chainID)
    writer.writeRaw(ownEphemeralKey)
    writer.writeRaw(peerEphemeralKey)
    writer.writeRaw(peerChallenge)
    return writer.bytes
}

/// What the handshake established: who the peer is and the keys for the session.
public struct HandshakeOutcome: Sendable {
    /// The peer's authenticated node key.
    public let peer: PublicKey
    /// The session's frame cipher, counters at zero.
    public let cipher: FrameCipher
}

/// The handshake as a pure state machine: no I/O, no clock. The caller sends what it
/// returns and feeds it the peer's frames in order; the deadline is the caller's.
///
/// Both sides run the same steps: send Hello; on the peer's Hello check it and send Auth;
/// on the peer's Auth verify it, and the session is established. The side that dialed is
/// the key-exchange client.
public struct HandshakeStateMachine {
    /// Which end of the TCP connection this side is.
    public enum Role: Sendable, Equatable {
        /// This side dialed; it is the `crypto_kx` client.
        case initiator
        /// This side accepted; it is the `crypto_kx` server.
        case responder
    }

    /// What the caller must do after a frame.
    public enum Step {
        /// Send these bytes as the next frame (our Auth).
        case send([UInt8])
        /// The handshake is done.
        case established(HandshakeOutcome)
    }

    private enum State {
        case idle
        case awaitingHello
        case awaitingAuth(peer: PublicKey, peerEphemeralKey: [UInt8], keys: SessionKeys)
        case established
        case failed
    }

    /// Which end this side is.
    public let role: Role
    private let chainID: ChainID
    private let nodeKey: SigningKey
    private let ownKey: PublicKey
    private let allowedPeers: Set<PublicKey>
    private let refusedPeers: Set<PublicKey>
    private let expectedPeer: PublicKey?
    private let ephemeral: X25519KeyPair
    private let challenge: [UInt8]
    private var state = State.idle

    /// Creates a handshake. `allowedPeers` are the node keys accepted, except `refusedPeers`
    /// (disconnected for misbehaving), which are turned away before this side signs anything;
    /// `expectedPeer`, for an outbound connection, is the one key the dialed node must
    /// present. `ephemeral` and `challenge` default to fresh randomness; tests pass fixed ones.
    public init(
        role: Role, chainID: ChainID, nodeKey: SigningKey, allowedPeers: Set<PublicKey>,
        refusedPeers: Set<PublicKey> = [], expectedPeer: PublicKey? = nil,
        ephemeral: X25519KeyPair = X25519KeyPair(), challenge: [UInt8] = SecureRandom.bytes(count: PeerLimits.challengeBytes)
    ) {
        precondition(challenge.count == PeerLimits.challengeBytes, "a challenge is 32 bytes")
        precondition(expectedPeer.map { allowedPeers.contains($0) } ?? true, "the expected peer must be allowed")
        self.role = role
        self.chainID = chainID
        self.nodeKey = nodeKey
        self.ownKey = PublicKey(of: nodeKey)
        self.allowedPeers = allowedPeers
        self.refusedPeers = refusedPeers
        self.expectedPeer = expectedPeer
        self.ephemeral = ephemeral
        self.challenge = challenge
    }

    /// Starts the handshake, returning this side's Hello. Call once, before any `receive`.
    public mutating func start() -> [UInt8] {
        guard case .idle = state else { preconditionFailure("handshake started twice") }
        state = .awaitingHello
        return HandshakeHello(chainID: chainID, nodeKey: ownKey, ephemeralKey: ephemeral.publicKey, challenge: challenge).encoded
    }

    /// Whether the handshake has finished successfully.
    public var isEstablished: Bool {
        if case .established = state { return true }
        return false
    }

    /// Handles the peer's next handshake frame. Any error is final: the caller must close
    /// the connection, and every later call is a programming error.
    public mutating func receive(_ frame: [UInt8]) throws(NetworkError) -> Step {
        switch state {
        case .idle, .established, .failed:
            preconditionFailure("handshake frame received in the wrong state")
        case .awaitingHello:
            do throws(NetworkError) {
                return try receiveHello(frame)
            } catch {
                state = .failed
                throw error
            }
        case .awaitingAuth(let peer, let peerEphemeralKey, let keys):
            do throws(NetworkError) {
                try verifyAuth(frame, peer: peer, peerEphemeralKey: peerEphemeralKey)
            } catch {
                state = .failed
                throw error
            }
            state = .established
            return .established(HandshakeOutcome(peer: peer, cipher: FrameCipher(keys: keys)))
        }
    }

    private mutating func receiveHello(_ frame: [UInt8]) throws(NetworkError) -> Step {
        let hello = try HandshakeHello(decoding: frame)
        guard hello.chainID == chainID else {
            throw NetworkError(.chainMismatch, "peer is on chain \"\(hello.chainID)\", this node on \"\(chainID)\"")
        }
        // A node talking to itself (or an attacker reflecting our own Hello) would otherwise
        // pass every check below with our own signature.
        guard hello.nodeKey != ownKey, hello.ephemeralKey != ephemeral.publicKey, hello.challenge != challenge else {
            throw NetworkError(.selfConnection, "peer presented this node's own key or Hello")
        }
        guard allowedPeers.contains(hello.nodeKey) else {
            throw NetworkError(.unknownPeer, "peer key \(hello.nodeKey) is not a configured peer")
        }
        if let expectedPeer, hello.nodeKey != expectedPeer {
            throw NetworkError(.unexpectedPeer, "dialed \(expectedPeer) but the node there is \(hello.nodeKey)")
        }
        // Turned away before this side's Auth: the refused peer gets no session, so it backs
        // off as from any failed connection instead of redialing at once.
        guard !refusedPeers.contains(hello.nodeKey) else {
            throw NetworkError(.refusedPeer, "peer \(hello.nodeKey) is refused for now: it was disconnected for misbehaving")
        }
        let keys: SessionKeys
        do throws(CryptoError) {
            switch role {
            case .initiator: keys = try ephemeral.clientSessionKeys(serverPublicKey: hello.ephemeralKey)
            case .responder: keys = try ephemeral.serverSessionKeys(clientPublicKey: hello.ephemeralKey)
            }
        } catch {
            throw NetworkError(.keyExchangeFailed, "peer \(hello.nodeKey): \(error.message)")
        }
        state = .awaitingAuth(peer: hello.nodeKey, peerEphemeralKey: hello.ephemeralKey, keys: keys)
        let signed = handshakeSigningBytes(
            chainID: chainID, ownEphemeralKey: ephemeral.publicKey, peerEphemeralKey: hello.ephemeralKey,
            peerChallenge: hello.challenge)
        return .send(nodeKey.signature(for: signed))
    }

    private func verifyAuth(_ frame: [UInt8], peer: PublicKey, peerEphemeralKey: [UInt8]) throws(NetworkError) {
        guard frame.count == PeerLimits.authBytes else {
            throw NetworkError(.malformedHandshake, "Auth is \(frame.count) bytes, expected \(PeerLimits.authBytes)")
        }
        let signed = handshakeSigningBytes(
            chainID: chainID, ownEphemeralKey: peerEphemeralKey, peerEphemeralKey: ephemeral.publicKey,
            peerChallenge: challenge)
        guard Ed25519.isValidSignature(frame, of: signed, publicKey: peer.bytes) else {
            throw NetworkError(.badSignature, "peer \(peer): the Auth signature does not verify")
        }
    }
}
