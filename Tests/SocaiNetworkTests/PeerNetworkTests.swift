import Foundation
import NIOCore
import NIOPosix
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiNetwork

/// Real TCP on 127.0.0.1. Ports are drawn from 20000–32767, below Linux's ephemeral range
/// (32768–60999), so an outgoing connection of this or another process never holds one and a
/// restarted node can bind its port again; a port that is taken anyway makes the test draw again.
@Suite("PeerNetwork over loopback TCP", .serialized)
struct PeerNetworkTests {
    struct Node {
        let key: SigningKey
        let port: Int
        let network: PeerNetwork
        let inbox: Inbox
        let logs: LogBox
        var publicKey: PublicKey { PublicKey(of: key) }
    }

    static let keys = [NetFixture.key1, NetFixture.key2, NetFixture.key3]

    /// Fast timings so reconnects and deadlines fit in a test.
    static func configuration(
        index: Int, ports: [Int], logs: LogBox, keys: [SigningKey] = keys,
        tune: (inout PeerNetworkConfiguration) -> Void = { _ in }
    ) -> PeerNetworkConfiguration {
        let peers = keys.indices.filter { $0 != index }.map { other in
            PeerEndpoint(name: "node\(other + 1)", publicKey: PublicKey(of: keys[other]), host: "127.0.0.1", port: ports[other])
        }
        var configuration = PeerNetworkConfiguration(
            chainID: NetFixture.chainID, nodeKey: keys[index], listenHost: "127.0.0.1", listenPort: ports[index], peers: peers,
            log: logs.log)
        // Short enough for the silent rogue to be cut off quickly, long enough that a real
        // handshake on a loaded machine (two cores shared with the whole test suite) finishes.
        configuration.handshakeDeadlineMilliseconds = 3_000
        configuration.reconnectDelayMillisecondsMin = 50
        configuration.reconnectDelayMillisecondsMax = 400
        tune(&configuration)
        return configuration
    }

    static func startNode(index: Int, ports: [Int], tune: (inout PeerNetworkConfiguration) -> Void = { _ in }) async throws
        -> Node
    {
        let logs = LogBox()
        let network = try PeerNetwork(configuration: configuration(index: index, ports: ports, logs: logs, tune: tune))
        do {
            try await network.start()
        } catch {
            await network.shutdown()
            throw error
        }
        return Node(key: keys[index], port: ports[index], network: network, inbox: Inbox(network.messages), logs: logs)
    }

    /// Starts three nodes on fresh ports, drawing again (up to 20 times) if a port is taken.
    static func startMesh(tune: (inout PeerNetworkConfiguration) -> Void = { _ in }) async throws -> [Node] {
        for _ in 0..<20 {
            var ports = Set<Int>()
            while ports.count < 3 { ports.insert(Int.random(in: 20_000..<32_768)) }
            let portList = Array(ports)
            var nodes: [Node] = []
            do {
                for index in 0..<3 { nodes.append(try await startNode(index: index, ports: portList, tune: tune)) }
                return nodes
            } catch {
                for node in nodes { await node.network.shutdown() }
                guard (error as? NetworkError)?.code == .bindFailed else { throw error }
            }
        }
        throw NetworkError(.bindFailed, "no free ports found")
    }

    /// Waits until every node has a session with every other and the sessions stop changing
    /// (the duplicate connections of simultaneous dials have been closed).
    static func awaitStableMesh(_ nodes: [Node]) async {
        await eventually("every node connected to every other, stably") {
            var before: [Int] = []
            for node in nodes {
                guard await node.network.connectedPeers().count == nodes.count - 1 else { return false }
                before += await node.network.statistics().peers.map(\.sessionsEstablished)
            }
            try? await Task.sleep(for: .milliseconds(200))
            var after: [Int] = []
            for node in nodes {
                guard await node.network.connectedPeers().count == nodes.count - 1 else { return false }
                after += await node.network.statistics().peers.map(\.sessionsEstablished)
            }
            return before == after
        }
    }

    /// Starts `network`; false (after shutting it down) when its port is taken.
    static func started(_ network: PeerNetwork) async throws -> Bool {
        do {
            try await network.start()
            return true
        } catch {
            await network.shutdown()
            guard error.code == .bindFailed else { throw error }
            return false
        }
    }

    static func shutdown(_ nodes: [Node]) async {
        for node in nodes { await node.network.shutdown() }
    }

    @Test("three nodes connect, send, broadcast; one restarts and the others reconnect to it", .timeLimit(.minutes(1)))
    func meshAndRestart() async throws {
        var nodes = try await Self.startMesh()
        await Self.awaitStableMesh(nodes)

        for (index, node) in nodes.enumerated() {
            try node.network.broadcast(Array("broadcast from \(index)".utf8))
        }
        // A relay skips the peer it came from. One link delivers in order, so once node 2 has
        // the message sent after the relay, the relay would have reached it first.
        try nodes[0].network.broadcast(Array("relayed past 2".utf8), except: nodes[2].publicKey)
        try nodes[0].network.send(Array("after the relay".utf8), to: nodes[2].publicKey)
        await eventually("node 1 hears the relay and node 2 the message after it") {
            let toOne = await nodes[1].inbox.payloads(from: nodes[0].publicKey)
            let toTwo = await nodes[2].inbox.payloads(from: nodes[0].publicKey)
            return toOne.contains(Array("relayed past 2".utf8)) && toTwo.contains(Array("after the relay".utf8))
        }
        #expect(await !nodes[2].inbox.payloads(from: nodes[0].publicKey).contains(Array("relayed past 2".utf8)))
        try nodes[0].network.send(Array("direct 0 to 2".utf8), to: nodes[2].publicKey)
        try nodes[0].network.send([UInt8](repeating: 0xab, count: 3_000_000), to: nodes[1].publicKey)
        for (index, node) in nodes.enumerated() {
            for (otherIndex, other) in nodes.enumerated() where otherIndex != index {
                await eventually("node \(index) hears node \(otherIndex)'s broadcast") {
                    await node.inbox.payloads(from: other.publicKey).contains(Array("broadcast from \(otherIndex)".utf8))
                }
            }
        }
        await eventually("node 2 gets the direct message and node 1 the 3 MB one") {
            let direct = await nodes[2].inbox.payloads(from: nodes[0].publicKey)
            let large = await nodes[1].inbox.payloads(from: nodes[0].publicKey)
            return direct.contains(Array("direct 0 to 2".utf8)) && large.contains { $0.count == 3_000_000 }
        }
        #expect(await nodes[1].inbox.payloads(from: nodes[0].publicKey).filter { $0.count == 3_000_000 }.count == 1)

        // Node 3 goes away; the others notice.
        await nodes[2].network.shutdown()
        for index in 0..<2 {
            await eventually("node \(index) notices node 3 is gone") {
                await !nodes[index].network.connectedPeers().contains(nodes[2].publicKey)
            }
        }
        // Node 3 comes back on the same port with the same key: the others redial it.
        let ports = nodes.map(\.port)
        nodes[2] = try await Self.startNode(index: 2, ports: ports)
        await Self.awaitStableMesh(nodes)
        try nodes[2].network.send(Array("back again".utf8), to: nodes[1].publicKey)
        await eventually("the restarted node is heard") {
            await nodes[1].inbox.payloads(from: nodes[2].publicKey).contains(Array("back again".utf8))
        }
        let statistics = await nodes[0].network.statistics()
        #expect(statistics.connectionsFailed == 0)
        #expect(statistics.peers.allSatisfy { $0.messagesDropped == 0 })
        await Self.shutdown(nodes)
    }

    @Test(
        "a peer disconnected for misbehaving is refused for the refusal period, then let back; others are unaffected",
        .timeLimit(.minutes(1)))
    func misbehavingPeerIsRefusedForAWhile() async throws {
        let refusalMilliseconds: Int64 = 1_500
        let nodes = try await Self.startMesh { $0.misbehaviorRefusalMilliseconds = refusalMilliseconds }
        await Self.awaitStableMesh(nodes)
        let (accuser, accused, bystander) = (nodes[0], nodes[1], nodes[2])
        let cutAt = ContinuousClock.now
        accuser.network.disconnect(accused.publicKey, reason: "it sent a vote whose signature does not verify")
        await eventually("the accuser drops the accused") {
            await !accuser.network.connectedPeers().contains(accused.publicKey)
        }
        #expect(
            accuser.logs.records.contains {
                $0.message == "disconnecting node2 for 1500 ms: it sent a vote whose signature does not verify"
            })
        // The accused keeps redialing (every 400 ms at most); each session is closed at once.
        try await Task.sleep(for: .milliseconds(refusalMilliseconds / 2))
        if ContinuousClock.now - cutAt < .milliseconds(refusalMilliseconds) {
            #expect(await !accuser.network.connectedPeers().contains(accused.publicKey))
        }
        #expect(await accuser.network.connectedPeers().contains(bystander.publicKey))
        #expect(await accused.network.connectedPeers().contains(bystander.publicKey))
        try accuser.network.send(Array("still here".utf8), to: bystander.publicKey)
        await eventually("the bystander still hears the accuser") {
            await bystander.inbox.payloads(from: accuser.publicKey).contains(Array("still here".utf8))
        }
        // After the refusal the two reconnect.
        await eventually("the accused is let back after the refusal", seconds: 10) {
            await accuser.network.connectedPeers().contains(accused.publicKey)
        }
        #expect(ContinuousClock.now - cutAt >= .milliseconds(refusalMilliseconds))
        let status = await accuser.network.statistics().peers.first { $0.publicKey == accused.publicKey }
        #expect(status?.disconnectsForMisbehavior == 1)
        await Self.shutdown(nodes)
    }

    @Test("rogue clients (garbage, silence, a stranger's key) are cut off; the mesh is unaffected", .timeLimit(.minutes(1)))
    func rogueClients() async throws {
        let nodes = try await Self.startMesh()
        await Self.awaitStableMesh(nodes)
        let target = nodes[0]
        let before = await target.network.statistics().peers.map(\.sessionsEstablished)
        let failedBefore = await target.network.statistics().connectionsFailed

        // Garbage: an HTTP request. Silence: nothing at all (the 3 s deadline). Stranger: a
        // well-formed Hello from a key that is not configured.
        let stranger = HandshakeHello(
            chainID: NetFixture.chainID, nodeKey: PublicKey(of: SigningKey()), ephemeralKey: X25519KeyPair().publicKey,
            challenge: SecureRandom.bytes(count: 32))
        let probes: [[UInt8]] = [Array("GET / HTTP/1.1\r\nHost: socai\r\n\r\n".utf8), [], wireFrame(stranger.encoded)]
        let group = MultiThreadedEventLoopGroup.singleton
        var rogues: [Channel] = []
        for bytes in probes {
            let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: target.port).get()
            if !bytes.isEmpty { try await channel.writeAndFlush(channel.allocator.buffer(bytes: bytes)).get() }
            rogues.append(channel)
        }
        for (index, rogue) in rogues.enumerated() {
            await eventually("rogue \(index) is disconnected by the node", seconds: 10) { !rogue.isActive }
        }
        await eventually("each rogue is logged with its error") {
            let codes = target.logs.records.compactMap { $0.error?.code }
            return codes.contains(.frameTooLarge) && codes.contains(.handshakeTimeout) && codes.contains(.unknownPeer)
        }
        #expect(target.logs.records.filter { $0.error != nil }.allSatisfy { $0.level == .warning })

        // The real peers never noticed.
        #expect(await target.network.connectedPeers().count == 2)
        #expect(await target.network.statistics().peers.map(\.sessionsEstablished) == before)
        try nodes[1].network.send(Array("still here".utf8), to: target.publicKey)
        try target.network.send(Array("me too".utf8), to: nodes[2].publicKey)
        await eventually("messages still flow") {
            let first = await target.inbox.payloads(from: nodes[1].publicKey).contains(Array("still here".utf8))
            let second = await nodes[2].inbox.payloads(from: target.publicKey).contains(Array("me too".utf8))
            return first && second
        }
        #expect(await target.network.statistics().connectionsFailed == failedBefore + 3)
        await Self.shutdown(nodes)
    }

    @Test("a full send queue drops its oldest messages and counts them; the rest arrive in order", .timeLimit(.minutes(1)))
    func sendQueueDropsOldest() async throws {
        // Node 1 redials only every 5 s, so the one connection is node 2's, made when it starts
        // (a message written to a duplicate connection that the tie-break closes could be lost).
        let tune: (inout PeerNetworkConfiguration) -> Void = { configuration in
            configuration.sendQueueFramesMax = 3
            configuration.reconnectDelayMillisecondsMin = PeerLimits.reconnectDelayMillisecondsMax
            configuration.reconnectDelayMillisecondsMax = PeerLimits.reconnectDelayMillisecondsMax
        }
        for _ in 0..<20 {
            var drawn = Set<Int>()
            while drawn.count < 2 { drawn.insert(Int.random(in: 20_000..<32_768)) }
            let ports = Array(drawn)
            let keys = Array(Self.keys.prefix(2))
            // Node 1 alone first: node 2 is not up, so everything queues.
            let logs1 = LogBox()
            let first = try PeerNetwork(
                configuration: Self.configuration(index: 0, ports: ports, logs: logs1, keys: keys, tune: tune))
            if !(try await Self.started(first)) { continue }
            for number in 1...5 { try first.send([UInt8(number)], to: NetFixture.public2) }
            await eventually("the queue holds the newest 3 and counted 2 drops") {
                let status = await first.statistics().peers[0]
                return status.queuedMessages == 3 && status.messagesDropped == 2 && status.queuedBytes == 3
            }
            let logs2 = LogBox()
            let second = try PeerNetwork(
                configuration: Self.configuration(index: 1, ports: ports, logs: logs2, keys: keys, tune: tune))
            if !(try await Self.started(second)) {
                await first.shutdown()
                continue
            }
            let inbox = Inbox(second.messages)
            await eventually("the three newest arrive in order") {
                await inbox.payloads(from: NetFixture.public1) == [[3], [4], [5]]
            }
            await first.shutdown()
            await second.shutdown()
            return
        }
        Issue.record("no free ports found")
    }

    @Test("inbound connections beyond pendingInboundConnectionsMax are closed at once", .timeLimit(.minutes(1)))
    func pendingInboundLimit() async throws {
        for _ in 0..<20 {
            let ports = [Int.random(in: 20_000..<26_000), Int.random(in: 26_000..<32_768)]
            let logs = LogBox()
            let network = try PeerNetwork(
                configuration: Self.configuration(index: 0, ports: ports, logs: logs, keys: Array(Self.keys.prefix(2))) {
                    $0.pendingInboundConnectionsMax = 2
                    $0.handshakeDeadlineMilliseconds = 5_000
                })
            guard try await Self.started(network) else { continue }
            var silent: [Channel] = []
            let connected = Date()
            for _ in 0..<3 {
                silent.append(
                    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                        .connect(host: "127.0.0.1", port: ports[0]).get())
            }
            // Each connect finished before the next began, and the kernel's accept queue is
            // first in, first out, so the third is the one refused.
            // The server decides the refusal itself; wait for it rather than for a clock.
            await eventually("the third connection is refused", seconds: 15) {
                await network.statistics().inboundConnectionsRefused == 1
            }
            await eventually("the third connection is closed", seconds: 10) { !silent[2].isActive }
            // The first two stay open until their 5 s handshake deadline; past it, on a machine
            // too loaded to get here sooner, their being closed says nothing.
            if Date().timeIntervalSince(connected) < 4.5 { #expect(silent[0].isActive && silent[1].isActive) }
            #expect(await network.statistics().inboundConnectionsRefused == 1)
            for channel in silent { try? await channel.close() }
            await network.shutdown()
            return
        }
        Issue.record("no free ports found")
    }

    @Test("configurations outside the limits are refused")
    func configurationValidation() throws {
        let logs = LogBox()
        let ports = [20_001, 20_002, 20_003]
        var duplicate = Self.configuration(index: 0, ports: ports, logs: logs)
        duplicate.peers.append(duplicate.peers[0])
        expectNetworkError(.invalidConfiguration) { _ = try PeerNetwork(configuration: duplicate) }
        var own = Self.configuration(index: 0, ports: ports, logs: logs)
        own.peers[0].publicKey = NetFixture.public1
        expectNetworkError(.invalidConfiguration) { _ = try PeerNetwork(configuration: own) }
        var loose = Self.configuration(index: 0, ports: ports, logs: logs)
        loose.handshakeDeadlineMilliseconds = PeerLimits.handshakeDeadlineMilliseconds + 1
        expectNetworkError(.invalidConfiguration) { _ = try PeerNetwork(configuration: loose) }
        var tinyQueue = Self.configuration(index: 0, ports: ports, logs: logs)
        tinyQueue.sendQueueBytesMax = 1_000
        expectNetworkError(.invalidConfiguration) { _ = try PeerNetwork(configuration: tinyQueue) }

        let network = try PeerNetwork(configuration: Self.configuration(index: 0, ports: ports, logs: logs))
        expectNetworkError(.unknownPeer) { try network.send([1], to: NetFixture.public1) }
        expectNetworkError(.messageTooLarge) {
            try network.send([UInt8](repeating: 0, count: PeerLimits.messageBytesMax + 1), to: NetFixture.public2)
        }
    }

    @Test("PeerEndpoint parses configuration entries")
    func endpointParsing() throws {
        let hex = NetFixture.public2.hex
        let endpoint = try PeerEndpoint(name: "node2", publicKeyHex: hex, address: "127.0.0.1:26656")
        #expect(endpoint.host == "127.0.0.1" && endpoint.port == 26656 && endpoint.publicKey == NetFixture.public2)
        #expect(try PeerEndpoint(name: "v6", publicKeyHex: hex, address: "[::1]:7").host == "::1")
        for address in ["127.0.0.1", ":80", "host:0", "host:65536", "host:x"] {
            expectNetworkError(.invalidConfiguration, address) {
                _ = try PeerEndpoint(name: "x", publicKeyHex: hex, address: address)
            }
        }
        expectNetworkError(.invalidConfiguration) { _ = try PeerEndpoint(name: "x", publicKeyHex: "00", address: "a:1") }
    }
}
