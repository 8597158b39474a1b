import NIOCore
import NIOEmbedded
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiNetwork

@Suite("handshake and session over EmbeddedChannel")
struct SessionChannelTests {
    @Test("two ends complete the handshake, fed one byte at a time, and exchange messages both ways")
    func handshakeAndMessagesDripFed() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try pair.exchange(dripFeed: true)
        #expect(try pair.session(pair.initiator).peer == NetFixture.public2)
        #expect(try pair.session(pair.responder).peer == NetFixture.public1)

        let outgoing: [[UInt8]] = [Array("prevote".utf8), [], SecureRandom.bytes(count: 20_000), [0]]
        for message in outgoing { try pair.initiator.writeOutbound(message) }
        try pair.exchange(dripFeed: true)
        var received: [PeerMessage] = []
        while let message = try pair.responder.readInbound(as: PeerMessage.self) { received.append(message) }
        #expect(received.map(\.payload) == outgoing)
        #expect(received.allSatisfy { $0.peer == NetFixture.public1 })

        try pair.responder.writeOutbound(Array("precommit".utf8))
        try pair.exchange()
        #expect(
            try pair.initiator.readInbound(as: PeerMessage.self)
                == PeerMessage(peer: NetFixture.public2, payload: Array("precommit".utf8)))
    }

    @Test("the deadline does not fire once the session is established")
    func deadlineCancelled() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try pair.exchange()
        pair.initiator.embeddedEventLoop.advanceTime(by: .seconds(60))
        pair.responder.embeddedEventLoop.advanceTime(by: .seconds(60))
        #expect(pair.initiator.isActive && pair.responder.isActive)
        try pair.initiator.throwIfErrorCaught()
    }

    @Test("a handshake not finished by its deadline closes the connection")
    func deadline() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        pair.initiator.embeddedEventLoop.advanceTime(by: .milliseconds(4_999))
        #expect(pair.initiator.isActive)
        pair.initiator.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        #expect(!pair.initiator.isActive)
        expectNetworkError(.handshakeTimeout) { try pair.initiator.throwIfErrorCaught() }
    }

    @Test("a peer on another chain is refused by both ends")
    func wrongChain() throws {
        let pair = try ChannelPair(responderChain: NetFixture.otherChainID)
        defer { pair.finish() }
        expectNetworkError(.chainMismatch) { try ChannelPair.pump(pair.initiator, pair.responder) }
        expectNetworkError(.chainMismatch) { try ChannelPair.pump(pair.responder, pair.initiator) }
        #expect(!pair.initiator.isActive && !pair.responder.isActive)
    }

    @Test("a node key outside the allowed set is refused")
    func unknownPeer() throws {
        let pair = try ChannelPair(responderAllows: [NetFixture.public3])
        defer { pair.finish() }
        expectNetworkError(.unknownPeer) { try pair.exchange() }
        #expect(!pair.responder.isActive)
    }

    @Test("a refused peer is turned away before the responder signs its Auth")
    func refusedPeer() throws {
        let pair = try ChannelPair(responderRefuses: [NetFixture.public1])
        defer { pair.finish() }
        // The initiator's Hello reaches the responder, which closes without sending an Auth:
        // the initiator never gets a session, and never sees the responder's signature.
        expectNetworkError(.refusedPeer) { try pair.exchange() }
        #expect(!pair.responder.isActive)
    }

    @Test("an outbound connection that reaches another allowed node is refused")
    func unexpectedPeer() throws {
        let pair = try ChannelPair(initiatorAllows: [NetFixture.public2, NetFixture.public3], expectedPeer: NetFixture.public3)
        defer { pair.finish() }
        expectNetworkError(.unexpectedPeer) { try pair.exchange() }
        #expect(!pair.initiator.isActive)
    }

    @Test("an altered Auth signature is refused")
    func badSignature() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try ChannelPair.pump(pair.responder, pair.initiator)  // responder's Hello; the initiator answers with Auth
        expectNetworkError(.badSignature) {
            try ChannelPair.pump(pair.initiator, pair.responder) { bytes in
                if bytes.count == 4 + PeerLimits.authBytes { bytes[20] ^= 0x01 }
            }
        }
        #expect(!pair.responder.isActive)
    }

    @Test("a man in the middle who swaps the ephemeral key breaks the signatures")
    func ephemeralKeySwapped() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        let intruder = X25519KeyPair()
        // Hello on the wire: u32 length, version, chain id (1 + 10), node key (32), ephemeral key (32), challenge.
        let ephemeralOffset = 4 + 1 + 1 + NetFixture.chainID.value.utf8.count + 32
        try ChannelPair.pump(pair.initiator, pair.responder) { bytes in
            bytes.replaceSubrange(ephemeralOffset..<(ephemeralOffset + 32), with: intruder.publicKey)
        }
        expectNetworkError(.badSignature) { try ChannelPair.pump(pair.responder, pair.initiator) }
        #expect(!pair.initiator.isActive)
    }

    @Test("a node's own Hello sent back to it is refused")
    func reflectedHello() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        expectNetworkError(.selfConnection) { try ChannelPair.pump(pair.initiator, pair.initiator) }
    }

    @Test("an oversize first frame is refused under the handshake limit")
    func oversizeHandshakeFrame() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        let frame = wireFrame([UInt8](repeating: 1, count: PeerLimits.handshakeFrameBytesMax + 1))
        expectNetworkError(.frameTooLarge) { try pair.responder.writeInbound(pair.responder.allocator.buffer(bytes: frame)) }
        #expect(!pair.responder.isActive)
    }

    @Test("a message written before the handshake finishes is refused")
    func writeBeforeEstablished() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        expectNetworkError(.notEstablished) { try pair.initiator.writeOutbound([UInt8]([1, 2, 3])) }
    }

    @Test("an altered ciphertext fails authentication and closes the connection")
    func tamperedCiphertext() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try pair.exchange()
        try pair.initiator.writeOutbound(Array("access record".utf8))
        expectNetworkError(.decryptionFailed) {
            try ChannelPair.pump(pair.initiator, pair.responder) { bytes in bytes[6] ^= 0x80 }
        }
        #expect(!pair.responder.isActive)
        #expect(try pair.responder.readInbound(as: PeerMessage.self) == nil)
    }

    @Test("a replayed frame is refused: its counter is already used")
    func replay() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try pair.exchange()
        try pair.initiator.writeOutbound(Array("transfer 10 credits".utf8))
        let frame = try #require(try pair.initiator.readOutbound(as: ByteBuffer.self))
        try pair.responder.writeInbound(frame)
        #expect(try pair.responder.readInbound(as: PeerMessage.self)?.payload == Array("transfer 10 credits".utf8))
        expectNetworkError(.decryptionFailed) { try pair.responder.writeInbound(frame) }
        #expect(!pair.responder.isActive)
    }

    @Test("reordered frames are refused")
    func reorder() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try pair.exchange()
        try pair.initiator.writeOutbound([UInt8]([1]))
        try pair.initiator.writeOutbound([UInt8]([2]))
        let first = try #require(try pair.initiator.readOutbound(as: ByteBuffer.self))
        let second = try #require(try pair.initiator.readOutbound(as: ByteBuffer.self))
        #expect(first != second)
        expectNetworkError(.decryptionFailed) { try pair.responder.writeInbound(second) }
    }

    @Test("a node's own frame reflected back to it is refused (the directions have different keys)")
    func reflectedFrame() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try pair.exchange()
        try pair.initiator.writeOutbound([UInt8]([9, 9, 9]))
        expectNetworkError(.decryptionFailed) { try ChannelPair.pump(pair.initiator, pair.initiator) }
    }

    @Test("an unauthenticated garbage frame after the handshake is refused")
    func garbageAfterHandshake() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try pair.exchange()
        expectNetworkError(.decryptionFailed) {
            try pair.responder.writeInbound(pair.responder.allocator.buffer(bytes: wireFrame(SecureRandom.bytes(count: 40))))
        }
        #expect(!pair.responder.isActive)
    }
}

@Suite("handshake state machine")
struct HandshakeStateMachineTests {
    private func machine(_ role: HandshakeStateMachine.Role, key: SigningKey = NetFixture.key2) -> HandshakeStateMachine {
        HandshakeStateMachine(
            role: role, chainID: NetFixture.chainID, nodeKey: key,
            allowedPeers: [NetFixture.public1, NetFixture.public2, NetFixture.public3])
    }

    private func hello(version: UInt8 = 1, trailing: [UInt8] = []) -> [UInt8] {
        var bytes = HandshakeHello(
            chainID: NetFixture.chainID, nodeKey: NetFixture.public1, ephemeralKey: X25519KeyPair().publicKey,
            challenge: SecureRandom.bytes(count: 32)
        ).encoded
        bytes[0] = version
        return bytes + trailing
    }

    private func expectFailure(
        _ code: NetworkError.Code, receiving frame: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var handshake = machine(.responder)
        _ = handshake.start()
        expectNetworkError(code, sourceLocation: sourceLocation) { _ = try handshake.receive(frame) }
    }

    @Test("Hello decodes back to itself and is at most helloBytesMax")
    func helloRoundTrip() throws {
        let longChain = try ChainID(String(repeating: "a", count: 50))
        let value = HandshakeHello(
            chainID: longChain, nodeKey: NetFixture.public1, ephemeralKey: [UInt8](repeating: 5, count: 32),
            challenge: [UInt8](repeating: 6, count: 32))
        #expect(value.encoded.count == PeerLimits.helloBytesMax)
        #expect(try HandshakeHello(decoding: value.encoded) == value)
    }

    @Test("a Hello of another version is refused as unknownVersion")
    func unknownVersion() {
        expectFailure(.unknownVersion, receiving: hello(version: 2))
        expectFailure(.unknownVersion, receiving: hello(version: 0))
    }

    @Test("truncated, padded, empty and misspelled Hellos are refused as malformed")
    func malformedHello() {
        let good = hello()
        expectFailure(.malformedHandshake, receiving: [])
        expectFailure(.malformedHandshake, receiving: Array(good.dropLast()))
        expectFailure(.malformedHandshake, receiving: good + [0])
        var badChain = good
        badChain[2] = UInt8(ascii: "S")  // upper case is not a chain id character
        expectFailure(.malformedHandshake, receiving: badChain)
    }

    @Test("an Auth of the wrong length is refused as malformed")
    func malformedAuth() throws {
        var responder = machine(.responder)
        _ = responder.start()
        guard case .send = try responder.receive(hello()) else {
            Issue.record("expected an Auth to send")
            return
        }
        expectNetworkError(.malformedHandshake) { _ = try responder.receive([UInt8](repeating: 0, count: 63)) }
    }

    @Test("a small-order ephemeral key is refused by the key exchange")
    func smallOrderEphemeral() {
        var bytes = hello()
        let offset = 1 + 1 + NetFixture.chainID.value.utf8.count + 32
        bytes.replaceSubrange(offset..<(offset + 32), with: [UInt8](repeating: 0, count: 32))
        expectFailure(.keyExchangeFailed, receiving: bytes)
    }

    @Test("a Hello presenting this node's own key is refused")
    func ownKey() {
        var handshake = machine(.responder, key: NetFixture.key1)
        _ = handshake.start()
        expectNetworkError(.selfConnection) { _ = try handshake.receive(hello()) }
    }

    @Test("the frame counter stops before it would wrap around")
    func counterLimit() throws {
        let client = X25519KeyPair()
        let server = X25519KeyPair()
        let keys = try client.clientSessionKeys(serverPublicKey: server.publicKey)
        var sender = FrameCipher(keys: keys, sendCounter: UInt64.max - 1)
        _ = try sender.seal([1])
        #expect(sender.sendCounter == UInt64.max)
        expectNetworkError(.counterExhausted) { _ = try sender.seal([2]) }
        var receiver = FrameCipher(keys: keys, receiveCounter: UInt64.max)
        expectNetworkError(.counterExhausted) { _ = try receiver.open([UInt8](repeating: 0, count: 20)) }
    }

    @Test("a message over messageBytesMax is refused by the cipher, and the session goes on")
    func oversizeMessage() throws {
        let pair = try ChannelPair()
        defer { pair.finish() }
        try pair.exchange()
        expectNetworkError(.messageTooLarge) {
            try pair.initiator.writeOutbound([UInt8](repeating: 0, count: PeerLimits.messageBytesMax + 1))
        }
        #expect(pair.initiator.isActive)
        try pair.initiator.writeOutbound([UInt8]([4, 2]))
        try pair.exchange()
        #expect(try pair.responder.readInbound(as: PeerMessage.self)?.payload == [4, 2])
    }

    @Test("the nonce is 16 zero bytes and the big-endian counter")
    func nonceLayout() {
        #expect(FrameCipher.nonce(0) == [UInt8](repeating: 0, count: 24))
        #expect(FrameCipher.nonce(0x0102_0304_0506_0708) == [UInt8](repeating: 0, count: 16) + [1, 2, 3, 4, 5, 6, 7, 8])
    }
}

@Suite("X25519 key exchange and session keys")
struct KeyExchangeTests {
    @Test("client and server derive crossed keys, and seal/open round-trips one way only")
    func agreement() throws {
        let client = X25519KeyPair()
        let server = X25519KeyPair()
        let clientKeys = try client.clientSessionKeys(serverPublicKey: server.publicKey)
        let serverKeys = try server.serverSessionKeys(clientPublicKey: client.publicKey)
        #expect(clientKeys.transmitKeyBytes() == serverKeys.receiveKeyBytes())
        #expect(clientKeys.receiveKeyBytes() == serverKeys.transmitKeyBytes())
        #expect(clientKeys.transmitKeyBytes() != clientKeys.receiveKeyBytes())
        let nonce = [UInt8](repeating: 7, count: AEAD.nonceBytes)
        let sealed = try clientKeys.seal(Array("hello".utf8), nonce: nonce)
        #expect(sealed.count == 5 + AEAD.tagBytes)
        #expect(try serverKeys.open(sealed, nonce: nonce) == Array("hello".utf8))
        #expect(throws: CryptoError.self) { try clientKeys.open(sealed, nonce: nonce) }
        var altered = sealed
        altered[0] ^= 1
        #expect(throws: CryptoError.self) { try serverKeys.open(altered, nonce: nonce) }
        #expect(throws: CryptoError.self) { try serverKeys.open(sealed, nonce: [UInt8](repeating: 8, count: AEAD.nonceBytes)) }
    }

    @Test("seeded key pairs are deterministic; wrong lengths and small-order keys are refused")
    func seedsAndRejections() throws {
        let seed = [UInt8](repeating: 0x11, count: KeyExchange.seedBytes)
        #expect(try X25519KeyPair(seed: seed).publicKey == X25519KeyPair(seed: seed).publicKey)
        #expect(throws: CryptoError.self) { try X25519KeyPair(seed: [1, 2, 3]) }
        let pair = X25519KeyPair()
        #expect(throws: CryptoError.self) { try pair.clientSessionKeys(serverPublicKey: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: CryptoError.self) { try pair.serverSessionKeys(clientPublicKey: [UInt8](repeating: 9, count: 31)) }
        #expect(!pair.description.contains(Hex.encode(seed)))
    }
}
