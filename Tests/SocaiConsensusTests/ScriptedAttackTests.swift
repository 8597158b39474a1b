import SocaiConsensus
import SocaiCore
import Testing

/// Three real machines and a scripted Byzantine fourth validator, with every delivery chosen
/// by the test: the schedules random simulation reaches only rarely.
struct Cluster {
    let set = TestSupport.validatorSet(powers: [1, 1, 1, 1])
    var machines: [Int: ConsensusMachine] = [:]
    /// Every message each honest validator signed, in order.
    var sent: [Int: [ConsensusEvent]] = [:]
    var commits: [Int: Hash] = [:]
    /// Blocks the application accepts.
    var validBlocks: Set<Hash> = []

    init(honest: [Int]) {
        for index in honest {
            machines[index] = try! ConsensusMachine(chainID: TestSupport.chainID, validatorKey: TestSupport.publicKey(index))
            sent[index] = []
        }
        for index in honest { feed(index, .start(height: 1, validatorSet: set)) }
    }

    static func proposer(round: UInt32) -> Int { Harness.proposerIndex(round: round) }

    /// Hands `event` to `node`; answers validity at once, signs what it asks to sign and feeds
    /// it back, and records commits. Timeouts are not fired: the script fires them.
    mutating func feed(_ node: Int, _ event: ConsensusEvent) {
        var pending = [event]
        while !pending.isEmpty {
            let actions = machines[node]!.handle(pending.removeFirst())
            for action in actions {
                switch action {
                case .signVote(let vote):
                    let signed = ConsensusEvent.vote(TestSupport.signed(vote, with: TestSupport.keys[node]))
                    sent[node]!.append(signed)
                    pending.append(signed)
                case .signProposal(let proposal):
                    let signed = ConsensusEvent.proposal(TestSupport.signed(proposal, with: TestSupport.keys[node]))
                    sent[node]!.append(signed)
                    pending.append(signed)
                case .validateBlock(let height, let blockID):
                    pending.append(.blockValidity(height: height, blockID: blockID, isValid: validBlocks.contains(blockID)))
                case .requestProposalValue(let height, let round):
                    let blockID = TestSupport.block("node\(node)-round\(round)")
                    validBlocks.insert(blockID)
                    pending.append(.proposalValue(height: height, round: round, blockID: blockID))
                case .commit(_, let blockID, _):
                    commits[node] = blockID
                default:
                    break
                }
            }
        }
    }

    mutating func deliver(_ event: ConsensusEvent, to nodes: [Int]) {
        for node in nodes { feed(node, event) }
    }

    /// What `node` signed of `type` in `round`, if anything.
    func votes(of node: Int, _ type: VoteType, round: UInt32) -> [ConsensusEvent] {
        sent[node]!.filter { event in
            if case .vote(let vote) = event { return vote.type == type && vote.round == round }
            return false
        }
    }

    /// What `node` signed of `type` in `round`, which the script knows it signed.
    func vote(of node: Int, _ type: VoteType, round: UInt32) -> ConsensusEvent {
        votes(of: node, type, round: round)[0]
    }

    func timeout(_ kind: Timeout.Kind, round: UInt32) -> ConsensusEvent {
        .timeout(Timeout(kind: kind, height: 1, round: round))
    }
}

@Suite struct ScriptedAttackTests {
    /// The attack a lock defeats. Round 0: the honest proposer's A gets a polka seen by H1 and
    /// H2 (with the Byzantine B's prevote), not by H3; B's precommit for A reaches H1 alone,
    /// so H1 decides A while H2 and H3 move on. Round 1: B proposes a fresh C and prevotes and
    /// precommits it. H3 (unlocked) and B back C, but H2 is locked on A and prevotes nil: no
    /// polka for C, so nobody commits C; once messages flow, everyone commits A.
    @Test func splitBrainAttackFailsBecauseOfTheLock() {
        let proposer0 = Cluster.proposer(round: 0)
        let byzantine = Cluster.proposer(round: 1)
        let honest = [0, 1, 2, 3].filter { $0 != byzantine }
        let others = honest.filter { $0 != proposer0 }
        let (h1, h2, h3) = (proposer0, others[0], others[1])
        var cluster = Cluster(honest: honest)
        let blockC = TestSupport.block("fresh-c")
        cluster.validBlocks.insert(blockC)
        func byzantineVote(_ type: VoteType, round: UInt32, _ blockID: Hash?) -> ConsensusEvent {
            .vote(
                TestSupport.signed(
                    Vote(type: type, height: 1, round: round, blockID: blockID, validator: TestSupport.publicKey(byzantine)),
                    with: TestSupport.keys[byzantine]))
        }

        // Round 0. H1 proposed A (and prevoted it) when the cluster started.
        let proposalA = cluster.sent[h1]!.first!
        guard case .proposal(let proposal) = proposalA else {
            Issue.record("the round-0 proposer signs a proposal first")
            return
        }
        let blockA = proposal.blockID
        cluster.deliver(proposalA, to: [h2])
        cluster.deliver(cluster.timeout(.propose, round: 0), to: [h3])  // H3 never saw A
        cluster.deliver(cluster.vote(of: h1, .prevote, round: 0), to: [h2, h3])
        cluster.deliver(cluster.vote(of: h2, .prevote, round: 0), to: [h1, h3])
        cluster.deliver(byzantineVote(.prevote, round: 0, blockA), to: [h1, h2])
        cluster.deliver(cluster.vote(of: h3, .prevote, round: 0), to: [h1, h2])
        cluster.deliver(cluster.timeout(.prevote, round: 0), to: [h3])  // no polka at H3: precommit nil
        #expect(cluster.machines[h2]!.lockedBlockID == blockA)
        #expect(cluster.machines[h3]!.lockedBlockID == nil)
        cluster.deliver(cluster.vote(of: h1, .precommit, round: 0), to: [h2, h3])
        cluster.deliver(cluster.vote(of: h2, .precommit, round: 0), to: [h1, h3])
        cluster.deliver(cluster.vote(of: h3, .precommit, round: 0), to: [h2])
        cluster.deliver(byzantineVote(.precommit, round: 0, blockA), to: [h1])
        cluster.deliver(byzantineVote(.precommit, round: 0, nil), to: [h2, h3])
        #expect(cluster.commits[h1] == blockA)
        #expect(cluster.commits[h2] == nil && cluster.commits[h3] == nil)
        cluster.deliver(cluster.timeout(.precommit, round: 0), to: [h2, h3])

        // Round 1: B's fresh proposal, backed by B.
        let proposalC = ConsensusEvent.proposal(
            TestSupport.signed(
                Proposal(height: 1, round: 1, validRound: nil, blockID: blockC, proposer: TestSupport.publicKey(byzantine)),
                with: TestSupport.keys[byzantine]))
        cluster.deliver(proposalC, to: [h2, h3])
        cluster.deliver(byzantineVote(.prevote, round: 1, blockC), to: [h2, h3])
        cluster.deliver(cluster.vote(of: h2, .prevote, round: 1), to: [h3])
        cluster.deliver(cluster.vote(of: h3, .prevote, round: 1), to: [h2])
        guard case .vote(let lockedPrevote) = cluster.vote(of: h2, .prevote, round: 1) else { return }
        #expect(lockedPrevote.blockID == nil, "H2 is locked on A")
        for precommit in cluster.votes(of: h2, .precommit, round: 1) { cluster.deliver(precommit, to: [h3]) }
        for precommit in cluster.votes(of: h3, .precommit, round: 1) { cluster.deliver(precommit, to: [h2]) }
        cluster.deliver(byzantineVote(.precommit, round: 1, blockC), to: [h2, h3])
        #expect(cluster.commits[h2] != blockC && cluster.commits[h3] != blockC, "agreement")

        // The network heals: B's round-0 precommit for A reaches everyone.
        cluster.deliver(byzantineVote(.precommit, round: 0, blockA), to: [h2, h3])
        #expect(cluster.commits[h2] == blockA && cluster.commits[h3] == blockA)
    }
}
