import Foundation
import SocaiCore
import SocaiCrypto
import SocaiNetwork
import SocaiStore
import Testing

@testable import SocaiNode

/// Block sync against real peer links on loopback: three validators make a chain, then a
/// fourth, new node syncs it from two scripted peers — one that lies about its height and
/// serves a tampered block, and an honest one that serves the stored chain.
@Suite(.serialized) struct BlockSyncTests {
    /// Blocks the three honest validators commit before the new node joins.
    static let chainHeight: UInt64 = 4
    /// Longest any step may take before the test gives up.
    static let stepSecondsMax = 60.0

    final class LogBox: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) {
            lock.lock()
            lines.append(line)
            lock.unlock()
        }
        func contains(_ text: String) -> Bool {
            lock.lock()
            defer { lock.unlock() }
            return lines.contains { $0.contains(text) }
        }
    }

    /// A flag the test flips to let the honest peer start answering.
    final class Gate: @unchecked Sendable {
        private let lock = NSLock()
        private var isOpen = false
        func open() {
            lock.lock()
            isOpen = true
            lock.unlock()
        }
        var opened: Bool {
            lock.lock()
            defer { lock.unlock() }
            return isOpen
        }
    }

    /// Ports unlikely to collide with other test processes on this machine, in 15000–19999:
    /// below Linux's ephemeral range (32768–60999), where the test process's own outgoing
    /// connections and the free-port finder draw theirs, and below PeerNetworkTests'
    /// 20000–32767. LocalnetProcessTests, in the same test process, takes 10000–14999.
    static func portBase() -> Int { 15_000 + Int(getpid() % 250) * 20 }

    static func waitUntil(_ what: String, _ condition: () async -> Bool) async throws {
        let start = Date()
        while !(await condition()) {
            guard Date().timeIntervalSince(start) < stepSecondsMax else {
                Issue.record("timed out waiting until \(what)")
                throw CancellationError()
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// A scripted peer speaking the real protocol with a validator's key: it announces
    /// `claimedHeight` and answers block requests from `store`, through `serve`.
    static func scriptedPeer(
        home: NodeHome, genesis: Genesis, syncer: NodeHome, claimedHeight: UInt64,
        serve: @escaping @Sendable (Block, CommitCertificate) -> (Block, CommitCertificate)?, store: BlockStore,
        gate: Gate?
    ) throws -> (PeerNetwork, Task<Void, Never>) {
        let syncerKey = PublicKey(of: try syncer.loadNodeKey())
        let address = HostPort(home.configuration.peerListenAddress)!
        let network = try PeerNetwork(
            configuration: PeerNetworkConfiguration(
                chainID: genesis.chainID, nodeKey: try home.loadNodeKey(), listenHost: address.host, listenPort: address.port,
                peers: [
                    PeerEndpoint(
                        name: "syncer", publicKey: syncerKey, host: "127.0.0.1",
                        port: HostPort(syncer.configuration.peerListenAddress)!.port)
                ]))
        nonisolated(unsafe) let store = store
        let task = Task {
            for await message in network.messages {
                guard case .blockRequest(let from, let countMax)? = try? NodeMessage(canonicalBytes: message.payload),
                    gate?.opened ?? true
                else { continue }
                var height = from
                while height < from + UInt64(countMax), let stored = try? store.block(at: height),
                    let (block, commit) = serve(stored.block, stored.commit)
                {
                    try? network.send(NodeMessage.blockResponse(block, commit).canonicalBytes, to: message.peer)
                    height += 1
                }
            }
        }
        // Announce the height now and then, as real nodes do.
        let announcer = Task {
            while !Task.isCancelled {
                try? network.broadcast(NodeMessage.status(height: claimedHeight).canonicalBytes)
                try? await Task.sleep(nanoseconds: 200_000_000)
            }
        }
        return (
            network,
            Task {
                await task.value
                announcer.cancel()
            }
        )
    }

    @Test func syncsPastAPeerThatServesABadBlockAndIsNotReadyWhileBehind() async throws {
        let directory = TemporaryDirectory()
        var generator = LocalnetGenerator(chainID: try ChainID("socai-sync"), validatorCount: 4, genesisTimeMilliseconds: 1)
        generator.peerPortBase = Self.portBase()
        generator.apiPortBase = Self.portBase() + 10
        let written = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let homes = try written.nodeHomes.map { try NodeHome(path: $0) }
        let logs = LogBox()

        // Validators 2, 3 and 4 hold 3/4 of the power: they commit a chain on their own.
        var producers: [ValidatorNode] = []
        for index in 1...3 {
            let node = try ValidatorNode(home: homes[index], log: { logs.append("node\(index + 1) \($0)") })
            try await node.start()
            producers.append(node)
        }
        try await Self.waitUntil("the three validators reach height \(Self.chainHeight)") {
            for node in producers where await node.status().height < Self.chainHeight { return false }
            return true
        }
        for node in producers { await node.stop() }
        let source = try homes[1].openBlockStore(genesis: written.genesis)
        let served = source.height
        #expect(served >= Self.chainHeight)

        // The liar claims more blocks than exist and serves block 2 with a transaction added,
        // so the certificate no longer names it. The honest peer waits for the gate.
        let gate = Gate()
        let (liar, liarTask) = try Self.scriptedPeer(
            home: homes[2], genesis: written.genesis, syncer: homes[0], claimedHeight: served + 5,
            serve: { block, commit in
                guard block.header.height == 2 else { return (block, commit) }
                var tampered = block
                tampered.header.timeMilliseconds += 1
                return (tampered, commit)
            }, store: source, gate: nil)
        let (honest, honestTask) = try Self.scriptedPeer(
            home: homes[1], genesis: written.genesis, syncer: homes[0], claimedHeight: served, serve: { ($0, $1) },
            store: source, gate: gate)
        try await liar.start()
        try await honest.start()
        defer {
            liarTask.cancel()
            honestTask.cancel()
        }

        let syncer = try ValidatorNode(home: homes[0], log: { logs.append("node1 \($0)") })
        try await syncer.start()
        // Behind its peers, the node says it is not ready.
        try await Self.waitUntil("the new node reports it is syncing") { await syncer.status().syncing }
        #expect(await syncer.isReady() == false)
        try await Self.waitUntil("the new node distrusts the peer that served a bad block") {
            logs.contains("served an invalid block 2")
        }
        gate.open()
        try await Self.waitUntil("the new node reaches height \(served)") { await syncer.status().height >= served }
        // The liar's claimed height no longer counts once it is distrusted: the node is ready.
        try await Self.waitUntil("the new node is ready") { await syncer.isReady() }

        let status = await syncer.status()
        for height in 1...served {
            let synced = try await syncer.block(at: height)
            let original = try source.block(at: height)
            #expect(synced?.0.hash == original?.block.hash, "block \(height) differs from the producers' chain")
        }
        #expect(status.stateRoot == (try source.block(at: served)?.block.header.stateRoot.hex))
        await syncer.stop()
        await liar.shutdown()
        await honest.shutdown()
    }
}
