import SocaiCore

/// A timeout the machine asked the driver to schedule, identified by kind, height and round.
///
/// The driver feeds it back as `ConsensusEvent.timeout` when it expires; the machine ignores
/// timeouts that no longer match its height, round and step, so the driver never needs to
/// cancel one.
public struct Timeout: Hashable, Sendable, CustomStringConvertible {
    /// Which step of Algorithm 1 the timeout ends.
    public enum Kind: UInt8, Hashable, Sendable {
        /// OnTimeoutPropose: prevote nil if no acceptable proposal arrived.
        case propose = 1
        /// OnTimeoutPrevote: precommit nil if no polka formed.
        case prevote = 2
        /// OnTimeoutPrecommit: move to the next round if no decision formed.
        case precommit = 3
    }

    /// The step the timeout ends.
    public let kind: Kind
    /// The height it was scheduled at.
    public let height: UInt64
    /// The round it was scheduled in.
    public let round: UInt32

    /// Creates a timeout.
    public init(kind: Kind, height: UInt64, round: UInt32) {
        self.kind = kind
        self.height = height
        self.round = round
    }

    /// For logs: kind/height/round.
    public var description: String { "timeout \(kind) \(height)/\(round)" }
}

/// The step within a round (Algorithm 1's step_p).
public enum ConsensusStep: UInt8, Hashable, Sendable, Comparable {
    /// Waiting for the round's proposal.
    case propose = 1
    /// Prevoted; waiting for a polka.
    case prevote = 2
    /// Precommitted; waiting for a decision or the next round.
    case precommit = 3

    /// Orders steps as Algorithm 1 does (propose < prevote < precommit).
    public static func < (left: ConsensusStep, right: ConsensusStep) -> Bool { left.rawValue < right.rawValue }
}

/// The position of a signed message within a height, in signing order: every message a
/// validator signs at one height has a strictly greater `SignedStep` than the one before.
/// CometBFT's signer keeps the same (height, round, step) watermark and refuses to sign
/// anything at or below it.
public struct SignedStep: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// What kind of message was signed, in signing order within a round.
    public enum Kind: UInt8, Hashable, Sendable {
        /// A proposal (only the round's proposer signs one).
        case proposal = 1
        /// A prevote.
        case prevote = 2
        /// A precommit.
        case precommit = 3
    }

    /// The round of the signed message.
    public let round: UInt32
    /// The kind of the signed message.
    public let kind: Kind

    /// Creates a watermark.
    public init(round: UInt32, kind: Kind) {
        self.round = round
        self.kind = kind
    }

    /// The watermark of a vote of `type` in `round`.
    public init(round: UInt32, voteType: VoteType) {
        self.init(round: round, kind: voteType == .prevote ? .prevote : .precommit)
    }

    /// Orders by round, then by kind.
    public static func < (left: SignedStep, right: SignedStep) -> Bool {
        (left.round, left.kind.rawValue) < (right.round, right.kind.rawValue)
    }

    /// For logs: round/kind.
    public var description: String { "\(round)/\(kind)" }
}

/// What a validator must persist, before any message it signs leaves the process, so that
/// after a crash it neither signs twice nor forgets its lock (Algorithm 1's lockedValue is
/// what keeps a decided value safe; a validator that loses it behaves like a faulty one).
public struct ConsensusCheckpoint: Hashable, Sendable {
    /// The height.
    public var height: UInt64
    /// The round.
    public var round: UInt32
    /// The locked round (Algorithm 1's lockedRound; nil stands for −1).
    public var lockedRound: UInt32?
    /// The locked block (lockedValue).
    public var lockedBlockID: Hash?
    /// The valid round (validRound; nil stands for −1).
    public var validRound: UInt32?
    /// The valid block (validValue).
    public var validBlockID: Hash?
    /// The last message signed at this height, or nil.
    public var lastSigned: SignedStep?

    /// Creates a checkpoint.
    public init(
        height: UInt64, round: UInt32, lockedRound: UInt32?, lockedBlockID: Hash?, validRound: UInt32?,
        validBlockID: Hash?, lastSigned: SignedStep?
    ) {
        self.height = height
        self.round = round
        self.lockedRound = lockedRound
        self.lockedBlockID = lockedBlockID
        self.validRound = validRound
        self.validBlockID = validBlockID
        self.lastSigned = lastSigned
    }

    /// Throws unless the fields are consistent: height ≥ 1, rounds within the limit, locked
    /// and valid rounds paired with their blocks, and the lock not newer than the valid round.
    ///
    /// The locked, valid and last signed rounds may be above `round`: a driver that records
    /// the round of the step it is about to sign, with the machine's checkpoint taken after
    /// the whole event, can see the machine already further on; `resume` starts at the
    /// highest of them.
    public func validate() throws(ConsensusError) {
        let rounds = [round, lockedRound, validRound, lastSigned?.round].compactMap { $0 }
        guard height >= 1, rounds.allSatisfy({ $0 <= Limits.roundMax }) else {
            throw ConsensusError(.invalidCheckpoint, "checkpoint height must be at least 1 and rounds at most \(Limits.roundMax)")
        }
        guard (lockedRound == nil) == (lockedBlockID == nil), (validRound == nil) == (validBlockID == nil) else {
            throw ConsensusError(.invalidCheckpoint, "checkpoint locked and valid rounds must come with their blocks")
        }
        if let lockedRound {
            // Line 36 sets the valid value whenever it sets the lock, and later only raises it.
            guard let validRound, lockedRound <= validRound else {
                throw ConsensusError(.invalidCheckpoint, "checkpoint lock must not be newer than its valid round")
            }
        }
    }

    /// The round to resume in: the highest round the checkpoint names.
    var resumeRound: UInt32 { [round, lockedRound ?? 0, validRound ?? 0, lastSigned?.round ?? 0].max()! }
}

/// A height's decision: the block and the certificate that proves it.
public struct ConsensusDecision: Hashable, Sendable {
    /// The decided block.
    public let blockID: Hash
    /// More than two thirds of the power's precommits for it, in one round.
    public let certificate: CommitCertificate
}

/// Counts of what the machine accepted, dropped and ignored. Dropping is the answer to
/// every malformed, unauthenticated or out-of-window input: nothing from the network can
/// make the machine trap.
public struct ConsensusCounters: Hashable, Sendable {
    /// Votes counted in a vote set.
    public var votesAccepted: UInt64 = 0
    /// Proposals stored.
    public var proposalsAccepted: UInt64 = 0
    /// Messages failing their format checks (zero height, round over the limit, valid round ≥ round).
    public var droppedMalformed: UInt64 = 0
    /// Messages for a past height, or more than one height ahead.
    public var droppedWrongHeight: UInt64 = 0
    /// Messages for a round beyond the window or one already forgotten.
    public var droppedRoundOutOfWindow: UInt64 = 0
    /// Votes from keys outside the height's validator set.
    public var droppedNotValidator: UInt64 = 0
    /// Proposals from a validator that is not the round's proposer.
    public var droppedWrongProposer: UInt64 = 0
    /// Votes, proposals and certificates whose signatures do not verify.
    public var droppedInvalidSignature: UInt64 = 0
    /// Copies of messages already held.
    public var droppedDuplicate: UInt64 = 0
    /// Second, different proposals from a round's proposer (the first is kept).
    public var droppedConflictingProposal: UInt64 = 0
    /// Votes from a validator for a further block id at one height, round and type: counted
    /// toward that block id only (see `VoteSet`), and reported as evidence the first time.
    public var equivocatingVotes: UInt64 = 0
    /// Equivocating votes beyond `VoteSet.conflictingVotesPerValidatorMax`, not kept.
    public var droppedEquivocationOverLimit: UInt64 = 0
    /// Next-height messages dropped because the buffer was full.
    public var droppedBufferFull: UInt64 = 0
    /// Messages arriving after this height was decided.
    public var droppedAfterDecision: UInt64 = 0
    /// Certificates that failed verification against the validator set.
    public var droppedInvalidCertificate: UInt64 = 0
    /// Evidence found beyond `evidencePerHeightMax`, not reported.
    public var evidenceOverLimit: UInt64 = 0
    /// Blocks not sent for validation because `blockValidationsPerHeightMax` was reached.
    public var validationsOverLimit: UInt64 = 0
    /// Events that no longer apply: stale timeouts, late proposal values, validity answers
    /// nobody asked for, a start for a height already passed.
    public var ignoredEvents: UInt64 = 0

    /// Creates all-zero counters.
    public init() {}
}

/// An input to the consensus machine.
public enum ConsensusEvent: Hashable, Sendable {
    /// Begin consensus at `height` with the validator set in force there. The first start,
    /// and every later one after the driver has executed and stored the previous decision;
    /// `height` must be above the current height (it may skip heights the node synced).
    case start(height: UInt64, validatorSet: ValidatorSet)
    /// A proposal from the network, or this validator's own proposal after the driver signed it.
    case proposal(Proposal)
    /// A vote from the network, or this validator's own vote after the driver signed it.
    case vote(Vote)
    /// A commit certificate for the current height, from block sync or a peer: a decision
    /// made without this node (Algorithm 1 line 49 fed all at once).
    case certificate(CommitCertificate)
    /// A timeout the machine scheduled has expired.
    case timeout(Timeout)
    /// The application's answer to `requestProposalValue`: the block this validator proposes.
    /// The application vouches for its own block, so the machine records it as valid.
    case proposalValue(height: UInt64, round: UInt32, blockID: Hash)
    /// The application's answer to `validateBlock`: Algorithm 1's valid(v).
    case blockValidity(height: UInt64, blockID: Hash, isValid: Bool)
}

/// An output of the consensus machine, for the driver to carry out in order.
public enum ConsensusAction: Hashable, Sendable {
    /// Sign this proposal (its signature is empty), broadcast it, and feed it back as
    /// `.proposal`. Before signing, persist `ConsensusMachine.checkpoint` and refuse to sign
    /// at or below the persisted `lastSigned` (see `ConsensusCheckpoint`).
    case signProposal(Proposal)
    /// Sign this vote (its signature is empty), broadcast it, and feed it back as `.vote`.
    /// The same persistence rule as `signProposal` applies.
    case signVote(Vote)
    /// Feed `.timeout(timeout)` back after this many milliseconds.
    case scheduleTimeout(Timeout, afterMilliseconds: UInt64)
    /// This validator proposes in this round and has no valid value: build a block and
    /// answer with `.proposalValue`.
    case requestProposalValue(height: UInt64, round: UInt32)
    /// Fetch (if needed) and check the block with this id and answer with `.blockValidity`.
    /// Asked once per block per height.
    case validateBlock(height: UInt64, blockID: Hash)
    /// The height is decided: execute and persist the block with this certificate, then
    /// send `.start` for the next height.
    case commit(height: UInt64, blockID: Hash, certificate: CommitCertificate)
    /// A validator signed two different votes for one height, round and type.
    case evidence(DuplicateVoteEvidence)
}
