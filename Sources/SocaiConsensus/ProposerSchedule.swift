import SocaiCore

/// Who proposes at each height and round: CometBFT's weighted round-robin on proposer
/// priority.
///
/// Every validator starts with priority 0. Each selection adds every validator's power to
/// its priority, chooses the highest priority (ties go to the lowest public key, which is
/// first in the set's order), and subtracts the total power from the chosen one. Over any
/// `totalPower` consecutive selections each validator is chosen exactly `power` times.
///
/// The proposer of (height, round) is selection number `(height − 1) + round` of that
/// sequence, so round r + 1 of height h has the proposer of round r of height h + 1,
/// exactly as in CometBFT for a set unchanged since genesis (CometBFT advances priorities
/// once per height and once more per round). Unlike CometBFT, priorities are not carried
/// across validator-set changes: the proposer is a pure function of (set, height, round),
/// so a restarting node recomputes it without persisted priorities, and every node computes
/// the same answer from the set named in the header alone.
///
/// The sequence repeats every `totalPower` selections (after which every priority is 0
/// again), so selection k equals selection k mod `totalPower`. Computing it from scratch
/// costs O(min(k, totalPower) × validators); the schedule keeps its place, so moving from a
/// round to the next, or from a height to the next, costs one selection.
public struct ProposerSchedule: Sendable {
    /// The validator set the schedule ranks.
    public let validatorSet: ValidatorSet

    /// Priorities after `cursor.count` selections, index-aligned with `validatorSet.validators`.
    private var cursor: Position
    /// The position before the last round-0 selection asked for: the next height's round 0
    /// is one selection on from it, whatever round the current height reached.
    private var anchor: Position
    /// The last selection answered, to answer repeated questions without recomputing.
    private var lastAnswer: (index: UInt64, chosen: Int)?

    struct Position: Sendable {
        var priorities: [Int64]
        /// Selections made from all-zero priorities, modulo the total power.
        var count: UInt64
    }

    /// Creates the schedule of `validatorSet`.
    public init(validatorSet: ValidatorSet) {
        self.validatorSet = validatorSet
        let start = Position(priorities: [Int64](repeating: 0, count: validatorSet.validators.count), count: 0)
        cursor = start
        anchor = start
    }

    /// The proposer of `round` at `height` (height ≥ 1) under `validatorSet`.
    public static func proposer(in validatorSet: ValidatorSet, height: UInt64, round: UInt32) -> Validator {
        var schedule = ProposerSchedule(validatorSet: validatorSet)
        return schedule.proposer(height: height, round: round)
    }

    /// The proposer of `round` at `height` (height ≥ 1).
    public mutating func proposer(height: UInt64, round: UInt32) -> Validator {
        precondition(height >= 1, "heights start at 1")
        let total = validatorSet.totalPower
        // (height − 1 + round) mod total, without overflowing for any height.
        let index = ((height - 1) % total + UInt64(round) % total) % total
        return validatorSet.validators[selection(at: index, isRoundZero: round == 0)]
    }

    /// The index of the validator chosen by selection number `index` (0-based, < total power).
    private mutating func selection(at index: UInt64, isRoundZero: Bool) -> Int {
        if let lastAnswer, lastAnswer.index == index { return lastAnswer.chosen }
        if cursor.count > index {
            // Moving backwards: restart from the anchor when it is not past `index`, else
            // from the start of the period (all priorities zero).
            if anchor.count <= index {
                cursor = anchor
            } else {
                cursor = Position(priorities: [Int64](repeating: 0, count: validatorSet.validators.count), count: 0)
            }
        }
        while cursor.count < index { _ = selectOnce() }
        if isRoundZero { anchor = cursor }
        let chosen = selectOnce()
        lastAnswer = (index, chosen)
        return chosen
    }

    /// Performs one selection on the cursor and returns the chosen index.
    private mutating func selectOnce() -> Int {
        let validators = validatorSet.validators
        var best = 0
        for position in validators.indices {
            // Powers are at most 2^50 and the total at most 150 × 2^50 < 2^58; priorities stay
            // within (−total, total] (checked by the tests), so these sums cannot overflow
            // Int64, and Swift traps rather than wraps if that reasoning were ever wrong.
            cursor.priorities[position] += Int64(validators[position].power)
            // Strictly greater: on a tie the earlier validator, whose key is lower, wins.
            if cursor.priorities[position] > cursor.priorities[best] { best = position }
        }
        cursor.priorities[best] -= Int64(validatorSet.totalPower)
        cursor.count += 1
        if cursor.count == validatorSet.totalPower {
            // After `total` selections each validator was chosen exactly `power` times, so
            // every priority is back to zero and the sequence repeats.
            precondition(cursor.priorities.allSatisfy { $0 == 0 }, "proposer priorities must return to zero each period")
            cursor.count = 0
        }
        return best
    }

    /// The cursor's priorities, for tests that check their bound.
    var prioritiesForTesting: [Int64] { cursor.priorities }
}
