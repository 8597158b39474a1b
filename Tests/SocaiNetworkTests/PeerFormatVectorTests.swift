import Foundation
import SocaiCore
import SocaiCrypto
import SocaiFormatDocument
import Testing

@testable import SocaiNetwork

/// Recomputes every vector of the "Peer handshake and frames" section of docs/FORMAT.md
/// (its ```peer-vectors block) by running two real handshake state machines with fixed
/// ephemeral seeds and challenges, and compares them byte for byte.
@Suite("docs/FORMAT.md peer handshake vectors")
struct PeerFormatVectorTests {
    static let initiatorEphemeralSeed = [UInt8](repeating: 0x11, count: 32)
    static let initiatorChallenge = [UInt8](repeating: 0x22, count: 32)
    static let responderEphemeralSeed = [UInt8](repeating: 0x55, count: 32)
    static let responderChallenge = [UInt8](repeating: 0x44, count: 32)

    static func computed() throws -> [String: [UInt8]] {
        let initiatorEphemeral = try X25519KeyPair(seed: initiatorEphemeralSeed)
        let responderEphemeral = try X25519KeyPair(seed: responderEphemeralSeed)
        var initiator = HandshakeStateMachine(
            role: .initiator, chainID: NetFixture.chainID, nodeKey: NetFixture.key1, allowedPeers: [NetFixture.public2],
            expectedPeer: NetFixture.public2, ephemeral: initiatorEphemeral, challenge: initiatorChallenge)
        var responder = HandshakeStateMachine(
            role: .responder, chainID: NetFixture.chainID, nodeKey: NetFixture.key2, allowedPeers: [NetFixture.public1],
            ephemeral: try X25519KeyPair(seed: responderEphemeralSeed), challenge: responderChallenge)
        let initiatorHello = initiator.start()
        let responderHello = responder.start()
        guard case .send(let initiatorAuth) = try initiator.receive(responderHello),
            case .send(let responderAuth) = try responder.receive(initiatorHello),
            case .established(let initiatorOutcome) = try initiator.receive(responderAuth),
            case .established(let responderOutcome) = try responder.receive(initiatorAuth)
        else {
            throw NetworkError(.malformedHandshake, "the fixed handshake did not complete")
        }
        var initiatorCipher = initiatorOutcome.cipher
        var responderCipher = responderOutcome.cipher
        let sessionKeys = try initiatorEphemeral.clientSessionKeys(serverPublicKey: responderEphemeral.publicKey)
        var vectors: [String: [UInt8]] = [:]
        vectors["peer_tag_handshake"] = HandshakeTag.bytes
        vectors["peer_initiator_ephemeral_key"] = initiatorEphemeral.publicKey
        vectors["peer_responder_ephemeral_key"] = responderEphemeral.publicKey
        vectors["peer_hello_initiator"] = initiatorHello
        vectors["peer_hello_responder"] = responderHello
        vectors["peer_auth_signing_bytes_initiator"] = handshakeSigningBytes(
            chainID: NetFixture.chainID, ownEphemeralKey: initiatorEphemeral.publicKey,
            peerEphemeralKey: responderEphemeral.publicKey, peerChallenge: responderChallenge)
        vectors["peer_auth_initiator"] = initiatorAuth
        vectors["peer_auth_signing_bytes_responder"] = handshakeSigningBytes(
            chainID: NetFixture.chainID, ownEphemeralKey: responderEphemeral.publicKey,
            peerEphemeralKey: initiatorEphemeral.publicKey, peerChallenge: initiatorChallenge)
        vectors["peer_auth_responder"] = responderAuth
        vectors["peer_key_initiator_to_responder"] = sessionKeys.transmitKeyBytes()
        vectors["peer_key_responder_to_initiator"] = sessionKeys.receiveKeyBytes()
        vectors["peer_frame_nonce_1"] = FrameCipher.nonce(1)
        vectors["peer_frame_initiator_0"] = wireFrame(try initiatorCipher.seal(Array("prevote".utf8)))
        vectors["peer_frame_initiator_1"] = wireFrame(try initiatorCipher.seal(Array("precommit".utf8)))
        vectors["peer_frame_responder_0"] = wireFrame(try responderCipher.seal(Array("prevote".utf8)))
        return vectors
    }

    /// The ```peer-vectors block of docs/FORMAT.md by name; records every malformed line.
    static func documentVectors() throws -> [String: String] {
        let parsed = FormatDocument.vectors(try FormatDocument.text(), info: "peer-vectors")
        for problem in parsed.problems { Issue.record(Comment(rawValue: problem)) }
        return parsed.values
    }

    @Test("FORMAT.md lists exactly the computed peer vectors, and each matches")
    func vectorsMatch() throws {
        let computed = try Self.computed()
        let document = try Self.documentVectors()
        if ProcessInfo.processInfo.environment["SOCAI_PRINT_PEER_VECTORS"] != nil {
            for (name, bytes) in computed.sorted(by: { $0.key < $1.key }) { print("\(name): \(Hex.encode(bytes))") }
        }
        #expect(Set(document.keys) == Set(computed.keys))
        for (name, bytes) in computed.sorted(by: { $0.key < $1.key }) {
            #expect(document[name] == Hex.encode(bytes), "vector \(name)")
        }
    }

    @Test("the handshake tag is not a prefix of any chain tag, nor any chain tag of it")
    func tagIsSeparate() {
        for tag in DomainTag.all {
            let shorter = min(tag.bytes.count, HandshakeTag.bytes.count)
            #expect(tag.bytes.prefix(shorter) != HandshakeTag.bytes.prefix(shorter))
        }
        #expect(HandshakeTag.bytes.last == 0 && HandshakeTag.bytes.dropLast().allSatisfy { $0 != 0 })
    }

    @Test("the peer limits in FORMAT.md are the code's")
    func limitsMatch() throws {
        let text = try FormatDocument.text()
        let expected: [(String, String)] = [
            ("PeerLimits.messageBytesMax", "\(PeerLimits.messageBytesMax)"),
            ("PeerLimits.frameBytesMax", "\(PeerLimits.frameBytesMax)"),
            ("PeerLimits.helloBytesMax", "\(PeerLimits.helloBytesMax)"),
            ("PeerLimits.authBytes", "\(PeerLimits.authBytes)"),
            ("PeerLimits.handshakeFrameBytesMax", "\(PeerLimits.handshakeFrameBytesMax)"),
            ("PeerLimits.handshakeDeadlineMilliseconds", "\(PeerLimits.handshakeDeadlineMilliseconds)"),
        ]
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| `PeerLimits.") }
        for (name, value) in expected {
            guard let row = rows.first(where: { $0.hasPrefix("| `\(name)` |") }) else {
                Issue.record("FORMAT.md has no row for \(name)")
                continue
            }
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells.count >= 2 && cells[1] == value, "\(name): FORMAT.md says \(cells.count >= 2 ? cells[1] : "?")")
        }
    }
}
