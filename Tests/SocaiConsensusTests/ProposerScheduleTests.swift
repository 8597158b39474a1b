import SocaiCore
import SocaiHarness
import Testing

@testable import SocaiConsensus

/// Weighted round-robin proposer selection (CometBFT's proposer priority).
@Suite struct ProposerScheduleTests {
    @Test func equalPowersRotateInKeyOrder() {
        let set = TestSupport.validatorSet(powers: [1, 1, 1, 1])
        let sequence = (0..<8).map { ProposerSchedule.proposer(in: set, height: 1, round: UInt32($0)).publicKey }
        // Ties go to the lowest key, and the set lists keys in ascending order.
        #expect(Array(sequence[0..<4]) == set.validators.map(\.publicKey))
        #expect(Array(sequence[4..<8]) == set.validators.map(\.publicKey))
    }

    @Test func weightedSequenceMatchesHandComputation() throws {
        // Powers 1 (lower key) and 3 (higher key), total 4. Priorities (low, high):
        // +power → (1, 3) pick high → (1, −1); → (2, 2) tie, pick low → (−2, 2);
        // → (−1, 5) pick high → (−1, 1); → (0, 4) pick high → (0, 0): high, low, high, high.
        let keys = [TestSupport.publicKey(0), TestSupport.publicKey(1)].sorted()
        let set = try ValidatorSet([Validator(publicKey: keys[0], power: 1), Validator(publicKey: keys[1], power: 3)])
        let sequence = (0..<8).map { ProposerSchedule.proposer(in: set, height: UInt64($0) + 1, round: 0).publicKey }
        #expect(sequence == [keys[1], keys[0], keys[1], keys[1], keys[1], keys[0], keys[1], keys[1]])
    }

    @Test(arguments: [[1, 2, 3, 4], [1, 1, 1, 10], [5, 3, 2], [7], [100, 1], [13, 17, 19, 23, 29]] as [[UInt64]])
    func everyWindowOfTotalPowerSelectionsMatchesThePowers(powers: [UInt64]) {
        let set = TestSupport.validatorSet(powers: powers)
        let total = Int(set.totalPower)
        var schedule = ProposerSchedule(validatorSet: set)
        let sequence = (0..<(total * 5)).map { schedule.proposer(height: UInt64($0) + 1, round: 0).publicKey }
        // The sequence repeats every `total` selections, so every window of that length —
        // not only aligned ones — holds each validator exactly `power` times.
        for start in stride(from: 0, to: total * 4, by: max(1, total / 7)) {
            var counts: [PublicKey: UInt64] = [:]
            for key in sequence[start..<(start + total)] { counts[key, default: 0] += 1 }
            for validator in set.validators {
                #expect(counts[validator.publicKey] == validator.power, "window at \(start), powers \(powers)")
            }
        }
    }

    @Test func randomSetsKeepPrioritiesBoundedAndFrequenciesExact() {
        var random = SimulationRandom(seed: 7)
        for trial in 0..<40 {
            let count = Int(random.below(9)) + 1
            let powers = (0..<count).map { _ in random.below(trial % 2 == 0 ? 20 : 1000) + 1 }
            let set = TestSupport.validatorSet(powers: powers)
            var schedule = ProposerSchedule(validatorSet: set)
            var counts: [PublicKey: UInt64] = [:]
            for selection in 0..<set.totalPower {
                counts[schedule.proposer(height: selection + 1, round: 0).publicKey, default: 0] += 1
                let total = Int64(set.totalPower)
                #expect(schedule.prioritiesForTesting.allSatisfy { $0 > -total && $0 <= total }, "powers \(powers)")
            }
            for validator in set.validators { #expect(counts[validator.publicKey] == validator.power, "powers \(powers)") }
        }
    }

    @Test func extremePowersStayInsideInt64() throws {
        let powers: [UInt64] = [1, Limits.votingPowerMax, Limits.votingPowerMax - 1, 3, Limits.votingPowerMax / 3]
        let set = TestSupport.validatorSet(powers: powers)
        var schedule = ProposerSchedule(validatorSet: set)
        let total = Int64(set.totalPower)
        var smallChosen = 0
        for selection in 0..<UInt64(20_000) {
            if schedule.proposer(height: selection + 1, round: 0).power == 1 { smallChosen += 1 }
            #expect(schedule.prioritiesForTesting.allSatisfy { $0 > -total && $0 <= total })
        }
        #expect(smallChosen == 0, "a validator with 1 of ~2^51 power should not propose in 20 000 selections")
    }

    @Test func farHeightsReduceModuloThePeriod() {
        let set = TestSupport.validatorSet(powers: [1, 2, 3, 4])
        // (2^64 − 2) mod 10 = 4 and 1 000 000 mod 10 = 0: selection 4, the proposer of height 5.
        #expect(
            ProposerSchedule.proposer(in: set, height: UInt64.max, round: Limits.roundMax)
                == ProposerSchedule.proposer(in: set, height: 5, round: 0))
    }

    @Test func roundsAndHeightsShareOneSequence() {
        let set = TestSupport.validatorSet(powers: [3, 1, 4, 1, 5])
        for height in UInt64(1)...30 {
            for round in UInt32(0)..<5 {
                #expect(
                    ProposerSchedule.proposer(in: set, height: height, round: round + 1)
                        == ProposerSchedule.proposer(in: set, height: height + 1, round: round))
            }
        }
    }

    @Test func cachedScheduleAnswersLikeAFreshOneInAnyQueryOrder() {
        let set = TestSupport.validatorSet(powers: [2, 7, 1, 8, 2, 8])
        var schedule = ProposerSchedule(validatorSet: set)
        var random = SimulationRandom(seed: 99)
        var height: UInt64 = 1
        for _ in 0..<2_000 {
            // Mostly forward, as a running node asks; sometimes backwards or far ahead.
            switch random.below(10) {
            case 0: height = random.below(1_000) + 1
            case 1: height += random.below(10_000)
            default: height += random.below(2)
            }
            let round = UInt32(random.below(6))
            #expect(
                schedule.proposer(height: height, round: round)
                    == ProposerSchedule.proposer(in: set, height: height, round: round), "height \(height) round \(round)")
        }
    }
}
