import SocaiConsensus
import SocaiCore
import Testing

/// Each rule of Algorithm 1 in isolation, on one machine among four equal validators
/// (three votes are a quorum, two are more than a third).
@Suite struct ConsensusRuleTests {
    static let blockA = TestSupport.block("a")
    static let blockB = TestSupport.block("b")

    static func timeout(_ kind: Timeout.Kind, round: UInt32, height: UInt64 = 1) -> Timeout {
        Timeout(kind: kind, height: height, round: round)
    }

    /// Round 0 with the proposer's `block`: validated, prevoted by this validator and by two
    /// others, so this validator locks on it and precommits it.
    static func lockInRoundZero(_ harness: inout Harness, on block: Hash) {
        harness.drive(.proposal(harness.proposal(from: harness.proposer(0), round: 0, block)))
        harness.drive(.blockValidity(height: 1, blockID: block, isValid: true))
        harness.votes(.prevote, from: Array(harness.others().prefix(2)), round: 0, block)
    }

    /// Ends `round` by nil precommits from two others (with this validator's own precommit, a
    /// quorum of any precommits) and the precommit timeout.
    static func endRound(_ harness: inout Harness, _ round: UInt32) {
        harness.votes(.precommit, from: Array(harness.others().prefix(2)), round: round, nil)
        harness.drive(.timeout(timeout(.precommit, round: round)))
    }

    /// A round with no proposal in which the three others prevote `block` (a polka this
    /// validator sees without locking), this validator prevotes and precommits nil, and the
    /// round ends.
    static func polkaWithoutProposal(_ harness: inout Harness, round: UInt32, for block: Hash) {
        harness.votes(.prevote, from: harness.others(), round: round, block)
        harness.drive(.timeout(timeout(.propose, round: round)))
        harness.drive(.timeout(timeout(.prevote, round: round)))
        endRound(&harness, round)
    }

    // MARK: StartRound

    @Test func nonProposerStartsByWaitingForTheProposal() {
        let harness = Harness(me: Harness.nonProposer(rounds: [0]))
        #expect(harness.log == [.scheduleTimeout(Self.timeout(.propose, round: 0), afterMilliseconds: 1000)])
        #expect(harness.machine.height == 1 && harness.machine.round == 0 && harness.machine.step == .propose)
    }

    @Test func proposerAsksForAValueProposesItAndPrevotesItsOwnProposal() {
        let me = Harness.proposerIndex(round: 0)
        var harness = Harness(me: me)
        #expect(
            harness.log == [
                .requestProposalValue(height: 1, round: 0),
                .scheduleTimeout(Self.timeout(.propose, round: 0), afterMilliseconds: 1000),
            ])
        let proposed = harness.feed(.proposalValue(height: 1, round: 0, blockID: Self.blockA))
        #expect(
            proposed == [
                .signProposal(
                    Proposal(height: 1, round: 0, validRound: nil, blockID: Self.blockA, proposer: TestSupport.publicKey(me)))
            ])
        let prevoted = harness.signAndFeedBack(proposed)
        #expect(
            prevoted.votesToSign == [
                Vote(type: .prevote, height: 1, round: 0, blockID: Self.blockA, validator: TestSupport.publicKey(me))
            ])
        #expect(prevoted.validations.isEmpty, "its own block needs no validation")
        // A second value for the same round is refused: one proposal per round.
        #expect(harness.feed(.proposalValue(height: 1, round: 0, blockID: Self.blockB)).isEmpty)
        #expect(harness.machine.counters.ignoredEvents == 1)
    }

    @Test func proposerReproposesItsValidValueWithItsValidRound() {
        let me = Harness.proposerIndex(round: 1)
        var harness = Harness(me: me)
        Self.lockInRoundZero(&harness, on: Self.blockA)
        #expect(harness.machine.validBlockID == Self.blockA && harness.machine.validRound == 0)
        harness.votes(.precommit, from: Array(harness.others().prefix(2)), round: 0, nil)
        let actions = harness.feed(.timeout(Self.timeout(.precommit, round: 0)))
        #expect(actions.valueRequests.isEmpty)
        #expect(
            actions.proposalsToSign == [
                Proposal(height: 1, round: 1, validRound: 0, blockID: Self.blockA, proposer: TestSupport.publicKey(me))
            ])
    }

    // MARK: Lines 22-27

    @Test func validProposalGetsAPrevote() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let asked = harness.feed(.proposal(harness.proposal(from: harness.proposer(0), round: 0, Self.blockA)))
        #expect(asked == [.validateBlock(height: 1, blockID: Self.blockA)])
        #expect(harness.machine.step == .propose, "no prevote before the application answers")
        let actions = harness.feed(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        #expect(actions.votesToSign.map(\.blockID) == [Self.blockA])
        #expect(harness.machine.step == .prevote)
    }

    @Test func invalidProposalGetsANilPrevote() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        harness.feed(.proposal(harness.proposal(from: harness.proposer(0), round: 0, Self.blockA)))
        let actions = harness.feed(.blockValidity(height: 1, blockID: Self.blockA, isValid: false))
        #expect(actions.votesToSign.count == 1 && actions.votesToSign[0].blockID == nil)
    }

    @Test func lockedValidatorPrevotesNilForAnotherValueWithoutValidRound() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0, 1]))
        Self.lockInRoundZero(&harness, on: Self.blockA)
        #expect(harness.machine.lockedBlockID == Self.blockA && harness.machine.lockedRound == 0)
        Self.endRound(&harness, 0)
        #expect(harness.machine.round == 1)
        harness.drive(.proposal(harness.proposal(from: harness.proposer(1), round: 1, Self.blockB)))
        let actions = harness.drive(.blockValidity(height: 1, blockID: Self.blockB, isValid: true))
        #expect(actions.votesToSign.map(\.blockID) == [nil])
        #expect(harness.machine.lockedBlockID == Self.blockA)
    }

    @Test func lockedValidatorPrevotesItsLockedValueAgain() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0, 1]))
        Self.lockInRoundZero(&harness, on: Self.blockA)
        Self.endRound(&harness, 0)
        let actions = harness.drive(.proposal(harness.proposal(from: harness.proposer(1), round: 1, Self.blockA)))
        #expect(actions.votesToSign.first?.blockID == Self.blockA, "validity is remembered within the height")
    }

    // MARK: Lines 28-33

    @Test func polkaInALaterRoundUnlocks() {
        let me = Harness.proposerIndex(round: 3)  // proposes none of rounds 0-2
        var harness = Harness(me: me)
        Self.lockInRoundZero(&harness, on: Self.blockA)
        Self.endRound(&harness, 0)
        Self.polkaWithoutProposal(&harness, round: 1, for: Self.blockB)
        #expect(harness.machine.round == 2 && harness.machine.lockedBlockID == Self.blockA)
        // Round 2 re-proposes B with valid round 1; this validator saw that polka, and its
        // lock (round 0) is older, so it prevotes B.
        harness.drive(.proposal(harness.proposal(from: harness.proposer(2), round: 2, validRound: 1, Self.blockB)))
        let actions = harness.drive(.blockValidity(height: 1, blockID: Self.blockB, isValid: true))
        #expect(actions.votesToSign.first.map { $0.round == 2 && $0.blockID == Self.blockB } == true)
        // And it locks on B once the others' prevotes arrive.
        harness.votes(.prevote, from: Array(harness.others().prefix(2)), round: 2, Self.blockB)
        #expect(harness.machine.lockedBlockID == Self.blockB && harness.machine.lockedRound == 2)
    }

    @Test func validRoundWithoutItsPolkaWaitsForTheTimeout() {
        var harness = Harness(me: Harness.proposerIndex(round: 3))
        Self.lockInRoundZero(&harness, on: Self.blockA)
        Self.endRound(&harness, 0)
        harness.drive(.timeout(Self.timeout(.propose, round: 1)))
        harness.votes(.prevote, from: Array(harness.others().prefix(2)), round: 1, nil)  // nil polka: precommit nil
        Self.endRound(&harness, 1)
        #expect(harness.machine.round == 2)
        harness.drive(.proposal(harness.proposal(from: harness.proposer(2), round: 2, validRound: 1, Self.blockB)))
        let actions = harness.drive(.blockValidity(height: 1, blockID: Self.blockB, isValid: true))
        #expect(actions.votesToSign.isEmpty, "no polka for B in round 1 was seen")
        let timedOut = harness.drive(.timeout(Self.timeout(.propose, round: 2)))
        #expect(timedOut.votesToSign.first.map { $0.round == 2 && $0.blockID == nil } == true)
    }

    @Test func lockNewerThanTheValidRoundHolds() {
        var harness = Harness(me: Harness.proposerIndex(round: 3))
        Self.polkaWithoutProposal(&harness, round: 0, for: Self.blockB)
        // Round 1: lock on A.
        harness.drive(.proposal(harness.proposal(from: harness.proposer(1), round: 1, Self.blockA)))
        harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        harness.votes(.prevote, from: Array(harness.others().prefix(2)), round: 1, Self.blockA)
        #expect(harness.machine.lockedRound == 1)
        Self.endRound(&harness, 1)
        // Round 2 proposes B with valid round 0: a polka exists, but the lock is newer.
        harness.drive(.proposal(harness.proposal(from: harness.proposer(2), round: 2, validRound: 0, Self.blockB)))
        let actions = harness.drive(.blockValidity(height: 1, blockID: Self.blockB, isValid: true))
        #expect(actions.votesToSign.map(\.blockID) == [nil])
    }

    // MARK: Lines 34-35, 36-43, 44-46

    @Test func quorumOfMixedPrevotesStartsThePrevoteTimeoutOnce() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        harness.drive(.timeout(Self.timeout(.propose, round: 0)))
        let others = harness.others()
        harness.drive(.vote(harness.vote(.prevote, from: others[0], round: 0, Self.blockA)))
        let actions = harness.drive(.vote(harness.vote(.prevote, from: others[1], round: 0, Self.blockB)))
        #expect(actions == [.scheduleTimeout(Self.timeout(.prevote, round: 0), afterMilliseconds: 500)])
        let more = harness.drive(.vote(harness.vote(.prevote, from: others[2], round: 0, Self.blockB)))
        #expect(more.timeouts.isEmpty)
        let expired = harness.drive(.timeout(Self.timeout(.prevote, round: 0)))
        #expect(expired.votesToSign.map { "\($0.type) \(String(describing: $0.blockID))" } == ["precommit nil"])
    }

    @Test func polkaForTheProposalLocksAndPrecommits() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        harness.drive(.proposal(harness.proposal(from: harness.proposer(0), round: 0, Self.blockA)))
        harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        let actions = harness.votes(.prevote, from: Array(harness.others().prefix(2)), round: 0, Self.blockA)
        #expect(actions.votesToSign.map(\.type) == [.precommit])
        #expect(actions.votesToSign.first?.blockID == Self.blockA)
        #expect(harness.machine.lockedBlockID == Self.blockA && harness.machine.lockedRound == 0)
        #expect(harness.machine.validBlockID == Self.blockA && harness.machine.validRound == 0)
        #expect(harness.machine.step == .precommit)
    }

    @Test func polkaSeenAfterPrecommittingNilUpdatesOnlyTheValidValue() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let others = harness.others()
        harness.drive(.timeout(Self.timeout(.propose, round: 0)))
        harness.votes(.prevote, from: [others[0], others[1]], round: 0, Self.blockA)
        harness.drive(.timeout(Self.timeout(.prevote, round: 0)))
        #expect(harness.machine.step == .precommit)
        harness.drive(.proposal(harness.proposal(from: harness.proposer(0), round: 0, Self.blockA)))
        harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        let actions = harness.votes(.prevote, from: [others[2]], round: 0, Self.blockA)
        #expect(actions.votesToSign.isEmpty)
        #expect(harness.machine.validBlockID == Self.blockA && harness.machine.validRound == 0)
        #expect(harness.machine.lockedBlockID == nil && harness.machine.lockedRound == nil)
    }

    @Test func polkaForAnInvalidProposalDoesNotLock() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        harness.drive(.timeout(Self.timeout(.propose, round: 0)))
        harness.drive(.proposal(harness.proposal(from: harness.proposer(0), round: 0, Self.blockA)))
        harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: false))
        harness.votes(.prevote, from: harness.others(), round: 0, Self.blockA)
        #expect(harness.machine.lockedBlockID == nil && harness.machine.validBlockID == nil)
        #expect(harness.machine.step == .prevote)
    }

    @Test func nilPolkaPrecommitsNil() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        harness.drive(.timeout(Self.timeout(.propose, round: 0)))
        let actions = harness.votes(.prevote, from: Array(harness.others().prefix(2)), round: 0, nil)
        #expect(actions.votesToSign.map { "\($0.type) \(String(describing: $0.blockID))" } == ["precommit nil"])
        #expect(harness.machine.step == .precommit && harness.machine.lockedRound == nil)
    }

    // MARK: Lines 47-48, 49-54, 65-67

    @Test func quorumOfMixedPrecommitsStartsThePrecommitTimeoutThenTheNextRound() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0, 1]))
        let others = harness.others()
        harness.drive(.vote(harness.vote(.precommit, from: others[0], round: 0, Self.blockA)))
        harness.drive(.vote(harness.vote(.precommit, from: others[1], round: 0, nil)))
        let actions = harness.drive(.vote(harness.vote(.precommit, from: others[2], round: 0, Self.blockB)))
        #expect(actions.timeouts == [Self.timeout(.precommit, round: 0)])
        #expect(actions.timeoutDurations == [500])
        let next = harness.drive(.timeout(Self.timeout(.precommit, round: 0)))
        #expect(harness.machine.round == 1 && harness.machine.step == .propose)
        #expect(next == [.scheduleTimeout(Self.timeout(.propose, round: 1), afterMilliseconds: 1500)])
    }

    @Test func quorumOfPrecommitsForAValidBlockDecides() throws {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let others = harness.others()
        let asked = harness.votes(.precommit, from: others, round: 0, Self.blockA)
        #expect(asked.validations == [Self.blockA], "no proposal was seen, so the application is asked")
        #expect(asked.commits.isEmpty)
        let decided = harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        let commit = try #require(decided.commits.first)
        #expect(commit.height == 1 && commit.blockID == Self.blockA && commit.certificate.round == 0)
        #expect(commit.certificate.signatures.map(\.validator) == others.map(TestSupport.publicKey).sorted())
        try commit.certificate.verify(chainID: TestSupport.chainID, validatorSet: harness.set)
        #expect(harness.machine.decision?.blockID == Self.blockA)
        // Decided: later messages and timeouts change nothing until the driver starts height 2.
        #expect(harness.drive(.vote(harness.vote(.prevote, from: others[0], round: 1, Self.blockB))).isEmpty)
        #expect(harness.drive(.timeout(Self.timeout(.propose, round: 0))).isEmpty)
        #expect(harness.machine.counters.droppedAfterDecision == 1)
        let next = harness.drive(.start(height: 2, validatorSet: harness.set))
        #expect(harness.machine.height == 2 && harness.machine.decision == nil && !next.timeouts.isEmpty)
    }

    @Test func decisionInAnEarlierRoundStillCounts() throws {
        var harness = Harness(me: Harness.nonProposer(rounds: [0, 1]))
        let others = harness.others()
        harness.drive(.timeout(Self.timeout(.propose, round: 0)))
        harness.drive(.timeout(Self.timeout(.prevote, round: 0)))  // precommit nil
        harness.votes(.precommit, from: [others[0], others[1]], round: 0, Self.blockA)
        harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))  // nobody asked: ignored
        harness.drive(.timeout(Self.timeout(.precommit, round: 0)))
        #expect(harness.machine.round == 1 && harness.machine.decision == nil)
        // The third round-0 precommit for A arrives late: line 49 holds for any round.
        let asked = harness.votes(.precommit, from: [others[2]], round: 0, Self.blockA)
        #expect(asked.validations == [Self.blockA])
        let decided = harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        #expect(decided.commits.first.map { $0.blockID == Self.blockA && $0.certificate.round == 0 } == true)
    }

    @Test func quorumOfPrecommitsForAnInvalidBlockDoesNotDecide() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        harness.votes(.precommit, from: harness.others(), round: 0, Self.blockA)
        let actions = harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: false))
        #expect(actions.commits.isEmpty && harness.machine.decision == nil)
    }

    @Test func certificateFromOutsideDecidesALaggingNode() throws {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let precommits = harness.others().map { harness.vote(.precommit, from: $0, round: 7, Self.blockA) }
        let certificate = try CommitCertificate(precommits: precommits)
        let asked = harness.drive(.certificate(certificate))
        #expect(asked.validations == [Self.blockA])
        let decided = harness.drive(.blockValidity(height: 1, blockID: Self.blockA, isValid: true))
        #expect(decided.commits.first?.certificate == certificate)
    }

    @Test func forgedOrWeakCertificatesAreDropped() throws {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        let others = harness.others()
        let weak = try CommitCertificate(
            precommits: others.prefix(2).map { harness.vote(.precommit, from: $0, round: 0, Self.blockA) })
        #expect(harness.drive(.certificate(weak)).isEmpty)
        var forged = others.map { harness.vote(.precommit, from: $0, round: 0, Self.blockA) }
        forged[0].signature = forged[1].signature
        #expect(harness.drive(.certificate(try CommitCertificate(precommits: forged))).isEmpty)
        #expect(harness.machine.counters.droppedInvalidCertificate == 2)
    }

    // MARK: Line 55

    @Test func messagesFromMoreThanAThirdInAHigherRoundSkipToIt() {
        // Three equal validators: one is exactly a third (not enough), two are more.
        let powers: [UInt64] = [1, 1, 1]
        var harness = Harness(powers: powers, me: Harness.nonProposer(powers: powers, rounds: [0, 3]))
        let others = harness.others()
        let first = harness.drive(.vote(harness.vote(.prevote, from: others[0], round: 3, Self.blockA)))
        #expect(first.isEmpty && harness.machine.round == 0)
        let second = harness.drive(.vote(harness.vote(.precommit, from: others[1], round: 3, nil)))
        #expect(harness.machine.round == 3 && harness.machine.step == .propose)
        #expect(second == [.scheduleTimeout(Self.timeout(.propose, round: 3), afterMilliseconds: 1000 + 3 * 500)])
    }

    @Test func roundSkipCountsPowerNotHeads() {
        // Powers 5, 1, 1, 1 (total 8): the heavy validator alone is more than a third.
        let powers: [UInt64] = [5, 1, 1, 1]
        var harness = Harness(powers: powers, me: 1)
        harness.drive(.vote(harness.vote(.prevote, from: 2, round: 2, nil)))
        harness.drive(.vote(harness.vote(.prevote, from: 3, round: 2, nil)))
        #expect(harness.machine.round == 0, "two of eight is not more than a third")
        harness.drive(.vote(harness.vote(.prevote, from: 0, round: 4, nil)))
        #expect(harness.machine.round == 4)
    }

    @Test func aNodeFarBehindJumpsPastTheWindowOfStoredRounds() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0, 25]))
        let others = harness.others()
        harness.drive(.vote(harness.vote(.precommit, from: others[0], round: 40, nil)))
        var forged = harness.vote(.prevote, from: others[1], round: 30, nil)
        forged.round = 31
        harness.drive(.vote(forged))
        #expect(harness.machine.round == 0, "one validator is not more than a third; a forged vote counts for nothing")
        #expect(harness.machine.counters.droppedInvalidSignature == 1)
        let actions = harness.drive(.vote(harness.vote(.prevote, from: others[1], round: 25, nil)))
        // Validators holding half the power have reached round 25 or later.
        #expect(harness.machine.round == 25 && harness.machine.storedRounds.isEmpty)
        #expect(actions.timeouts == [Self.timeout(.propose, round: 25)])
        #expect(harness.machine.counters.droppedRoundOutOfWindow == 2)
    }

    // MARK: Timeouts

    @Test func proposeTimeoutPrevotesNilAndStaleTimeoutsAreIgnored() {
        var harness = Harness(me: Harness.nonProposer(rounds: [0]))
        #expect(harness.drive(.timeout(Self.timeout(.propose, round: 1))).isEmpty)
        #expect(harness.drive(.timeout(Self.timeout(.propose, round: 0, height: 2))).isEmpty)
        #expect(harness.drive(.timeout(Self.timeout(.prevote, round: 0))).isEmpty)
        #expect(harness.machine.counters.ignoredEvents == 3)
        let actions = harness.drive(.timeout(Self.timeout(.propose, round: 0)))
        #expect(actions.votesToSign.map { "\($0.type) \(String(describing: $0.blockID))" } == ["prevote nil"])
        #expect(harness.drive(.timeout(Self.timeout(.propose, round: 0))).isEmpty, "one prevote per round")
    }

    @Test func timeoutsGrowLinearlyAndSaturate() {
        let configuration = ConsensusConfiguration()
        #expect(configuration.timeoutMilliseconds(.propose, round: 0) == 1000)
        #expect(configuration.timeoutMilliseconds(.propose, round: 4) == 3000)
        #expect(configuration.timeoutMilliseconds(.prevote, round: 2) == 1000)
        #expect(configuration.timeoutMilliseconds(.precommit, round: 3) == 1250)
        let huge = ConsensusConfiguration(timeoutProposeDeltaMilliseconds: UInt64.max / 2)
        #expect(huge.timeoutMilliseconds(.propose, round: 5) == UInt64.max)
    }

    @Test func configurationsThatLeaveNoRoomAreRefused() {
        #expect(throws: ConsensusError.self) {
            try ConsensusMachine(
                chainID: TestSupport.chainID, validatorKey: nil,
                configuration: ConsensusConfiguration(futureRoundsMax: 10, roundsStoredMax: 13))
        }
        #expect(throws: ConsensusError.self) {
            try ConsensusConfiguration(timeoutPrevoteMilliseconds: 0).validate()
        }
    }
}
