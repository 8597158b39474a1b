import SocaiCore
import SocaiCrypto
import SocaiNetwork
import Synchronization
import Testing

@testable import SocaiNode

/// A node's incoming messages in two lanes: consensus messages never wait behind gossiped
/// transactions, and a flood of gossip is cut at the lane's bound.
@Suite("Peer message lanes")
struct PeerMessageLanesTests {
    static let peer = PublicKey(of: try! SigningKey(seed: SHA256.hash(Array("lanes peer".utf8))))

    /// Every message kind's encoding, with whether it is transaction gossip.
    static func messagesOfEveryKind() throws -> [(NodeMessage, Bool)] {
        let envelopes = try NodeMessageTests.envelopes(2)
        return [
            (.transaction(envelopes[0]), true),
            (.transactions(envelopes), true),
            (.status(height: 9), false),
            (.blockRequest(fromHeight: 3, countMax: 4), false),
            (.vote(Vote(type: .prevote, height: 5, round: 0, blockID: .zero, validator: peer)), false),
        ]
    }

    @Test("only transaction and transactions messages count as gossip, by their kind byte")
    func classifiesByKind() throws {
        for (message, isGossip) in try Self.messagesOfEveryKind() {
            #expect(NodeMessage.isTransactionGossip(message.canonicalBytes) == isGossip, "\(message)")
        }
        // Proposals, evidence and block responses: kinds 1, 4 and 7, whatever follows.
        for kind: UInt8 in [1, 4, 7] { #expect(!NodeMessage.isTransactionGossip([kind, 0, 0])) }
        #expect(!NodeMessage.isTransactionGossip([]))
    }

    @Test("a vote behind a flood of gossip is delivered at once, and the flood is cut at the lane's bound")
    func consensusOvertakesGossip() async throws {
        let (messages, input) = AsyncStream.makeStream(of: PeerMessage.self)
        let batch = NodeMessage.transactions(try NodeMessageTests.envelopes(1)).canonicalBytes
        let vote = NodeMessage.vote(Vote(type: .precommit, height: 5, round: 1, blockID: .zero, validator: Self.peer))
        let gossipCount = 300
        for index in 0..<gossipCount {
            // Each batch is told apart by a byte past the end of its transaction.
            input.yield(PeerMessage(peer: Self.peer, payload: batch + [UInt8(truncatingIfNeeded: index)]))
        }
        input.yield(PeerMessage(peer: Self.peer, payload: vote.canonicalBytes))
        input.finish()

        let dropped = Atomic<Int>(0)
        let lanes = PeerMessageLanes(
            messages, gossipQueuedMax: 256, consensusQueuedMax: 8, gossipDropped: { dropped.add(1, ordering: .relaxed) },
            consensusDropped: { Issue.record("a consensus message was dropped") })
        // Nothing has read the gossip lane, yet the vote is there, and then the lane ends.
        var consensus: [[UInt8]] = []
        for await message in lanes.consensus { consensus.append(message.payload) }
        #expect(consensus == [vote.canonicalBytes])
        await lanes.router.value
        #expect(dropped.load(ordering: .relaxed) == gossipCount - 256)

        // The gossip lane kept the first 256 batches, in order.
        var kept: [UInt8] = []
        for await message in lanes.gossip {
            #expect(message.payload.dropLast() == batch[...])
            kept.append(message.payload.last!)
        }
        #expect(kept == (0..<256).map { UInt8($0) })
    }

    @Test("a full consensus lane keeps the newest messages and counts the ones it drops")
    func consensusLaneKeepsNewest() async {
        let (messages, input) = AsyncStream.makeStream(of: PeerMessage.self)
        for height in 1...10 {
            input.yield(PeerMessage(peer: Self.peer, payload: NodeMessage.status(height: UInt64(height)).canonicalBytes))
        }
        input.finish()
        let dropped = Atomic<Int>(0)
        let lanes = PeerMessageLanes(
            messages, gossipQueuedMax: 4, consensusQueuedMax: 3, gossipDropped: { Issue.record("no gossip was sent") },
            consensusDropped: { dropped.add(1, ordering: .relaxed) })
        await lanes.router.value
        var kept: [NodeMessage] = []
        for await message in lanes.consensus { kept.append(try! NodeMessage(canonicalBytes: message.payload)) }
        #expect(kept == [.status(height: 8), .status(height: 9), .status(height: 10)])
        #expect(dropped.load(ordering: .relaxed) == 7)
    }

    @Test("cancelling the router ends both lanes")
    func cancellationEndsLanes() async {
        let (messages, _) = AsyncStream.makeStream(of: PeerMessage.self)
        let lanes = PeerMessageLanes(messages, gossipQueuedMax: 4, consensusQueuedMax: 4, gossipDropped: {}, consensusDropped: {})
        lanes.router.cancel()
        for await _ in lanes.consensus { Issue.record("a cancelled router delivered a message") }
        for await _ in lanes.gossip { Issue.record("a cancelled router delivered a message") }
        await lanes.router.value
    }
}
