import SocaiCore

/// Tendermint consensus — Algorithm 1 of Buchman, Kwon and Milosevic, "The latest gossip on
/// BFT consensus" (arXiv 1807.04938) — as a pure state machine: `handle(event)` returns the
/// actions to carry out. It reads no clock, draws no randomness and does no I/O, so a seed
/// and a list of events reproduce a run exactly.
///
/// Values are block ids (`Hash`); the application owns the blocks and answers validity
/// (`validateBlock` → `.blockValidity`) and new values (`requestProposalValue` →
/// `.proposalValue`). Comments cite the paper's line numbers.
///
/// **Signing.** The machine holds no secret key. It emits unsigned votes and proposals as
/// `signVote` / `signProposal`; the driver persists `checkpoint` (so a crash can neither
/// cause a second, different signature for the same height, round and step nor lose the
/// lock), signs, broadcasts, and feeds the signed message back as an ordinary event, which
/// the machine verifies and counts like any other. This keeps the machine deterministic and
/// testable with plain values, puts the fsync-before-send rule where the I/O is, and makes
/// every message that needs a signature an explicit action. The machine itself never emits
/// two different votes for one (height, round, type) or two proposals for one (height,
/// round): its signed steps strictly increase (a `precondition`).
///
/// **Verification.** Every incoming vote and proposal is checked before it counts: its
/// height and round window, its signer's membership in the height's validator set (and, for
/// a proposal, that the signer is the round's proposer), and its signature over the exact
/// SocaiCore signing bytes. Anything failing is dropped and counted in `counters`.
///
/// **Thresholds** are over voting power: "2f+1" is `ValidatorSet.isQuorum` (more than two
/// thirds), "f+1" is more than one third.
///
/// **Departures from the paper's pseudocode**, each keeping its safety argument:
/// - The proposer also schedules timeoutPropose (as CometBFT does), so a slow application
///   costs a nil prevote rather than a stuck round; prevoting nil is always safe.
/// - valid(v) is asked asynchronously; rules that need it wait for the answer.
/// - Line 49 does not need round r's proposal message: with values named by their id, the
///   application answering valid(id) = true shows it holds the block. A node that missed
///   the proposal can then still decide, as CometBFT does by fetching the block's parts.
/// - After a decision the machine waits for the driver's `.start` of the next height
///   instead of starting it itself, because the block must be executed and stored first.
/// - Messages are kept only for the current height (the next height's are buffered) and
///   for rounds up to `futureRoundsMax` ahead, so memory is bounded. Line 55 is counted over
///   the highest round each validator has been heard from (see `noteRound`), so a node far
///   behind still catches up in one step.
///
/// **Equivocation.** A validator's second vote for another block id at one height, round
/// and type is reported once as `DuplicateVoteEvidence` and counts toward its own block id
/// only — never a second time toward the total. That is how Algorithm 1 counts (messages
/// from distinct senders), it cannot create two conflicting quorums while faulty power is
/// under a third, and it keeps correct validators' views from diverging; see `VoteSet`.
public struct ConsensusMachine: Sendable {
    /// Most rule firings while handling one event. Each firing advances the round or the
    /// step, or fires the once-per-round lock rule; one event can cause a round skip and then
    /// at most a prevote, a precommit and a lock, so a loop beyond this is a bug.
    static let ruleFiringsPerEventMax = 16

    /// The chain whose signing domain votes and proposals use.
    public let chainID: ChainID
    /// This validator's consensus key, or nil for a node that follows without voting.
    public let validatorKey: PublicKey?
    /// Timeouts and bounds.
    public let configuration: ConsensusConfiguration

    /// The current height (h_p); 0 before the first `.start`.
    public private(set) var height: UInt64 = 0
    /// The current round (round_p).
    public private(set) var round: UInt32 = 0
    /// The current step (step_p).
    public private(set) var step: ConsensusStep = .propose
    /// lockedRound_p (nil stands for −1).
    public private(set) var lockedRound: UInt32?
    /// lockedValue_p.
    public private(set) var lockedBlockID: Hash?
    /// validRound_p (nil stands for −1).
    public private(set) var validRound: UInt32?
    /// validValue_p.
    public private(set) var validBlockID: Hash?
    /// decision_p[h_p], once made.
    public private(set) var decision: ConsensusDecision?
    /// The last message this validator was asked to sign at this height.
    public private(set) var lastSigned: SignedStep?
    /// The validator set of the current height.
    public private(set) var validatorSet: ValidatorSet?
    /// What was accepted, dropped and ignored since the machine was created.
    public private(set) var counters = ConsensusCounters()
    /// Evidence found at this height (at most `evidencePerHeightMax`), also emitted as actions.
    public private(set) var detectedEvidence: [DuplicateVoteEvidence] = []

    private var schedule: ProposerSchedule?
    private var isValidator = false
    /// Per-round state of the current height; at most `roundsStoredMax` rounds.
    private var rounds: [UInt32: RoundState] = [:]
    /// The application's valid(v) answers at this height (and its own proposed blocks).
    private var validity: [Hash: Bool] = [:]
    /// Blocks sent for validation at this height; at most `blockValidationsPerHeightMax`.
    private var validationsRequested: Set<Hash> = []
    /// Rounds whose precommits reached a quorum for a block, in the order they did.
    private var decisionCandidates: [UInt32] = []
    /// The highest round each validator has been heard from at this height (authenticated
    /// messages only); at most one entry per validator.
    private var highestRounds: [PublicKey: UInt32] = [:]
    /// The highest round above the current one that validators with more than a third of
    /// the power have reached.
    private var skipCandidate: UInt32?
    /// A verified certificate for this height from outside (block sync or a peer).
    private var pendingCertificate: CommitCertificate?
    /// Messages for the next height, in arrival order, replayed by its `.start`.
    private var nextHeightMessages: [BufferedMessage] = []
    private var nextHeightMessageSet: Set<BufferedMessage> = []
    /// Actions produced while handling the current event.
    private var outbox: [ConsensusAction] = []

    /// Creates a machine that does nothing until `.start` (or `resume`).
    public init(
        chainID: ChainID, validatorKey: PublicKey?, configuration: ConsensusConfiguration = ConsensusConfiguration()
    ) throws(ConsensusError) {
        try configuration.validate()
        self.chainID = chainID
        self.validatorKey = validatorKey
        self.configuration = configuration
    }

    // MARK: - Driver interface

    /// Handles one event and returns the actions it causes, in the order to carry them out.
    public mutating func handle(_ event: ConsensusEvent) -> [ConsensusAction] {
        precondition(outbox.isEmpty, "the outbox is emptied at the end of every event")
        switch event {
        case .start(let newHeight, let newValidatorSet): startHeight(newHeight, validatorSet: newValidatorSet)
        case .proposal(let proposal): receiveProposal(proposal)
        case .vote(let vote): receiveVote(vote)
        case .certificate(let certificate): receiveCertificate(certificate)
        case .timeout(let timeout): expire(timeout)
        case .proposalValue(let valueHeight, let valueRound, let blockID):
            receiveProposalValue(height: valueHeight, round: valueRound, blockID: blockID)
        case .blockValidity(let validityHeight, let blockID, let isValid):
            receiveValidity(height: validityHeight, blockID: blockID, isValid: isValid)
        }
        evaluateRules()
        return takeOutbox()
    }

    /// Restarts after a crash from the checkpoint persisted before the last signature, with
    /// the validator set of its height. The machine keeps its lock and valid value and will
    /// not sign anything at or below `checkpoint.lastSigned`; it resumes in the highest round
    /// the checkpoint names (peers' messages, re-gossiped, bring it up to date).
    public mutating func resume(
        from checkpoint: ConsensusCheckpoint, validatorSet newValidatorSet: ValidatorSet
    ) throws(ConsensusError) -> [ConsensusAction] {
        try checkpoint.validate()
        guard checkpoint.height > height else {
            throw ConsensusError(
                .invalidCheckpoint, "checkpoint height \(checkpoint.height) is not above the current height \(height)")
        }
        precondition(outbox.isEmpty, "the outbox is emptied at the end of every event")
        resetHeight(checkpoint.height, validatorSet: newValidatorSet)
        lockedRound = checkpoint.lockedRound
        lockedBlockID = checkpoint.lockedBlockID
        validRound = checkpoint.validRound
        validBlockID = checkpoint.validBlockID
        lastSigned = checkpoint.lastSigned
        let resumeRound = checkpoint.resumeRound
        if let signed = checkpoint.lastSigned, signed.round == resumeRound, signed.kind != .proposal {
            // Already voted in this round: continue from the step after that vote.
            round = resumeRound
            step = signed.kind == .prevote ? .prevote : .precommit
        } else {
            startRound(resumeRound)
        }
        evaluateRules()
        return takeOutbox()
    }

    /// What the driver persists before signing anything this machine asks it to sign.
    public var checkpoint: ConsensusCheckpoint {
        ConsensusCheckpoint(
            height: height, round: round, lockedRound: lockedRound, lockedBlockID: lockedBlockID, validRound: validRound,
            validBlockID: validBlockID, lastSigned: lastSigned)
    }

    /// The proposer of `round` at the current height, or nil before the first start.
    public func proposer(round: UInt32) -> PublicKey? {
        guard height > 0, var copy = schedule else { return nil }
        return copy.proposer(height: height, round: round).publicKey
    }

    /// The rounds of the current height for which messages are held, ascending.
    public var storedRounds: [UInt32] { rounds.keys.sorted() }

    /// The proposal held for `round` at the current height.
    public func proposal(round: UInt32) -> Proposal? { rounds[round]?.proposal }

    /// The votes of `type` held for `round` at the current height, in ascending validator
    /// order, an equivocator's votes after its first (what a driver relays to peers that
    /// lack them: Algorithm 1's liveness assumes that what one correct validator received,
    /// every correct validator eventually receives).
    public func votes(round: UInt32, type: VoteType) -> [Vote] {
        guard let state = rounds[round] else { return [] }
        let set = state.votes(type)
        return set.validatorSet.validators.flatMap { set.allVotes(of: $0.publicKey) }
    }

    // MARK: - Heights and rounds

    private mutating func startHeight(_ newHeight: UInt64, validatorSet newValidatorSet: ValidatorSet) {
        guard newHeight > height else {
            counters.ignoredEvents += 1
            return
        }
        let buffered = nextHeightMessages
        resetHeight(newHeight, validatorSet: newValidatorSet)
        startRound(0)  // Algorithm 1 line 10 (and line 54 once the driver has stored the decision).
        for message in buffered where message.height == newHeight {
            switch message {
            case .proposal(let proposal): receiveProposal(proposal)
            case .vote(let vote): receiveVote(vote)
            }
        }
    }

    /// Clears everything that belongs to one height (Algorithm 1 line 53).
    private mutating func resetHeight(_ newHeight: UInt64, validatorSet newValidatorSet: ValidatorSet) {
        height = newHeight
        round = 0
        step = .propose
        lockedRound = nil
        lockedBlockID = nil
        validRound = nil
        validBlockID = nil
        decision = nil
        lastSigned = nil
        if schedule?.validatorSet != newValidatorSet {
            schedule = ProposerSchedule(validatorSet: newValidatorSet)
        }
        validatorSet = newValidatorSet
        isValidator = validatorKey.flatMap { newValidatorSet.validator(for: $0) } != nil
        detectedEvidence = []
        rounds = [:]
        validity = [:]
        validationsRequested = []
        decisionCandidates = []
        highestRounds = [:]
        skipCandidate = nil
        pendingCertificate = nil
        nextHeightMessages = []
        nextHeightMessageSet = []
    }

    /// StartRound (Algorithm 1 lines 11-21).
    private mutating func startRound(_ newRound: UInt32) {
        precondition(newRound >= round && decision == nil, "rounds only move forward within an undecided height")
        round = newRound
        step = .propose
        if isValidator, proposerKey(for: newRound) == validatorKey,
            !hasSigned(SignedStep(round: newRound, kind: .proposal))
        {
            if let validBlockID {
                // Lines 15-16: re-propose the value seen with a polka, with its round.
                emitProposal(blockID: validBlockID, validRound: validRound)
            } else {
                // Line 18: getValue() is asynchronous here; `.proposalValue` continues it.
                outbox.append(.requestProposalValue(height: height, round: newRound))
            }
        }
        // Line 21 (for every validator; see the type's notes on the proposer).
        scheduleTimeout(.propose)
        if let skipCandidate, skipCandidate <= newRound { self.skipCandidate = nil }
    }

    private mutating func proposerKey(for proposalRound: UInt32) -> PublicKey {
        guard schedule != nil else { preconditionFailure("a height has started, so its schedule exists") }
        return schedule!.proposer(height: height, round: proposalRound).publicKey
    }

    private mutating func scheduleTimeout(_ kind: Timeout.Kind) {
        outbox.append(
            .scheduleTimeout(
                Timeout(kind: kind, height: height, round: round),
                afterMilliseconds: configuration.timeoutMilliseconds(kind, round: round)))
    }

    // MARK: - Inputs

    private mutating func receiveProposal(_ proposal: Proposal) {
        guard admitHeight(proposal.height, buffering: .proposal(proposal)) else { return }
        do { try proposal.validate() } catch {
            counters.droppedMalformed += 1
            return
        }
        guard isInWindow(proposal.round) else {
            // Not even the proposer is computed for a far round (that can cost many
            // selections); votes carry the news that a round is under way.
            counters.droppedRoundOutOfWindow += 1
            return
        }
        guard proposal.proposer == proposerKey(for: proposal.round) else {
            counters.droppedWrongProposer += 1
            return
        }
        if let held = rounds[proposal.round]?.proposal {
            if held == proposal {
                counters.droppedDuplicate += 1
            } else if proposal.hasValidSignature(chainID: chainID) {
                // The proposer signed two proposals for one round. SocaiCore has no evidence
                // type for that; keep the first, as every rule needs only one.
                counters.droppedConflictingProposal += 1
            } else {
                counters.droppedInvalidSignature += 1
            }
            return
        }
        guard proposal.hasValidSignature(chainID: chainID) else {
            counters.droppedInvalidSignature += 1
            return
        }
        guard ensureRound(proposal.round) else {
            counters.droppedRoundOutOfWindow += 1
            return
        }
        rounds[proposal.round]!.proposal = proposal
        counters.proposalsAccepted += 1
        noteRound(proposal.round, reachedBy: proposal.proposer)
        // Ask for valid(v) now: every rule that uses the proposal needs it.
        _ = validity(of: proposal.blockID)
    }

    private mutating func receiveVote(_ vote: Vote) {
        guard admitHeight(vote.height, buffering: .vote(vote)) else { return }
        do { try vote.validate() } catch {
            counters.droppedMalformed += 1
            return
        }
        guard let validatorSet, validatorSet.validator(for: vote.validator) != nil else {
            counters.droppedNotValidator += 1
            return
        }
        guard isInWindow(vote.round) else {
            // Too far ahead to store, but an authenticated vote shows its signer has reached
            // that round (line 55). At most one check per validator and higher round.
            if vote.round > highestRounds[vote.validator] ?? 0 {
                guard vote.hasValidSignature(chainID: chainID) else {
                    counters.droppedInvalidSignature += 1
                    return
                }
                noteRound(vote.round, reachedBy: vote.validator)
            }
            counters.droppedRoundOutOfWindow += 1
            return
        }
        if rounds[vote.round]?.votes(vote.type).containsIdentical(vote) == true {
            // Gossip delivers copies; recognizing them first saves a signature check.
            counters.droppedDuplicate += 1
            return
        }
        guard vote.hasValidSignature(chainID: chainID) else {
            counters.droppedInvalidSignature += 1
            return
        }
        guard ensureRound(vote.round) else {
            counters.droppedRoundOutOfWindow += 1
            return
        }
        switch rounds[vote.round]!.add(vote) {
        case .added:
            counters.votesAccepted += 1
            noteRound(vote.round, reachedBy: vote.validator)
        case .duplicate:
            counters.droppedDuplicate += 1
            return
        case .conflicting(let existing):
            counters.equivocatingVotes += 1
            report(existing, vote)
        case .conflictingAgain:
            counters.equivocatingVotes += 1
        case .conflictOverLimit:
            counters.droppedEquivocationOverLimit += 1
            return
        case .notMember, .mismatched:
            preconditionFailure("membership, height, round and type were checked before adding the vote")
        }
        if vote.type == .precommit, !rounds[vote.round]!.precommitQuorumNoted,
            rounds[vote.round]!.precommits.blockWithQuorum != nil
        {
            rounds[vote.round]!.precommitQuorumNoted = true
            decisionCandidates.append(vote.round)
        }
    }

    private mutating func receiveCertificate(_ certificate: CommitCertificate) {
        guard height > 0, certificate.height == height else {
            counters.droppedWrongHeight += 1
            return
        }
        guard decision == nil else {
            counters.droppedAfterDecision += 1
            return
        }
        guard pendingCertificate == nil, let validatorSet else {
            counters.droppedDuplicate += 1
            return
        }
        do throws(VerificationError) { try certificate.verify(chainID: chainID, validatorSet: validatorSet) } catch {
            counters.droppedInvalidCertificate += 1
            return
        }
        pendingCertificate = certificate
        _ = validity(of: certificate.blockID)
    }

    /// OnTimeoutPropose, OnTimeoutPrevote and OnTimeoutPrecommit (lines 57-67).
    private mutating func expire(_ timeout: Timeout) {
        guard timeout.height == height, timeout.round == round, decision == nil else {
            counters.ignoredEvents += 1
            return
        }
        switch timeout.kind {
        case .propose where step == .propose:
            castVote(.prevote, for: nil)  // Lines 57-60.
            step = .prevote
        case .prevote where step == .prevote:
            castVote(.precommit, for: nil)  // Lines 61-64.
            step = .precommit
        case .precommit where round < Limits.roundMax:
            startRound(round + 1)  // Lines 65-67.
        default:
            counters.ignoredEvents += 1
        }
    }

    /// The rest of StartRound once getValue() answers (lines 18-19).
    private mutating func receiveProposalValue(height valueHeight: UInt64, round valueRound: UInt32, blockID: Hash) {
        guard valueHeight == height, valueRound == round, decision == nil, step == .propose, isValidator,
            validBlockID == nil, proposerKey(for: valueRound) == validatorKey,
            !hasSigned(SignedStep(round: valueRound, kind: .proposal))
        else {
            counters.ignoredEvents += 1
            return
        }
        // The application built this block itself, so it is valid by its own judgment.
        validity[blockID] = true
        emitProposal(blockID: blockID, validRound: nil)
    }

    private mutating func receiveValidity(height validityHeight: UInt64, blockID: Hash, isValid: Bool) {
        guard validityHeight == height, validationsRequested.contains(blockID), validity[blockID] == nil else {
            counters.ignoredEvents += 1
            return
        }
        validity[blockID] = isValid
    }

    /// Returns true when a message of `messageHeight` belongs to the current, undecided
    /// height; buffers next-height messages and counts the rest as dropped.
    private mutating func admitHeight(_ messageHeight: UInt64, buffering message: BufferedMessage) -> Bool {
        if height > 0, messageHeight == height + 1 {
            if nextHeightMessageSet.contains(message) {
                counters.droppedDuplicate += 1
            } else if nextHeightMessages.count >= configuration.nextHeightMessagesMax {
                counters.droppedBufferFull += 1
            } else {
                // Verified when replayed: the next height's validator set is not known yet.
                nextHeightMessages.append(message)
                nextHeightMessageSet.insert(message)
            }
            return false
        }
        guard height > 0, messageHeight == height else {
            counters.droppedWrongHeight += 1
            return false
        }
        guard decision == nil else {
            counters.droppedAfterDecision += 1
            return false
        }
        return true
    }

    /// Rounds above the current one are accepted up to `futureRoundsMax` ahead.
    private func isInWindow(_ messageRound: UInt32) -> Bool {
        UInt64(messageRound) <= UInt64(round) + UInt64(configuration.futureRoundsMax)
    }

    /// Makes sure `messageRound` has state, evicting an old round if the store is full.
    /// Returns false when the round itself was the one evicted.
    private mutating func ensureRound(_ messageRound: UInt32) -> Bool {
        if rounds[messageRound] != nil { return true }
        guard let validatorSet else { preconditionFailure("a height has started, so its validator set exists") }
        rounds[messageRound] = RoundState(height: height, round: messageRound, validatorSet: validatorSet)
        while rounds.count > configuration.roundsStoredMax {
            // Rounds at or above the current one and the locked and valid rounds are kept;
            // of the others, forget first the oldest without a polka or commit for a block,
            // which no rule can use again (only lines 28 and 49 look at past rounds).
            let pinned = [lockedRound, validRound].compactMap { $0 }
            let evictable = rounds.keys.filter { $0 < round && !pinned.contains($0) }.sorted()
            let unused = evictable.first { candidate in
                let state = rounds[candidate]!
                return state.prevotes.blockWithQuorum == nil && state.precommits.blockWithQuorum == nil
            }
            guard let victim = unused ?? evictable.first else {
                preconditionFailure("roundsStoredMax leaves room for every round that must be kept")
            }
            rounds[victim] = nil
            decisionCandidates.removeAll { $0 == victim }
        }
        return rounds[messageRound] != nil
    }

    /// Records that `validator` has reached `messageRound`, for the f+1 rule (line 55).
    ///
    /// Algorithm 1 skips to round r on f+1 messages of round r. This counts, for each round r,
    /// the validators heard from in r or any later round, which is the same rule for a node
    /// that missed some of those messages: more than a third of the power includes a correct
    /// validator that has really reached r, so faulty validators alone cannot push a node
    /// forward, and skipping rounds never endangers safety. It also lets a node that fell
    /// far behind jump past the window of stored rounds in one step.
    private mutating func noteRound(_ messageRound: UInt32, reachedBy validator: PublicKey) {
        guard let validatorSet, highestRounds[validator].map({ messageRound > $0 }) ?? true else { return }
        highestRounds[validator] = messageRound
        guard messageRound > round else { return }
        var power: UInt64 = 0
        for (member, reached) in highestRounds.sorted(by: { $0.value > $1.value }) {
            guard reached > round, let weight = validatorSet.validator(for: member)?.power else { break }
            power += weight
            if power * 3 > validatorSet.totalPower {
                // Ties in `reached` do not matter: the round where the sum crosses a third is the same.
                if skipCandidate.map({ reached > $0 }) ?? true { skipCandidate = reached }
                return
            }
        }
    }

    /// Reports equivocation once per validator, round and type (the vote set sees to "once").
    private mutating func report(_ existing: Vote, _ conflicting: Vote) {
        guard detectedEvidence.count < configuration.evidencePerHeightMax else {
            counters.evidenceOverLimit += 1
            return
        }
        let evidence: DuplicateVoteEvidence
        do throws(FormatError) { evidence = try DuplicateVoteEvidence(existing, conflicting) } catch {
            preconditionFailure("one validator's votes for one height, round and type with different ids conflict: \(error)")
        }
        detectedEvidence.append(evidence)
        outbox.append(.evidence(evidence))
    }

    /// Algorithm 1's valid(v): the application's answer if known; otherwise asks it (once)
    /// and returns nil, and the rules that need the answer wait for it.
    private mutating func validity(of blockID: Hash) -> Bool? {
        if let known = validity[blockID] { return known }
        if !validationsRequested.contains(blockID) {
            guard validationsRequested.count < configuration.blockValidationsPerHeightMax else {
                counters.validationsOverLimit += 1
                return nil
            }
            validationsRequested.insert(blockID)
            outbox.append(.validateBlock(height: height, blockID: blockID))
        }
        return nil
    }

    // MARK: - Algorithm 1's upon rules

    /// Fires enabled rules until none is. The paper's rules may fire in any order; this one
    /// puts deciding first and round skipping second.
    private mutating func evaluateRules() {
        guard height > 0 else { return }
        var firings = 0
        while decision == nil {
            if decideIfPossible() { return }
            let fired = skipRoundIfBehind() || prevoteOnProposal() || lockOnPolka() || precommitNilOnNilPolka()
            scheduleQuorumTimeouts()
            guard fired else { return }
            firings += 1
            precondition(firings <= Self.ruleFiringsPerEventMax, "consensus rules kept firing for one event")
        }
    }

    /// Line 49 (and a verified certificate from outside): 2f+1 precommits for a valid block.
    private mutating func decideIfPossible() -> Bool {
        for candidate in decisionCandidates {
            guard let precommits = rounds[candidate]?.precommits, let blockID = precommits.blockWithQuorum else { continue }
            guard validity(of: blockID) == true else { continue }
            let certificate: CommitCertificate
            do throws(FormatError) { certificate = try CommitCertificate(precommits: precommits.votes(for: blockID)) } catch {
                preconditionFailure("a quorum of verified precommits for one block always makes a certificate: \(error)")
            }
            decide(blockID: blockID, certificate: certificate)
            return true
        }
        if let pendingCertificate, validity(of: pendingCertificate.blockID) == true {
            decide(blockID: pendingCertificate.blockID, certificate: pendingCertificate)
            return true
        }
        return false
    }

    private mutating func decide(blockID: Hash, certificate: CommitCertificate) {
        precondition(decision == nil && certificate.height == height && certificate.blockID == blockID)
        decision = ConsensusDecision(blockID: blockID, certificate: certificate)
        outbox.append(.commit(height: height, blockID: blockID, certificate: certificate))
    }

    /// Line 55: messages from more than a third of the power in a higher round.
    private mutating func skipRoundIfBehind() -> Bool {
        guard let target = skipCandidate, target > round else { return false }
        startRound(target)
        return true
    }

    /// Lines 22-27 (no valid round) and 28-33 (a valid round with its polka).
    private mutating func prevoteOnProposal() -> Bool {
        guard step == .propose, let proposal = rounds[round]?.proposal else { return false }
        let blockID = proposal.blockID
        let accept: Bool
        if let proposalValidRound = proposal.validRound {
            // Line 28: needs 2f+1 prevotes for the block in its valid round.
            guard proposalValidRound < round, rounds[proposalValidRound]?.prevotes.hasQuorum(for: blockID) == true,
                let isValid = validity(of: blockID)
            else { return false }
            // Line 29: a lock from round ≤ vr gives way to the newer polka.
            let lockAllows = (lockedRound.map { $0 <= proposalValidRound } ?? true) || lockedBlockID == blockID
            accept = isValid && lockAllows
        } else {
            // Line 22.
            guard let isValid = validity(of: blockID) else { return false }
            accept = isValid && (lockedRound == nil || lockedBlockID == blockID)
        }
        castVote(.prevote, for: accept ? blockID : nil)
        step = .prevote
        return true
    }

    /// Lines 36-43: the round's proposal, valid, with 2f+1 prevotes for it.
    private mutating func lockOnPolka() -> Bool {
        guard step >= .prevote, let state = rounds[round], !state.lockRuleFired, let proposal = state.proposal,
            state.prevotes.hasQuorum(for: proposal.blockID), validity(of: proposal.blockID) == true
        else { return false }
        rounds[round]!.lockRuleFired = true
        if step == .prevote {
            lockedBlockID = proposal.blockID
            lockedRound = round
            castVote(.precommit, for: proposal.blockID)
            step = .precommit
        }
        validBlockID = proposal.blockID
        validRound = round
        return true
    }

    /// Lines 44-46: 2f+1 nil prevotes.
    private mutating func precommitNilOnNilPolka() -> Bool {
        guard step == .prevote, rounds[round]?.prevotes.hasQuorum(for: nil) == true else { return false }
        castVote(.precommit, for: nil)
        step = .precommit
        return true
    }

    /// Lines 34-35 and 47-48: start the prevote and precommit timeouts once per round.
    private mutating func scheduleQuorumTimeouts() {
        guard let state = rounds[round] else { return }
        if step == .prevote, !state.prevoteTimeoutScheduled, state.prevotes.hasQuorumAny {
            rounds[round]!.prevoteTimeoutScheduled = true
            scheduleTimeout(.prevote)
        }
        if !state.precommitTimeoutScheduled, state.precommits.hasQuorumAny {
            rounds[round]!.precommitTimeoutScheduled = true
            scheduleTimeout(.precommit)
        }
    }

    // MARK: - Signing requests

    private func hasSigned(_ signedStep: SignedStep) -> Bool {
        lastSigned.map { $0 >= signedStep } ?? false
    }

    /// Asks the driver to sign a vote; a validator that is not in this height's set only
    /// follows. The watermark makes double signing impossible by construction.
    private mutating func castVote(_ type: VoteType, for blockID: Hash?) {
        guard isValidator, let validatorKey else { return }
        let signedStep = SignedStep(round: round, voteType: type)
        precondition(!hasSigned(signedStep), "never sign two votes for one height, round and type")
        lastSigned = signedStep
        outbox.append(
            .signVote(Vote(type: type, height: height, round: round, blockID: blockID, validator: validatorKey)))
    }

    private mutating func emitProposal(blockID: Hash, validRound proposalValidRound: UInt32?) {
        guard let validatorKey else { preconditionFailure("only a validator proposes") }
        let signedStep = SignedStep(round: round, kind: .proposal)
        precondition(!hasSigned(signedStep), "never sign two proposals for one height and round")
        precondition(proposalValidRound.map { $0 < round } ?? true, "a valid round is always below the round proposed in")
        lastSigned = signedStep
        outbox.append(
            .signProposal(
                Proposal(height: height, round: round, validRound: proposalValidRound, blockID: blockID, proposer: validatorKey)
            ))
    }

    private mutating func takeOutbox() -> [ConsensusAction] {
        let actions = outbox
        outbox = []
        return actions
    }
}

/// The messages and once-only flags of one round of the current height.
struct RoundState: Sendable {
    var proposal: Proposal?
    var prevotes: VoteSet
    var precommits: VoteSet
    /// "For the first time" flags of lines 34, 47 and 36.
    var prevoteTimeoutScheduled = false
    var precommitTimeoutScheduled = false
    var lockRuleFired = false
    /// Whether this round is already among the decision candidates.
    var precommitQuorumNoted = false

    init(height: UInt64, round: UInt32, validatorSet: ValidatorSet) {
        prevotes = VoteSet(height: height, round: round, type: .prevote, validatorSet: validatorSet)
        precommits = VoteSet(height: height, round: round, type: .precommit, validatorSet: validatorSet)
    }

    func votes(_ type: VoteType) -> VoteSet { type == .prevote ? prevotes : precommits }

    mutating func add(_ vote: Vote) -> VoteSet.Addition {
        vote.type == .prevote ? prevotes.add(vote) : precommits.add(vote)
    }
}

/// A message held for the next height.
enum BufferedMessage: Hashable, Sendable {
    case proposal(Proposal)
    case vote(Vote)

    var height: UInt64 {
        switch self {
        case .proposal(let proposal): return proposal.height
        case .vote(let vote): return vote.height
        }
    }
}
