import Foundation
import SocaiCore
import SocaiCrypto
import SocaiNetwork
import Testing

@testable import SocaiNode

/// A validator cuts off a peer whose messages are bad — a vote whose signature does not
/// verify, bytes that are no message — and keeps the peers that behave.
@Suite(.serialized) struct PeerMisbehaviorTests {
    /// Ports in BlockSyncTests' range for this process (15000–19999), past the 60 it uses:
    /// the two suites may run at once.
    static func portBase() -> Int { BlockSyncTests.portBase() + 60 }

    /// Starts validator 1 of four and a scripted peer with validator 2's key, sends `bad`
    /// (made from validator 2's key and the chain id) from the scripted peer, and expects the
    /// validator to disconnect it naming `reason`.
    func expectDisconnect(
        portOffset: Int, reason: String, bad: (SigningKey, ChainID) throws -> [UInt8]
    ) async throws {
        let directory = TemporaryDirectory()
        var generator = LocalnetGenerator(
            chainID: try ChainID("socai-misbehave"), validatorCount: 4, genesisTimeMilliseconds: 1)
        generator.peerPortBase = Self.portBase() + portOffset
        generator.apiPortBase = Self.portBase() + portOffset + 10
        let written = try generator.write(
            genesisPath: directory.path + "/genesis.json", nodesDirectory: directory.path + "/nodes", overwrite: false)
        let homes = try written.nodeHomes.map { try NodeHome(path: $0) }
        let logs = BlockSyncTests.LogBox()
        let node = try ValidatorNode(home: homes[0], log: { logs.append($0) })
        try await node.start()
        let peerKey = try homes[1].loadNodeKey()
        let (peer, peerTask) = try BlockSyncTests.scriptedPeer(
            home: homes[1], genesis: written.genesis, syncer: homes[0], claimedHeight: 0, serve: { _, _ in nil },
            store: try homes[1].openBlockStore(genesis: written.genesis), gate: nil)
        try await peer.start()
        defer { peerTask.cancel() }
        try await BlockSyncTests.waitUntil("the scripted peer is connected") {
            await node.network.connectedPeers().contains(PublicKey(of: peerKey))
        }
        // Sent again until it lands: while both sides dial at once, a message can go into the
        // connection the tie-break then closes.
        let message = try bad(peerKey, written.genesis.chainID)
        let nodeKey = PublicKey(of: try homes[0].loadNodeKey())
        try await BlockSyncTests.waitUntil("the validator disconnects the peer") {
            let status = await node.network.statistics().peers.first { $0.publicKey == PublicKey(of: peerKey) }
            if status?.disconnectsForMisbehavior == 1 { return true }
            try? peer.send(message, to: nodeKey)
            try? await Task.sleep(nanoseconds: 150_000_000)
            return false
        }
        #expect(await !node.network.connectedPeers().contains(PublicKey(of: peerKey)))
        #expect(logs.contains(reason), "the disconnection did not name \(reason)")
        await node.stop()
        await peer.shutdown()
    }

    @Test func aVoteWithABadSignatureGetsItsSenderDisconnected() async throws {
        try await expectDisconnect(portOffset: 0, reason: "it sent a vote whose signature does not verify") { key, chainID in
            var vote = Vote(
                type: .prevote, height: 1, round: 0, blockID: Hash.sha256(Array("some block".utf8)),
                validator: PublicKey(of: key))
            vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: key)
            var bytes = vote.signature.bytes
            bytes[7] ^= 0x01
            vote.signature = try Signature(bytes)
            return NodeMessage.vote(vote).canonicalBytes
        }
    }

    @Test func aMalformedMessageGetsItsSenderDisconnected() async throws {
        try await expectDisconnect(portOffset: 20, reason: "it sent a malformed message") { _, _ in
            [0xee, 0x01, 0x02, 0x03]
        }
    }
}
