import SocaiConsensus
import SocaiCore
import SocaiHarness
import Testing

/// Equivocation evidence, message authentication, windows and buffers, double-sign
/// protection and crash recovery.
@Suite struct ConsensusSafetyTests {
    static let blockA = TestSupport.block("a")
    static let blockB = TestSupport.block("b")

    // MARK: Evidence

    @Test func conflictingVotesYieldEvidenceOnceAndCountOnlyTheFirst() throws {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let cheater = harness.others()[0]
        let first = harness.vote(.prevote, from: cheater, round: 0, Self.blockB)
        let second = harness.vote(.prevote, from: cheater, round: 0, Self.blockA)
        #expect(harness.drive(.vote(first)).isEmpty)
        let reported = harness.drive(.vote(second))
        let evidence = try #require(reported.evidence.first)
        #expect(reported.evidence.count == 1)
        #expect(Set([evidence.voteA, evidence.voteB]) == Set([first, second]))
        try evidence.verify(chainID: TestSupport.chainID, validatorSet: harness.set)
        // A third vote (nil) from the same validator: no second report.
        let third = harness.vote(.prevote, from: cheater, round: 0, nil)
        #expect(harness.drive(.vote(third)).evidence.isEmpty)
        #expect(harness.machine.votes(round: 0, type: .prevote) == [first, second, third])
        #expect(harness.machine.detectedEvidence == [evidence])
        #expect(harness.machine.counters.equivocatingVotes == 2)
        // The same validator's precommits are a different vote set: no evidence from one vote.
        #expect(harness.drive(.vote(harness.vote(.precommit, from: cheater, round: 0, Self.blockA))).evidence.isEmpty)
    }

    @Test func equivocatorCountsOnceTowardTheQuorumOfAnyVotes() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let others = harness.others()
        harness.drive(.timeout(Timeout(kind: .propose, height: 1, round: 0)))  // own prevote: nil
        harness.drive(.vote(harness.vote(.prevote, from: others[0], round: 0, Self.blockA)))
        let doubled = harness.drive(.vote(harness.vote(.prevote, from: others[0], round: 0, Self.blockB)))
        #expect(doubled.timeouts.isEmpty, "two validators voted, whatever the number of votes")
        let third = harness.drive(.vote(harness.vote(.prevote, from: others[1], round: 0, Self.blockA)))
        #expect(third.timeouts == [Timeout(kind: .prevote, height: 1, round: 0)])
        #expect(harness.machine.step == .prevote, "no value has a quorum")
    }

    @Test func polkaIncludingAnEquivocatorsSecondVoteIsSeen() {
        // Whichever of the equivocator's votes arrives first, every correct validator that
        // received both sees the same polka: otherwise views diverge and a lock can stall.
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let others = harness.others(excluding: [harness.proposer(0)])
        harness.drive(.proposal(harness.proposal(from: harness.proposer(0), round: 0, Self.blockA)))
        harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))  // own prevote: A
        harness.drive(.vote(harness.vote(.prevote, from: others[0], round: 0, nil)))
        harness.drive(.vote(harness.vote(.prevote, from: others[0], round: 0, Self.blockA)))
        let actions = harness.drive(.vote(harness.vote(.prevote, from: harness.proposer(0), round: 0, Self.blockA)))
        #expect(actions.votesToSign.map(\.type) == [.precommit])
        #expect(harness.machine.lockedBlockID == Self.blockA)
    }

    @Test func evidenceIsBoundedPerHeight() {
        var harness = Harness(
            me: Harness.nonProposer(rounds: [0]), configuration: ConsensusConfiguration(evidencePerHeightMax: 1))
        let others = harness.others()
        for cheater in others.prefix(2) {
            harness.drive(.vote(harness.vote(.prevote, from: cheater, round: 0, Self.blockA)))
            harness.drive(.vote(harness.vote(.prevote, from: cheater, round: 0, Self.blockB)))
        }
        #expect(harness.log.evidence.count == 1 && harness.machine.counters.evidenceOverLimit == 1)
    }

    // MARK: Authentication

    @Test func badSignaturesAndStrangersAreDroppedAndCounted() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let other = harness.others()[0]
        var forged = harness.vote(.prevote, from: other, round: 0, Self.blockA)
        forged.signature = harness.vote(.prevote, from: other, round: 0, Self.blockB).signature
        #expect(harness.drive(.vote(forged)).isEmpty)
        let otherChain = TestSupport.signed(
            Vote(type: .prevote, height: 1, round: 0, blockID: Self.blockA, validator: TestSupport.publicKey(other)),
            with: TestSupport.keys[other], chainID: TestSupport.otherChainID)
        #expect(harness.drive(.vote(otherChain)).isEmpty)
        // A prevote's signature does not make a precommit (distinct signing domains).
        var retyped = harness.vote(.prevote, from: other, round: 0, Self.blockA)
        retyped.type = .precommit
        #expect(harness.drive(.vote(retyped)).isEmpty)
        #expect(harness.machine.counters.droppedInvalidSignature == 3)
        #expect(harness.drive(.vote(harness.vote(.prevote, from: 9, round: 0, Self.blockA))).isEmpty)
        #expect(harness.machine.counters.droppedNotValidator == 1)
        #expect(harness.machine.votes(round: 0, type: .prevote).isEmpty && harness.machine.counters.votesAccepted == 0)
    }

    @Test func proposalsMustComeSignedFromTheRoundsProposer() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let proposer = harness.proposer(0)
        let impostor = harness.others(excluding: [proposer])[0]
        #expect(harness.drive(.proposal(harness.proposal(from: impostor, round: 0, Self.blockA))).isEmpty)
        #expect(harness.machine.counters.droppedWrongProposer == 1)
        var forged = harness.proposal(from: proposer, round: 0, Self.blockA)
        forged.blockID = Self.blockB
        #expect(harness.drive(.proposal(forged)).isEmpty)
        #expect(harness.machine.counters.droppedInvalidSignature == 1)
        var malformed = harness.proposal(from: proposer, round: 0, Self.blockA)
        malformed.validRound = 0
        #expect(harness.drive(.proposal(malformed)).isEmpty)
        #expect(harness.machine.counters.droppedMalformed == 1 && harness.machine.proposal(round: 0) == nil)
    }

    @Test func aSecondProposalForTheRoundIsIgnored() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let proposer = harness.proposer(0)
        harness.drive(.proposal(harness.proposal(from: proposer, round: 0, Self.blockA)))
        #expect(harness.drive(.proposal(harness.proposal(from: proposer, round: 0, Self.blockB))).isEmpty)
        harness.drive(.proposal(harness.proposal(from: proposer, round: 0, Self.blockA)))
        #expect(harness.machine.counters.droppedConflictingProposal == 1 && harness.machine.counters.droppedDuplicate == 1)
        #expect(harness.machine.proposal(round: 0)?.blockID == Self.blockA)
    }

    // MARK: Windows and buffers

    @Test func roundsBeyondTheWindowAndOtherHeightsAreDropped() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]), height: 5)
        let other = harness.others()[0]
        harness.drive(.vote(harness.vote(.prevote, from: other, round: 11, nil)))
        #expect(harness.machine.counters.droppedRoundOutOfWindow == 1)
        harness.drive(.vote(harness.vote(.prevote, from: other, round: 10, nil)))
        #expect(harness.machine.votes(round: 10, type: .prevote).count == 1)
        harness.drive(.vote(harness.vote(.prevote, from: other, round: 0, nil, height: 4)))
        harness.drive(.vote(harness.vote(.prevote, from: other, round: 0, nil, height: 7)))
        #expect(harness.machine.counters.droppedWrongHeight == 2)
    }

    @Test func nextHeightMessagesWaitForTheStartAndAreVerifiedThen() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let others = harness.others()
        let early = harness.vote(.prevote, from: others[0], round: 0, Self.blockA, height: 2)
        var forged = harness.vote(.prevote, from: others[1], round: 0, Self.blockA, height: 2)
        forged.signature = early.signature
        harness.drive(.vote(early))
        harness.drive(.vote(early))
        harness.drive(.vote(forged))
        #expect(harness.machine.counters.droppedDuplicate == 1)
        harness.drive(.start(height: 2, validatorSet: harness.set))
        #expect(harness.machine.votes(round: 0, type: .prevote) == [early])
        #expect(harness.machine.counters.droppedInvalidSignature == 1)
    }

    @Test func nextHeightBufferIsBounded() {
        var harness = Harness(
            me: Harness.nonProposer(rounds: [0]), configuration: ConsensusConfiguration(nextHeightMessagesMax: 2))
        for round in UInt32(0)..<3 {
            harness.drive(.vote(harness.vote(.prevote, from: harness.others()[0], round: round, nil, height: 2)))
        }
        #expect(harness.machine.counters.droppedBufferFull == 1)
    }

    @Test func storedRoundsAreBoundedAndKeepTheLock() {
        let configuration = ConsensusConfiguration(futureRoundsMax: 1, roundsStoredMax: 5)
        var harness = Harness(me: Harness.nonProposer(rounds: [0]), configuration: configuration)
        Self.lockAtRoundZero(&harness)
        for round in UInt32(1)...12 {
            // Two validators in the next round are more than a third: skip there.
            for other in harness.others().prefix(2) {
                harness.drive(.vote(harness.vote(.prevote, from: other, round: round, nil)))
            }
            #expect(harness.machine.round == round)
            // Old rounds' votes arrive late and are stored, evicting older ones.
            harness.drive(.vote(harness.vote(.precommit, from: harness.others()[2], round: round - 1, nil)))
            #expect(harness.machine.storedRounds.count <= 5)
        }
        #expect(harness.machine.storedRounds.contains(0), "the locked round's polka is kept")
        #expect(harness.machine.storedRounds.contains(12))
        #expect(harness.machine.lockedRound == 0)
    }

    static func lockAtRoundZero(_ harness: inout Harness) {
        harness.drive(.proposal(harness.proposal(from: harness.proposer(0), round: 0, blockA)))
        harness.drive(.blockValidity(height: 1, blockID: blockA, isValid: true))
        harness.votes(.prevote, from: Array(harness.others().prefix(2)), round: 0, blockA)
    }

    // MARK: Signing discipline

    @Test func eachStepIsSignedAtMostOnce() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let proposal = harness.proposal(from: harness.proposer(0), round: 0, Self.blockA)
        harness.drive(.proposal(proposal))
        harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        #expect(harness.drive(.timeout(Timeout(kind: .propose, height: 1, round: 0))).isEmpty)
        #expect(harness.drive(.proposal(proposal)).isEmpty)
        #expect(harness.log.votesToSign.count == 1)
        #expect(harness.machine.lastSigned == SignedStep(round: 0, kind: .prevote))
    }

    /// Random events, including contradictory ones, never make the machine sign two
    /// messages for one step, and its lock and valid round stay consistent.
    @Test(arguments: 0..<24)
    func randomEventsNeverCauseADoubleSignature(seed: Int) {
        var random = SimulationRandom(seed: UInt64(seed) &* 0x9e37_79b9)
        let me = Int(random.below(4))
        var harness = Harness(me: me)
        let blocks = [Self.blockA, Self.blockB, TestSupport.block("c")]
        var signed: [UInt64: [SignedStep]] = [:]
        for _ in 0..<250 {
            let round = UInt32(random.below(4))
            let event: ConsensusEvent
            switch random.below(12) {
            case 0...5:
                let other = harness.others()[Int(random.below(3))]
                let blockID = random.below(4) == 0 ? nil : blocks[Int(random.below(3))]
                event = .vote(harness.vote(random.below(2) == 0 ? .prevote : .precommit, from: other, round: round, blockID))
            case 6:
                let proposer = harness.proposer(round)
                let validRound = round > 0 && random.below(2) == 0 ? UInt32(random.below(UInt64(round))) : nil
                event = .proposal(
                    harness.proposal(from: proposer, round: round, validRound: validRound, blocks[Int(random.below(3))]))
            case 7, 8:
                let kinds: [Timeout.Kind] = [.propose, .prevote, .precommit]
                event = .timeout(Timeout(kind: kinds[Int(random.below(3))], height: 1, round: harness.machine.round))
            case 9, 10:
                event = .blockValidity(height: 1, blockID: blocks[Int(random.below(3))], isValid: random.below(4) != 0)
            default:
                event = .proposalValue(height: 1, round: harness.machine.round, blockID: blocks[Int(random.below(3))])
            }
            for action in harness.drive(event) {
                switch action {
                case .signVote(let vote):
                    signed[vote.height, default: []].append(SignedStep(round: vote.round, voteType: vote.type))
                case .signProposal(let proposal):
                    signed[proposal.height, default: []].append(SignedStep(round: proposal.round, kind: .proposal))
                default: break
                }
            }
            let machine = harness.machine
            #expect((machine.lockedRound == nil) == (machine.lockedBlockID == nil))
            if let lockedRound = machine.lockedRound { #expect(machine.validRound.map { lockedRound <= $0 } == true) }
            if machine.decision != nil { break }
        }
        for steps in signed.values {
            #expect(zip(steps, steps.dropFirst()).allSatisfy { $0 < $1 }, "seed \(seed): signed steps \(steps)")
        }
    }

    // MARK: Crash recovery

    @Test func resumingFromACheckpointNeverSignsTheSameStepAgain() throws {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let proposal = harness.proposal(from: harness.proposer(0), round: 0, Self.blockA)
        harness.drive(.proposal(proposal))
        harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        let checkpoint = harness.machine.checkpoint
        #expect(checkpoint.lastSigned == SignedStep(round: 0, kind: .prevote))

        var restarted = Harness(me: harness.me, start: false)
        let resumed = try restarted.machine.resume(from: checkpoint, validatorSet: restarted.set)
        #expect(resumed.votesToSign.isEmpty && restarted.machine.step == .prevote)
        restarted.drive(.proposal(proposal))
        let afterProposal = restarted.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        #expect(afterProposal.votesToSign.isEmpty, "the prevote was signed before the crash")
        let others = restarted.others()
        let locked = restarted.votes(.prevote, from: others, round: 0, Self.blockA)
        #expect(locked.votesToSign.map(\.type) == [.precommit], "the next step is still allowed")
    }

    @Test func resumingKeepsTheLock() throws {
        let me = Harness.nonProposer(rounds: [0, 1])
        var restarted = Harness(me: me, start: false)
        let checkpoint = ConsensusCheckpoint(
            height: 1, round: 1, lockedRound: 0, lockedBlockID: Self.blockA, validRound: 0, validBlockID: Self.blockA,
            lastSigned: SignedStep(round: 0, kind: .precommit))
        let resumed = try restarted.machine.resume(from: checkpoint, validatorSet: restarted.set)
        #expect(resumed.timeouts == [Timeout(kind: .propose, height: 1, round: 1)])
        restarted.drive(.proposal(restarted.proposal(from: restarted.proposer(1), round: 1, Self.blockB)))
        let actions = restarted.drive(.blockValidity(height: 1, blockID: Self.blockB, isValid: true))
        #expect(actions.votesToSign.map(\.blockID) == [nil])
    }

    @Test func inconsistentCheckpointsAreRefused() {
        var machine = try! ConsensusMachine(chainID: TestSupport.chainID, validatorKey: TestSupport.publicKey(0))
        let set = TestSupport.validatorSet(powers: [1, 1, 1, 1])
        let lockWithoutBlock = ConsensusCheckpoint(
            height: 1, round: 1, lockedRound: 0, lockedBlockID: nil, validRound: nil, validBlockID: nil, lastSigned: nil)
        #expect(throws: ConsensusError.self) { try machine.resume(from: lockWithoutBlock, validatorSet: set) }
        let lockNewerThanValid = ConsensusCheckpoint(
            height: 1, round: 3, lockedRound: 2, lockedBlockID: TestSupport.block("a"), validRound: 1,
            validBlockID: TestSupport.block("a"), lastSigned: nil)
        #expect(throws: ConsensusError.self) { try machine.resume(from: lockNewerThanValid, validatorSet: set) }
        let heightZero = ConsensusCheckpoint(
            height: 0, round: 0, lockedRound: nil, lockedBlockID: nil, validRound: nil, validBlockID: nil, lastSigned: nil)
        #expect(throws: ConsensusError.self) { try machine.resume(from: heightZero, validatorSet: set) }
        #expect(machine.height == 0)
    }

    @Test func resumingStartsAtTheHighestRoundTheCheckpointNames() throws {
        // A driver recorded the round of the prevote it was signing, with the machine's lock
        // from later in the same event.
        let me = Harness.nonProposer(rounds: [0, 1, 2])
        var restarted = Harness(me: me, start: false)
        let checkpoint = ConsensusCheckpoint(
            height: 1, round: 1, lockedRound: 2, lockedBlockID: Self.blockA, validRound: 2, validBlockID: Self.blockA,
            lastSigned: SignedStep(round: 1, kind: .prevote))
        _ = try restarted.machine.resume(from: checkpoint, validatorSet: restarted.set)
        #expect(restarted.machine.round == 2 && restarted.machine.step == .propose)
        #expect(restarted.machine.lockedRound == 2)
    }

    // MARK: Followers

    @Test func aNodeOutsideTheSetFollowsWithoutSigning() throws {
        var follower = Harness(me: 0, observer: true)
        #expect(follower.log.valueRequests.isEmpty)
        follower.drive(.proposal(follower.proposal(from: follower.proposer(0), round: 0, Self.blockA)))
        follower.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        for index in 0..<3 { follower.drive(.vote(follower.vote(.prevote, from: index, round: 0, Self.blockA))) }
        for index in 0..<3 { follower.drive(.vote(follower.vote(.precommit, from: index, round: 0, Self.blockA))) }
        #expect(follower.log.votesToSign.isEmpty && follower.log.proposalsToSign.isEmpty)
        #expect(follower.log.commits.first?.blockID == Self.blockA)
    }
}
