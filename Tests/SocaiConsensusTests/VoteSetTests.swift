import SocaiConsensus
import SocaiCore
import Testing

/// Thresholds over voting power, one slot per validator, conflicts.
@Suite struct VoteSetTests {
    static let blockA = TestSupport.block("a")
    static let blockB = TestSupport.block("b")

    func vote(_ index: Int, _ blockID: Hash?, round: UInt32 = 0, type: VoteType = .prevote) -> Vote {
        TestSupport.signed(
            Vote(type: type, height: 1, round: round, blockID: blockID, validator: TestSupport.publicKey(index)),
            with: TestSupport.keys[index])
    }

    @Test func equalPowersNeedThreeOfFour() {
        var set = VoteSet(height: 1, round: 0, type: .prevote, validatorSet: TestSupport.validatorSet(powers: [1, 1, 1, 1]))
        #expect(set.add(vote(0, Self.blockA)) == .added)
        #expect(set.add(vote(1, Self.blockA)) == .added)
        #expect(!set.hasQuorum(for: Self.blockA) && !set.hasQuorumAny && set.blockWithQuorum == nil)
        #expect(set.add(vote(2, Self.blockA)) == .added)
        #expect(set.hasQuorum(for: Self.blockA) && set.hasQuorumAny && set.blockWithQuorum == Self.blockA)
        #expect(set.power(for: Self.blockA) == 3 && set.votedPower == 3)
    }

    @Test func exactlyTwoThirdsIsNotAQuorum() {
        // Total 6: 4 is exactly two thirds, 5 is more.
        var set = VoteSet(height: 1, round: 0, type: .precommit, validatorSet: TestSupport.validatorSet(powers: [2, 2, 1, 1]))
        #expect(set.add(vote(0, Self.blockA, type: .precommit)) == .added)
        #expect(set.add(vote(1, Self.blockA, type: .precommit)) == .added)
        #expect(set.power(for: Self.blockA) == 4 && !set.hasQuorum(for: Self.blockA))
        #expect(set.add(vote(2, Self.blockA, type: .precommit)) == .added)
        #expect(set.hasQuorum(for: Self.blockA))
        #expect(set.votes(for: Self.blockA).map(\.validator) == set.votes(for: Self.blockA).map(\.validator).sorted())
    }

    @Test func mixedVotesMakeAQuorumOfAnyButNotOfOneValue() {
        var set = VoteSet(height: 1, round: 0, type: .prevote, validatorSet: TestSupport.validatorSet(powers: [1, 1, 1, 1]))
        _ = set.add(vote(0, Self.blockA))
        _ = set.add(vote(1, nil))
        _ = set.add(vote(2, Self.blockB))
        #expect(set.hasQuorumAny)
        #expect(!set.hasQuorum(for: nil) && set.blockWithQuorum == nil)
        _ = set.add(vote(3, nil))
        #expect(set.power(for: nil) == 2 && !set.hasQuorum(for: nil))
    }

    @Test func nilQuorumIsNotABlockQuorum() {
        var set = VoteSet(height: 1, round: 0, type: .prevote, validatorSet: TestSupport.validatorSet(powers: [1, 1, 1, 1]))
        for index in 0..<3 { _ = set.add(vote(index, nil)) }
        #expect(set.hasQuorum(for: nil) && set.blockWithQuorum == nil)
    }

    @Test func equivocatorCountsOncePerBlockIdAndOnceInTheTotal() {
        var set = VoteSet(height: 1, round: 0, type: .prevote, validatorSet: TestSupport.validatorSet(powers: [1, 1, 1, 1]))
        let first = vote(0, Self.blockA)
        let second = vote(0, Self.blockB)
        #expect(set.add(first) == .added)
        #expect(set.containsIdentical(first))
        #expect(set.add(first) == .duplicate)
        #expect(set.add(second) == .conflicting(existing: first))
        #expect(set.add(second) == .duplicate && set.containsIdentical(second))
        #expect(set.add(vote(0, nil)) == .conflictingAgain)
        #expect(set.add(vote(0, TestSupport.block("c"))) == .conflictingAgain)
        #expect(set.add(vote(0, TestSupport.block("d"))) == .conflictOverLimit)
        #expect(set.power(for: Self.blockA) == 1 && set.power(for: Self.blockB) == 1 && set.power(for: nil) == 1)
        #expect(set.votedPower == 1 && set.count == 1 && !set.hasQuorumAny)
        #expect(set.vote(of: TestSupport.publicKey(0)) == first)
        #expect(set.allVotes(of: TestSupport.publicKey(0)).count == 4)
        #expect(set.votes(for: Self.blockB) == [second])
    }

    @Test func oneEquivocatorCannotMakeTwoQuorums() {
        // Validators 0 and 1 vote A, 2 votes B, and 0 also votes B: A and B hold 2 each,
        // and the total of distinct voters is 3 (a quorum of "any", no quorum of a value).
        var set = VoteSet(height: 1, round: 0, type: .precommit, validatorSet: TestSupport.validatorSet(powers: [1, 1, 1, 1]))
        _ = set.add(vote(0, Self.blockA, type: .precommit))
        _ = set.add(vote(1, Self.blockA, type: .precommit))
        _ = set.add(vote(2, Self.blockB, type: .precommit))
        _ = set.add(vote(0, Self.blockB, type: .precommit))
        #expect(set.blockWithQuorum == nil && set.hasQuorumAny && set.votedPower == 3)
        _ = set.add(vote(3, Self.blockB, type: .precommit))
        #expect(set.blockWithQuorum == Self.blockB, "the equivocator's second vote completes B's quorum")
        #expect(set.votes(for: Self.blockB).count == 3)
    }

    @Test func strangersAndOtherStepsAreRefused() {
        var set = VoteSet(height: 1, round: 0, type: .prevote, validatorSet: TestSupport.validatorSet(powers: [1, 1, 1, 1]))
        #expect(set.add(vote(9, Self.blockA)) == .notMember)
        #expect(set.add(vote(0, Self.blockA, round: 1)) == .mismatched)
        #expect(set.add(vote(0, Self.blockA, type: .precommit)) == .mismatched)
        #expect(set.count == 0)
    }
}
