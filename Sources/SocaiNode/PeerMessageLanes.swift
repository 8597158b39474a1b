import SocaiNetwork

/// A node's incoming peer messages in two lanes, each in arrival order: gossiped
/// transactions, and everything else (proposals, votes, evidence, status, block sync).
///
/// In one lane a proposal or a vote waited behind every transaction batch that arrived
/// before it, and each batch's signatures are checked one by one before the next message is
/// looked at; under load that put hundreds of milliseconds into each consensus step.
/// CometBFT keeps mempool and consensus traffic on separate channels for the same reason.
/// The router only reads each message's kind byte, so it never falls behind.
///
/// Both lanes are bounded, and each counts what it drops. A full gossip lane drops the
/// newest batch (`gossipDropped`): its transactions still reach every validator in the
/// blocks that carry them. The other lane holds as many messages as the network's own
/// buffer and drops the oldest, as that buffer does (`consensusDropped`); Tendermint
/// recovers lost votes and proposals by regossip.
struct PeerMessageLanes: Sendable {
    /// Proposals, votes, evidence, status and block sync, in arrival order.
    let consensus: AsyncStream<PeerMessage>
    /// `transaction` and `transactions` messages, in arrival order.
    let gossip: AsyncStream<PeerMessage>
    /// Routes messages until `messages` ends or the task is cancelled, then ends both lanes.
    let router: Task<Void, Never>

    /// Starts routing `messages`; at most `gossipQueuedMax` gossip messages and
    /// `consensusQueuedMax` others wait at once.
    init(
        _ messages: AsyncStream<PeerMessage>, gossipQueuedMax: Int, consensusQueuedMax: Int,
        gossipDropped: @escaping @Sendable () -> Void, consensusDropped: @escaping @Sendable () -> Void
    ) {
        precondition(gossipQueuedMax >= 1 && consensusQueuedMax >= 1, "peer message lanes hold at least one message")
        let (consensus, consensusInput) = AsyncStream.makeStream(
            of: PeerMessage.self, bufferingPolicy: .bufferingNewest(consensusQueuedMax))
        let (gossip, gossipInput) = AsyncStream.makeStream(
            of: PeerMessage.self, bufferingPolicy: .bufferingOldest(gossipQueuedMax))
        self.consensus = consensus
        self.gossip = gossip
        router = Task {
            for await message in messages {
                if NodeMessage.isTransactionGossip(message.payload) {
                    if case .dropped = gossipInput.yield(message) { gossipDropped() }
                } else if case .dropped = consensusInput.yield(message) {
                    consensusDropped()
                }
            }
            consensusInput.finish()
            gossipInput.finish()
        }
    }
}
