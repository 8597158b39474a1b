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
    static func portBase() -> Int { 15_000 + Int(getpid() % 50) * 100 }

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
        gate: Gate?, blocksPerReplyMax: UInt64 = .max
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
                while height < from + min(UInt64(countMax), blocksPerReplyMax), let stored = try? store.block(at: height),
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
        // The liar serves block 2 changed after it was certified, so the certificate no
        // longer names it.
        try await syncPastALiar(portOffset: 0, refusal: "the certificate is not for this block") { _ in
            { block, commit in
                guard block.header.height == 2 else { return (block, commit) }
                var tampered = block
                tampered.header.timeMilliseconds += 1
                return (tampered, commit)
            }
        }
    }

    @Test func aCertifiedBlockWhoseProposerIsNotAValidatorIsRefusedBySync() async throws {
        // The liar holds three of the four validators' keys (more than two thirds of the
        // power) and certifies a block 2 that names an outsider as its proposer. It executes to
        // the right state root: only the checks a live proposal passes can refuse it, and
        // accepting it would fork the new node off the chain for good.
        let outsider = PublicKey(of: try SigningKey(seed: SHA256.hash(Array("sync outside proposer".utf8))))
        try await syncPastALiar(portOffset: 20, refusal: "proposer \(outsider) is not in the validator set in force") {
            signers in
            { block, commit in
                guard block.header.height == 2 else { return (block, commit) }
                var forged = block
                forged.header.proposer = outsider
                return (forged, Self.certify(forged, round: commit.round, by: signers))
            }
        }
    }

    @Test func aCertifiedBlockWithEvidenceFromAFutureHeightIsRefusedBySync() async throws {
        // As above, with a certified block 2 carrying valid equivocation evidence for height 9:
        // the auditor refuses such a block, so the node must not take it either.
        try await syncPastALiar(portOffset: 40, refusal: "evidence 0 is for height 9, after the block") { signers in
            { block, commit in
                guard block.header.height == 2 else { return (block, commit) }
                let chainID = block.header.chainID
                let culprit = signers[0]
                func prevote(_ label: String) -> Vote {
                    var vote = Vote(
                        type: .prevote, height: 9, round: 0, blockID: Hash.sha256(Array(label.utf8)),
                        validator: PublicKey(of: culprit))
                    vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: culprit)
                    return vote
                }
                let evidence = try! DuplicateVoteEvidence(prevote("block x"), prevote("block y"))
                var forged = block
                forged.evidence = [evidence]
                forged.header.evidenceRoot = Block.evidenceRoot([evidence])
                return (forged, Self.certify(forged, round: commit.round, by: signers))
            }
        }
    }

    /// A certificate for `block` at `round`, signed by `signers`.
    static func certify(_ block: Block, round: UInt32, by signers: [SigningKey]) -> CommitCertificate {
        let precommits = signers.map { key in
            var vote = Vote(
                type: .precommit, height: block.header.height, round: round, blockID: block.hash,
                validator: PublicKey(of: key))
            vote.signature = Signature(signing: vote.signingBytes(chainID: block.header.chainID), with: key)
            return vote
        }
        return try! CommitCertificate(precommits: precommits)
    }

    @Test func onlyABlockThatBreaksARuleIsBlamedOnItsPeer() {
        #expect(ValidatorNode.blamesPeer(VerificationError(.invalidSignature, "a precommit does not verify")))
        #expect(ValidatorNode.blamesPeer(FormatError(.trailingBytes, "block has trailing bytes")))
        #expect(ValidatorNode.blamesPeer(StoreError(.invalidBlock, "block 3 claims another state root")))
        #expect(ValidatorNode.blamesPeer(StoreError(.brokenLink, "block 3 links elsewhere")))
        // This node's own failures: its disk, its state, its configuration.
        #expect(!ValidatorNode.blamesPeer(StoreError(.database, "disk I/O error")))
        #expect(!ValidatorNode.blamesPeer(StoreError(.corrupt, "state is at height 2, blocks at 3")))
        #expect(!ValidatorNode.blamesPeer(NodeError(.invalid, "no validator set recorded")))
    }

    @Test func anUnansweringSyncPeerWaitsTwiceAsLongEachTimeUpToAMinute() {
        #expect(ValidatorNode.syncBackoffMilliseconds(strikes: 1) == 4_000)
        #expect(ValidatorNode.syncBackoffMilliseconds(strikes: 2) == 8_000)
        #expect(ValidatorNode.syncBackoffMilliseconds(strikes: 3) == 16_000)
        #expect(ValidatorNode.syncBackoffMilliseconds(strikes: 4) == 32_000)
        #expect(ValidatorNode.syncBackoffMilliseconds(strikes: 5) == ValidatorNode.syncBackoffMillisecondsMax)
        #expect(ValidatorNode.syncBackoffMilliseconds(strikes: 1_000) == ValidatorNode.syncBackoffMillisecondsMax)
    }

    @Test func aReplyThatStopsPartWayIsAskedForAgain() async throws {
        // The only peer answers each request with its first block alone (a reply cut short by
        // a dropped connection or a full queue looks the same): the node must ask for the rest
        // rather than wait for blocks that never come.
        let directory = TemporaryDirectory()
        var generator = LocalnetGenerator(chainID: try ChainID("socai-sync"), validatorCount: 4, genesisTimeMilliseconds: 1)
        generator.peerPortBase = Self.portBase()
        generator.apiPortBase = Self.portBase() + 10
        let written = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let homes = try written.nodeHomes.map { try NodeHome(path: $0) }
        let logs = LogBox()
        let source = try await Self.produceChain(homes: homes, genesis: written.genesis, logs: logs)
        let served = source.height
        let (peer, peerTask) = try Self.scriptedPeer(
            home: homes[1], genesis: written.genesis, syncer: homes[0], claimedHeight: served, serve: { ($0, $1) },
            store: source, gate: nil, blocksPerReplyMax: 1)
        try await peer.start()
        defer { peerTask.cancel() }
        let syncer = try ValidatorNode(home: homes[0], log: { logs.append("node1 \($0)") })
        try await syncer.start()
        try await Self.waitUntil("the new node reaches height \(served)") { await syncer.status().height >= served }
        #expect(try await syncer.block(at: served)?.0.hash == (try source.block(at: served)?.block.hash))
        await syncer.stop()
        await peer.shutdown()
    }

    /// Validators 2, 3 and 4 (3/4 of the power) commit `chainHeight` blocks on their own and
    /// stop; returns validator 2's store.
    static func produceChain(homes: [NodeHome], genesis: Genesis, logs: LogBox) async throws -> BlockStore {
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
        let source = try homes[1].openBlockStore(genesis: genesis)
        #expect(source.height >= Self.chainHeight)
        return source
    }

    @Test func aPeerThatClaimsBlocksItNeverServesIsPassedOver() async throws {
        // The liar announces the highest height but answers no request: before, the node
        // asked it again every two seconds for ever and never became ready.
        try await syncPastALiar(portOffset: 0, refusal: nil) { _ in { _, _ in nil } }
    }

    /// Three validators make a chain; a new node syncs it while a liar, whose `serve` the
    /// `liar` closure makes from the three validators' keys, claims more blocks than exist.
    /// With a `refusal`, the liar serves a bad block 2 that the node must refuse, naming
    /// `refusal`; without, it serves nothing and the node must give up asking it. Then an
    /// honest peer serves the chain, and the new node must end on the producers' chain, ready.
    func syncPastALiar(
        portOffset: Int, refusal: String?,
        liar makeServe: ([SigningKey]) -> @Sendable (Block, CommitCertificate) -> (Block, CommitCertificate)?
    ) async throws {
        let directory = TemporaryDirectory()
        var generator = LocalnetGenerator(chainID: try ChainID("socai-sync"), validatorCount: 4, genesisTimeMilliseconds: 1)
        generator.peerPortBase = Self.portBase() + portOffset
        generator.apiPortBase = Self.portBase() + portOffset + 10
        let written = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let homes = try written.nodeHomes.map { try NodeHome(path: $0) }
        let logs = LogBox()

        let source = try await Self.produceChain(homes: homes, genesis: written.genesis, logs: logs)
        let served = source.height

        // The liar claims more blocks than exist and serves a bad block 2. The honest peer
        // waits for the gate.
        let gate = Gate()
        let signers = try homes[1...3].map { try $0.loadNodeKey() }
        let (liar, liarTask) = try Self.scriptedPeer(
            home: homes[2], genesis: written.genesis, syncer: homes[0], claimedHeight: served + 5,
            serve: makeServe(signers), store: source, gate: nil)
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
        if let refusal {
            try await Self.waitUntil("the new node distrusts the peer that served a bad block") {
                logs.contains("served an invalid block 2")
            }
            #expect(logs.contains(refusal), "block 2 was refused for another reason than \(refusal)")
        } else {
            try await Self.waitUntil("the new node passes over the peer that does not answer") {
                logs.contains("did not answer a request for block 1")
            }
        }
        gate.open()
        try await Self.waitUntil("the new node reaches height \(served)") { await syncer.status().height >= served }
        // The liar's claimed height no longer counts once it is distrusted or passed over: the
        // node is ready.
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
