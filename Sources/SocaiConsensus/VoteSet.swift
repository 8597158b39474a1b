import SocaiCore

/// The votes of one type at one height and round, with the power behind each block id (or
/// nil) kept as votes arrive.
///
/// Counting follows Algorithm 1, which counts messages from distinct senders: "2f+1
/// ⟨PREVOTE, h, r, id(v)⟩" is power from distinct validators that sent that exact message.
/// A validator's power therefore counts at most once toward each block id, and at most once
/// toward the total of all votes ("2f+1 ⟨PREVOTE, h, r, ∗⟩", the f+1 rule). A validator that
/// signs votes for two block ids is equivocating: the set reports it (once), and its second
/// vote counts toward its own block id only. Not counting it at all would be just as safe,
/// but not live: correct validators who received the two votes in different orders would
/// see different polkas, and one locked on a value whose polka the others cannot see would
/// stall the network for good (the simulation found such seeds). Counting it cannot create
/// two conflicting quorums: two sets of more than two thirds of the power share more than a
/// third, which includes a correct validator, and a correct validator votes once.
///
/// A validator's votes are kept for at most `conflictingVotesPerValidatorMax` + 1 distinct
/// block ids, so the set is bounded by the validator set. The set does not check signatures:
/// the caller verifies each vote first (the machine does, against the same validator set).
public struct VoteSet: Sendable {
    /// Most votes for further block ids kept from one validator after its first vote.
    public static let conflictingVotesPerValidatorMax = 3

    /// The height the votes are for.
    public let height: UInt64
    /// The round the votes are for.
    public let round: UInt32
    /// Prevotes or precommits.
    public let type: VoteType
    /// The validators whose votes count, with their powers.
    public let validatorSet: ValidatorSet

    /// The first vote from each validator.
    private var firstVotes: [PublicKey: Vote] = [:]
    /// Later votes from equivocating validators, one per further block id.
    private var conflictingVotes: [PublicKey: [Vote]] = [:]
    /// Power behind each block id; the nil key holds the power of nil votes.
    private var powerByBlockID: [Hash?: UInt64] = [:]
    /// The total power of the validators that voted, each counted once.
    public private(set) var votedPower: UInt64 = 0

    /// What adding a vote did.
    public enum Addition: Hashable, Sendable {
        /// The validator's first vote: counted.
        case added
        /// The validator already voted for the same block id; nothing changed.
        case duplicate
        /// The validator's first vote for a second block id: equivocation. The earlier vote
        /// is returned for the evidence; the new one counts toward its own block id only.
        case conflicting(existing: Vote)
        /// A vote for yet another block id from a validator already reported; counted
        /// toward its own block id only.
        case conflictingAgain
        /// A vote for another block id beyond `conflictingVotesPerValidatorMax`: not kept.
        case conflictOverLimit
        /// The vote's signer is not in the validator set.
        case notMember
        /// The vote's height, round or type is not this set's.
        case mismatched
    }

    /// Creates an empty set.
    public init(height: UInt64, round: UInt32, type: VoteType, validatorSet: ValidatorSet) {
        self.height = height
        self.round = round
        self.type = type
        self.validatorSet = validatorSet
    }

    /// Adds a vote whose signature the caller has verified.
    public mutating func add(_ vote: Vote) -> Addition {
        guard vote.height == height, vote.round == round, vote.type == type else { return .mismatched }
        guard let member = validatorSet.validator(for: vote.validator) else { return .notMember }
        guard let first = firstVotes[vote.validator] else {
            firstVotes[vote.validator] = vote
            powerByBlockID[vote.blockID, default: 0] += member.power
            votedPower += member.power
            return .added
        }
        let others = conflictingVotes[vote.validator] ?? []
        if first.blockID == vote.blockID || others.contains(where: { $0.blockID == vote.blockID }) { return .duplicate }
        guard others.count < Self.conflictingVotesPerValidatorMax else { return .conflictOverLimit }
        conflictingVotes[vote.validator, default: []].append(vote)
        powerByBlockID[vote.blockID, default: 0] += member.power
        return others.isEmpty ? .conflicting(existing: first) : .conflictingAgain
    }

    /// Whether this exact vote (signature included) is already held: a cheap check that lets
    /// gossiped copies skip signature verification.
    public func containsIdentical(_ vote: Vote) -> Bool {
        firstVotes[vote.validator] == vote || conflictingVotes[vote.validator]?.contains(vote) == true
    }

    /// The first vote of `validator`, if any.
    public func vote(of validator: PublicKey) -> Vote? { firstVotes[validator] }

    /// Every vote of `validator`: its first, then any conflicting ones in arrival order.
    public func allVotes(of validator: PublicKey) -> [Vote] {
        guard let first = firstVotes[validator] else { return [] }
        return [first] + (conflictingVotes[validator] ?? [])
    }

    /// The number of validators that voted.
    public var count: Int { firstVotes.count }

    /// The power of the validators that voted for `blockID` (nil: for nil).
    public func power(for blockID: Hash?) -> UInt64 { powerByBlockID[blockID] ?? 0 }

    /// Whether votes for `blockID` (nil: nil votes) hold more than two thirds of the power.
    public func hasQuorum(for blockID: Hash?) -> Bool { validatorSet.isQuorum(power(for: blockID)) }

    /// Whether the validators that voted, whatever for, hold more than two thirds of the
    /// power (Algorithm 1's "2f+1 ⟨·, h, r, ∗⟩").
    public var hasQuorumAny: Bool { validatorSet.isQuorum(votedPower) }

    /// The block (never nil) whose votes hold more than two thirds of the power, if any.
    /// While equivocators hold less than a third of the power, at most one block can.
    public var blockWithQuorum: Hash? {
        powerByBlockID.compactMap { blockID, power in validatorSet.isQuorum(power) ? blockID : nil }.min()
    }

    /// The votes for `blockID` (nil: nil votes), in ascending validator order.
    public func votes(for blockID: Hash?) -> [Vote] {
        validatorSet.validators.compactMap { member in
            allVotes(of: member.publicKey).first { $0.blockID == blockID }
        }
    }
}
