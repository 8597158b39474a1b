import SocaiConsensus
import SocaiCore
import SocaiCrypto
import Testing

/// Deterministic keys, blocks and signing helpers shared by the consensus tests.
enum TestSupport {
    static let chainID = try! ChainID("socai-consensus-test")
    static let otherChainID = try! ChainID("socai-other-chain")

    /// Twelve fixed keys; their seeds are SHA-256 of "validator-N".
    static let keys: [SigningKey] = (0..<12).map { index in
        try! SigningKey(seed: SHA256.hash(Array("validator-\(index)".utf8)))
    }

    static func publicKey(_ index: Int) -> PublicKey { PublicKey(of: keys[index]) }

    /// A validator set of keys 0..<powers.count with the given powers.
    static func validatorSet(powers: [UInt64]) -> ValidatorSet {
        try! ValidatorSet(powers.enumerated().map { Validator(publicKey: publicKey($0.offset), power: $0.element) })
    }

    /// A block id that stands for a whole block: the simulation and the rule tests need no contents.
    static func block(_ name: String) -> Hash { Hash.sha256(Array("block-\(name)".utf8)) }

    static func signed(_ vote: Vote, with key: SigningKey, chainID: ChainID = chainID) -> Vote {
        var vote = vote
        vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: key)
        return vote
    }

    static func signed(_ proposal: Proposal, with key: SigningKey, chainID: ChainID = chainID) -> Proposal {
        var proposal = proposal
        proposal.signature = Signature(signing: proposal.signingBytes(chainID: chainID), with: key)
        return proposal
    }
}

/// Filters over a list of actions.
extension Array where Element == ConsensusAction {
    var votesToSign: [Vote] {
        compactMap { if case .signVote(let vote) = $0 { return vote } else { return nil } }
    }
    var proposalsToSign: [Proposal] {
        compactMap { if case .signProposal(let proposal) = $0 { return proposal } else { return nil } }
    }
    var timeouts: [Timeout] {
        compactMap { if case .scheduleTimeout(let timeout, _) = $0 { return timeout } else { return nil } }
    }
    var timeoutDurations: [UInt64] {
        compactMap { if case .scheduleTimeout(_, let milliseconds) = $0 { return milliseconds } else { return nil } }
    }
    var validations: [Hash] {
        compactMap { if case .validateBlock(_, let blockID) = $0 { return blockID } else { return nil } }
    }
    var valueRequests: [UInt32] {
        compactMap { if case .requestProposalValue(_, let round) = $0 { return round } else { return nil } }
    }
    var commits: [(height: UInt64, blockID: Hash, certificate: CommitCertificate)] {
        compactMap { action in
            if case .commit(let height, let blockID, let certificate) = action { return (height, blockID, certificate) }
            return nil
        }
    }
    var evidence: [DuplicateVoteEvidence] {
        compactMap { if case .evidence(let evidence) = $0 { return evidence } else { return nil } }
    }
}

/// One machine under test, surrounded by signed messages from the other validators.
struct Harness {
    let powers: [UInt64]
    let set: ValidatorSet
    let me: Int
    let height: UInt64
    var machine: ConsensusMachine
    /// Every action the machine produced, in order.
    var log: [ConsensusAction] = []

    /// A machine for validator `me` of a set with `powers`, started at `height`.
    init(
        powers: [UInt64] = [1, 1, 1, 1], me: Int, height: UInt64 = 1,
        configuration: ConsensusConfiguration = ConsensusConfiguration(), start: Bool = true, observer: Bool = false
    ) {
        self.powers = powers
        set = TestSupport.validatorSet(powers: powers)
        self.me = me
        self.height = height
        machine = try! ConsensusMachine(
            chainID: TestSupport.chainID, validatorKey: observer ? nil : TestSupport.publicKey(me),
            configuration: configuration)
        if start { feed(.start(height: height, validatorSet: set)) }
    }

    /// The index of the proposer of `round` at `height` for `powers`.
    static func proposerIndex(powers: [UInt64] = [1, 1, 1, 1], height: UInt64 = 1, round: UInt32) -> Int {
        let set = TestSupport.validatorSet(powers: powers)
        let key = ProposerSchedule.proposer(in: set, height: height, round: round).publicKey
        return (0..<powers.count).first { TestSupport.publicKey($0) == key }!
    }

    /// A validator index that proposes none of `rounds`.
    static func nonProposer(powers: [UInt64] = [1, 1, 1, 1], height: UInt64 = 1, rounds: [UInt32]) -> Int {
        let proposers = Set(rounds.map { proposerIndex(powers: powers, height: height, round: $0) })
        return (0..<powers.count).first { !proposers.contains($0) }!
    }

    func proposer(_ round: UInt32) -> Int { Self.proposerIndex(powers: powers, height: height, round: round) }

    /// Feeds an event and returns its actions.
    @discardableResult
    mutating func feed(_ event: ConsensusEvent) -> [ConsensusAction] {
        let actions = machine.handle(event)
        log += actions
        return actions
    }

    /// Signs every vote and proposal in `actions` with this validator's key and feeds them
    /// back, as a driver does; returns every action that caused, transitively.
    @discardableResult
    mutating func signAndFeedBack(_ actions: [ConsensusAction]) -> [ConsensusAction] {
        var produced: [ConsensusAction] = []
        for action in actions {
            switch action {
            case .signVote(let vote):
                let more = feed(.vote(TestSupport.signed(vote, with: TestSupport.keys[me])))
                produced += more + signAndFeedBack(more)
            case .signProposal(let proposal):
                let more = feed(.proposal(TestSupport.signed(proposal, with: TestSupport.keys[me])))
                produced += more + signAndFeedBack(more)
            default:
                break
            }
        }
        return produced
    }

    /// Feeds an event, then signs and feeds back whatever it asks to sign.
    @discardableResult
    mutating func drive(_ event: ConsensusEvent) -> [ConsensusAction] {
        let actions = feed(event)
        return actions + signAndFeedBack(actions)
    }

    func vote(_ type: VoteType, from index: Int, round: UInt32, _ blockID: Hash?, height: UInt64? = nil) -> Vote {
        TestSupport.signed(
            Vote(
                type: type, height: height ?? self.height, round: round, blockID: blockID,
                validator: TestSupport.publicKey(index)),
            with: TestSupport.keys[index])
    }

    func proposal(from index: Int, round: UInt32, validRound: UInt32? = nil, _ blockID: Hash) -> Proposal {
        TestSupport.signed(
            Proposal(
                height: height, round: round, validRound: validRound, blockID: blockID,
                proposer: TestSupport.publicKey(index)),
            with: TestSupport.keys[index])
    }

    /// Feeds votes of `type` for `blockID` from each of `validators`; returns the actions.
    @discardableResult
    mutating func votes(_ type: VoteType, from validators: [Int], round: UInt32, _ blockID: Hash?) -> [ConsensusAction] {
        var actions: [ConsensusAction] = []
        for index in validators { actions += drive(.vote(vote(type, from: index, round: round, blockID))) }
        return actions
    }

    /// Indices of the other validators, excluding `me` and `excluding`.
    func others(excluding excluded: [Int] = []) -> [Int] {
        (0..<set.validators.count).filter { $0 != me && !excluded.contains($0) }
    }
}
