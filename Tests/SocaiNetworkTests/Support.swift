import Foundation
import NIOCore
import NIOEmbedded
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiNetwork

/// Keys and values shared by the network tests; key 1 and key 2 are docs/FORMAT.md §16.1's.
enum NetFixture {
    static let key1 = try! SigningKey(seed: Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
    static let key2 = try! SigningKey(seed: (1...32).map { UInt8($0) })
    static let key3 = try! SigningKey(seed: [UInt8](repeating: 0x33, count: 32))
    static var public1: PublicKey { PublicKey(of: key1) }
    static var public2: PublicKey { PublicKey(of: key2) }
    static var public3: PublicKey { PublicKey(of: key3) }
    static let chainID = try! ChainID("socai-test")
    static let otherChainID = try! ChainID("socai-other")
}

/// Frames `payload` as the wire does: u32 big-endian length, then the bytes.
func wireFrame(_ payload: [UInt8]) -> [UInt8] {
    var writer = ByteWriter()
    writer.write(UInt32(payload.count))
    writer.writeRaw(payload)
    return writer.bytes
}

/// Asserts that `body` throws a NetworkError with `code`.
func expectNetworkError(
    _ code: NetworkError.Code, _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("no error, expected \(code) \(comment)", sourceLocation: sourceLocation)
    } catch let error as NetworkError {
        #expect(error.code == code, "\(comment): \(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected NetworkError \(code), got \(error) \(comment)", sourceLocation: sourceLocation)
    }
}

/// Two EmbeddedChannels running the real peer pipeline, wired back to back by `pump`.
struct ChannelPair {
    let initiator: EmbeddedChannel
    let responder: EmbeddedChannel

    /// Builds and connects both ends; each sends its Hello at once.
    init(
        initiatorKey: SigningKey = NetFixture.key1, responderKey: SigningKey = NetFixture.key2,
        initiatorChain: ChainID = NetFixture.chainID, responderChain: ChainID = NetFixture.chainID,
        initiatorAllows: Set<PublicKey>? = nil, responderAllows: Set<PublicKey>? = nil, responderRefuses: Set<PublicKey> = [],
        expectedPeer: PublicKey? = nil
    ) throws {
        let responderPublic = PublicKey(of: responderKey)
        let initiatorPublic = PublicKey(of: initiatorKey)
        let expected = expectedPeer ?? responderPublic
        let initiatorHandshake = HandshakeStateMachine(
            role: .initiator, chainID: initiatorChain, nodeKey: initiatorKey,
            allowedPeers: (initiatorAllows ?? [responderPublic]).union([expected]), expectedPeer: expected)
        let responderHandshake = HandshakeStateMachine(
            role: .responder, chainID: responderChain, nodeKey: responderKey,
            allowedPeers: responderAllows ?? [initiatorPublic], refusedPeers: responderRefuses)
        initiator = EmbeddedChannel()
        responder = EmbeddedChannel()
        try PeerPipeline.configure(initiator, handshake: initiatorHandshake, handshakeDeadline: .seconds(5))
        try PeerPipeline.configure(responder, handshake: responderHandshake, handshakeDeadline: .seconds(5))
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 1)
        try initiator.connect(to: address).wait()
        try responder.connect(to: address).wait()
    }

    /// Moves every pending outbound buffer of `from` into `to`, optionally one byte at a
    /// time, passing each through `tamper`. Returns whether anything moved.
    @discardableResult
    static func pump(
        _ from: EmbeddedChannel, _ to: EmbeddedChannel, dripFeed: Bool = false,
        tamper: (inout [UInt8]) -> Void = { _ in }
    ) throws -> Bool {
        var moved = false
        while let buffer = try from.readOutbound(as: ByteBuffer.self) {
            var bytes = Array(buffer.readableBytesView)
            tamper(&bytes)
            moved = true
            if dripFeed {
                for byte in bytes { try to.writeInbound(to.allocator.buffer(bytes: [byte])) }
            } else {
                try to.writeInbound(to.allocator.buffer(bytes: bytes))
            }
        }
        return moved
    }

    /// Pumps both ways until nothing moves (the handshake is two frames each way).
    func exchange(dripFeed: Bool = false) throws {
        var moved = true
        while moved {
            let forward = try Self.pump(initiator, responder, dripFeed: dripFeed)
            let backward = try Self.pump(responder, initiator, dripFeed: dripFeed)
            moved = forward || backward
        }
    }

    func session(_ channel: EmbeddedChannel) throws -> PeerSessionHandler {
        try channel.pipeline.syncOperations.handler(type: PeerSessionHandler.self)
    }

    /// Tears both ends down; errors from already-closed channels are expected.
    func finish() {
        _ = try? initiator.finish()
        _ = try? responder.finish()
    }
}

/// Thread-safe collector of log lines.
final class LogBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [PeerLogRecord] = []

    var log: @Sendable (PeerLogRecord) -> Void {
        { [self] record in
            lock.lock()
            stored.append(record)
            lock.unlock()
        }
    }

    var records: [PeerLogRecord] {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }
}

/// Collects a network's incoming messages in a task, for polling.
actor Inbox {
    private(set) var messages: [PeerMessage] = []

    init(_ stream: AsyncStream<PeerMessage>) {
        // The task ends when the network shuts down and finishes the stream.
        Task { await self.consume(stream) }
    }

    private func consume(_ stream: AsyncStream<PeerMessage>) async {
        for await message in stream { messages.append(message) }
    }

    func payloads(from peer: PublicKey) -> [[UInt8]] {
        messages.filter { $0.peer == peer }.map(\.payload)
    }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass; records an issue on timeout.
@discardableResult
func eventually(
    _ what: String, seconds: Double = 15, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    if await condition() { return true }
    Issue.record("timed out after \(seconds) s waiting for: \(what)", sourceLocation: sourceLocation)
    return false
}
