import SocaiConsensus
import SocaiCore
import SocaiCrypto

/// SplitMix64: every random choice of a simulation comes from one seed.
public struct SimulationRandom: Sendable {
    private var state: UInt64

    /// A generator whose every draw follows from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
        return mixed ^ (mixed >> 31)
    }

    /// A number in 0..<bound (the modulo bias is irrelevant at these sizes).
    public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        return next() % bound
    }

    /// A number in low...high.
    public mutating func between(_ low: UInt64, _ high: UInt64) -> UInt64 { low + below(high - low + 1) }

    /// True with the given probability.
    public mutating func chance(_ probability: Double) -> Bool {
        Double(next() >> 11) / Double(UInt64(1) << 53) < probability
    }

    /// One of `elements`, which must not be empty.
    public mutating func pick<Element>(_ elements: [Element]) -> Element { elements[Int(below(UInt64(elements.count)))] }
}

/// The simulated clock: a binary min-heap of timed events. Events at the same time come out
/// in the order they were pushed, so a run depends on nothing but its seed.
struct EventQueue<Payload> {
    private var heap: [(time: UInt64, sequence: UInt64, payload: Payload)] = []
    private var pushed: UInt64 = 0

    var count: Int { heap.count }

    mutating func push(at time: UInt64, _ payload: Payload) {
        heap.append((time, pushed, payload))
        pushed += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (time: UInt64, payload: Payload)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, Self.before(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count, Self.before(heap[right], heap[smallest]) { smallest = right }
            if smallest == parent { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return (top.time, top.payload)
    }

    private static func before(
        _ left: (time: UInt64, sequence: UInt64, payload: Payload), _ right: (time: UInt64, sequence: UInt64, payload: Payload)
    ) -> Bool {
        (left.time, left.sequence) < (right.time, right.sequence)
    }
}

/// A validator set to simulate, and which of its members may play the Byzantine one.
public struct SimulationVariant: Sendable, CustomStringConvertible {
    /// A short name for reports.
    public let name: String
    /// Each validator's voting power.
    public let powers: [UInt64]
    /// Members each holding less than a third of the power; one is chosen per seed to
    /// equivocate. Empty: every validator is honest.
    public let byzantineCandidates: [Int]

    /// The name.
    public var description: String { name }

    /// Four equal honest validators.
    public static let equalHonest = SimulationVariant(name: "4 equal, honest", powers: [1, 1, 1, 1], byzantineCandidates: [])
    /// Four honest validators with powers 1, 2, 3, 4.
    public static let weightedHonest = SimulationVariant(
        name: "4 weighted 1-2-3-4, honest", powers: [1, 2, 3, 4], byzantineCandidates: [])
    /// Four equal validators, one of them equivocating.
    public static let equalByzantine = SimulationVariant(
        name: "4 equal, 1 equivocating", powers: [1, 1, 1, 1], byzantineCandidates: [0, 1, 2, 3])
    /// Four weighted validators, the power-3 one equivocating. Total 11: the power-3 validator
    /// is under a third (3.67); the honest 8 are a quorum.
    public static let weightedByzantine = SimulationVariant(
        name: "4 weighted 4-3-2-2, power 3 equivocating", powers: [4, 3, 2, 2], byzantineCandidates: [1])
    /// Seven equal validators, one of them equivocating.
    public static let sevenByzantine = SimulationVariant(
        name: "7 equal, 1 equivocating", powers: [1, 1, 1, 1, 1, 1, 1], byzantineCandidates: [0, 1, 2, 3, 4, 5, 6])

    /// Every variant, in the order the swarm cycles through them.
    public static let all: [SimulationVariant] = [equalHonest, weightedHonest, equalByzantine, weightedByzantine, sevenByzantine]
}

/// The faults one seed injects: a chaotic phase (drops, duplicates, long and reordering
/// delays, maybe a partition), then a healed phase in which progress is required.
public struct SimulationScenario: Sendable, CustomStringConvertible {
    /// How the Byzantine validator misbehaves.
    public enum Strategy: String, Sendable {
        /// Each vote gets a twin for another block id (or nil); each peer gets one or both.
        case randomTwins = "random twins"
        /// Tries to split decisions: its precommit for a block goes to one honest validator
        /// only (the others get a nil twin), and as proposer it always proposes a fresh
        /// block without a valid round. A validator that forgot its lock would then commit
        /// a second block.
        case splitBrain = "split brain"
    }

    /// The equivocating validator, if any.
    public var byzantine: Int?
    /// How it equivocates.
    public var strategy: Strategy
    /// When the chaotic phase ends and the network heals.
    public var chaosEndMilliseconds: UInt64
    /// Chance that a message is lost while chaotic.
    public var dropProbability: Double
    /// Chance that a message is delivered twice while chaotic.
    public var duplicateProbability: Double
    /// Longest delivery delay while chaotic (delays reorder messages).
    public var delayMaxMilliseconds: UInt64
    /// While in [start, end), messages between the two sides are lost.
    public var partition: (startMilliseconds: UInt64, endMilliseconds: UInt64, side: [Bool])?
    /// Chance that a message is lost after healing.
    public var healedDropProbability: Double
    /// Longest delivery delay after healing.
    public var healedDelayMaxMilliseconds: UInt64
    /// An honest validator that crashes (losing everything but its store and its signer's
    /// checkpoint) at `startMilliseconds` and restarts at `endMilliseconds`, within the chaos.
    public var crash: (node: Int, startMilliseconds: UInt64, endMilliseconds: UInt64)?
    /// Each validator's clock rate in thousandths: its timeouts and gossip ticks last
    /// `rate / 1000` times as long as asked (clock skew between validators).
    public var clockRatesPermille: [UInt64]

    /// Slowest and fastest clock rate drawn, in thousandths.
    public static let clockRatePermilleRange: ClosedRange<UInt64> = 700...1_400

    /// The faults of `seed`. Without `extendedFaults` no crash and no clock skew are drawn, so
    /// the seeds pinned before they existed keep their runs.
    public init(seed: UInt64, variant: SimulationVariant, extendedFaults: Bool = true) {
        var random = SimulationRandom(seed: seed ^ 0x5eed_5eed_5eed_5eed)
        byzantine = variant.byzantineCandidates.isEmpty ? nil : random.pick(variant.byzantineCandidates)
        strategy = random.chance(0.5) ? .randomTwins : .splitBrain
        chaosEndMilliseconds = random.between(1_000, 15_000)
        dropProbability = random.pick([0, 0.05, 0.15, 0.3])
        duplicateProbability = random.pick([0, 0.1, 0.3])
        delayMaxMilliseconds = random.pick([10, 100, 400, 1_500])
        if random.chance(0.6) {
            let start = random.below(chaosEndMilliseconds)
            let end = start + random.between(300, chaosEndMilliseconds)
            var side = variant.powers.map { _ in random.chance(0.5) }
            if side.allSatisfy({ $0 }) || side.allSatisfy({ !$0 }) { side[Int(random.below(UInt64(side.count)))].toggle() }
            partition = (start, end, side)
        }
        healedDropProbability = random.pick([0, 0.02])
        healedDelayMaxMilliseconds = random.pick([5, 50])
        clockRatesPermille = variant.powers.map { _ in 1_000 }
        guard extendedFaults else { return }
        // A separate stream, so the faults above stay those of the seed without extensions.
        var extended = SimulationRandom(seed: seed ^ 0xc4a5_c4a5_c4a5_c4a5)
        let honest = variant.powers.indices.filter { $0 != byzantine }
        if extended.chance(0.4), chaosEndMilliseconds > 1_000 {
            let start = extended.below(chaosEndMilliseconds - 500)
            let end = min(chaosEndMilliseconds, start + extended.between(200, 4_000))
            crash = (extended.pick(honest), start, end)
        }
        if extended.chance(0.5) {
            clockRatesPermille = variant.powers.map { _ in
                extended.between(Self.clockRatePermilleRange.lowerBound, Self.clockRatePermilleRange.upperBound)
            }
        }
    }

    /// One line naming every fault.
    public var description: String {
        var text =
            "chaos until \(chaosEndMilliseconds) ms: drop \(dropProbability), duplicate \(duplicateProbability), "
            + "delay ≤ \(delayMaxMilliseconds) ms"
        if let partition {
            text += ", partition \(partition.side.map { $0 ? "A" : "B" }.joined()) "
            text += "in [\(partition.startMilliseconds), \(partition.endMilliseconds)) ms"
        }
        if let byzantine { text += ", validator \(byzantine) equivocates (\(strategy.rawValue))" }
        if let crash { text += ", validator \(crash.node) crashes in [\(crash.startMilliseconds), \(crash.endMilliseconds)) ms" }
        if clockRatesPermille.contains(where: { $0 != 1_000 }) {
            text += ", clock rates \(clockRatesPermille.map { String($0) }.joined(separator: "/"))‰"
        }
        return text + "; healed: drop \(healedDropProbability), delay ≤ \(healedDelayMaxMilliseconds) ms"
    }
}

/// What one run did, and every invariant it broke.
public struct SimulationReport: Sendable {
    /// Every invariant broken (at most five are collected).
    public var failures: [String] = []
    /// Each node's committed height at the end.
    public var committedHeights: [UInt64] = []
    /// The highest round any height was committed in.
    public var maxCommitRound: UInt32 = 0
    /// How often an honest lock moved to another block at one height.
    public var lockChanges = 0
    /// Evidence reports by honest nodes.
    public var evidenceReported = 0
    /// Conflicting vote pairs the Byzantine validator sent.
    public var equivocations = 0
    /// Crash-restarts carried out.
    public var restarts = 0
    /// Events processed.
    public var events = 0
    /// Simulated time at the end.
    public var simulatedMilliseconds: UInt64 = 0
    /// FNV-1a over every honest commit, to check that a seed reproduces its run exactly.
    public var digest: UInt64 = 0xcbf2_9ce4_8422_2325
}

/// N real `ConsensusMachine`s, each behind a driver that signs, persists a last-signed
/// watermark, and plays the application; a seeded network between them; a simulated clock.
public final class Simulation {
    /// How often each node re-sends its recent messages (its own votes and proposal, and its
    /// last certificate), as CometBFT's gossip does: lost messages are eventually replaced.
    static let gossipIntervalMilliseconds: UInt64 = 250
    /// Heights every honest node must add after the network heals.
    static let progressHeights: UInt64 = 3
    /// Simulated time allowed for that progress.
    static let progressBoundMilliseconds: UInt64 = 120_000
    /// Most events one run may process before it counts as stuck.
    static let eventsMax = 2_000_000
    /// Most own messages a node keeps for re-sending at one height.
    static let ownMessagesMax = 64
    /// Votes relayed per round and gossip tick.
    static let relayedVotesPerRound = 3
    /// Most events one input may cause through the driver's feedback (own votes and proposals).
    static let feedbackEventsMax = 64

    enum Message {
        case proposal(Proposal)
        case vote(Vote)
        case certificate(CommitCertificate)

        var height: UInt64 {
            switch self {
            case .proposal(let proposal): return proposal.height
            case .vote(let vote): return vote.height
            case .certificate(let certificate): return certificate.height
            }
        }

        var round: UInt32 {
            switch self {
            case .proposal(let proposal): return proposal.round
            case .vote(let vote): return vote.round
            case .certificate(let certificate): return certificate.round
            }
        }

        var event: ConsensusEvent {
            switch self {
            case .proposal(let proposal): return .proposal(proposal)
            case .vote(let vote): return .vote(vote)
            case .certificate(let certificate): return .certificate(certificate)
            }
        }
    }

    /// A timed event. Inputs and gossip ticks carry the incarnation of the node that
    /// scheduled them: a crash cancels every timer of the process that died.
    enum Event {
        case deliver(node: Int, Message)
        case input(node: Int, incarnation: UInt32, ConsensusEvent)
        case gossip(node: Int, incarnation: UInt32)
        case crash(node: Int)
        case restart(node: Int)
    }

    struct Node {
        var machine: ConsensusMachine
        let key: SigningKey
        let isByzantine: Bool
        var committedHeight: UInt64 = 0
        var ownMessages: [Message] = []
        /// The certificates of the heights this node committed, for block sync.
        var certificates: [UInt64: CommitCertificate] = [:]
        /// The signer's persisted (height, step): nothing at or below it is signed again.
        var watermark: (height: UInt64, step: SignedStep)?
        var lock: (height: UInt64, blockID: Hash?) = (0, nil)
        /// The consensus checkpoint persisted with the watermark before each signature.
        var checkpoint: ConsensusCheckpoint?
        /// The votes recorded with the checkpoint (the last vote, and with a precommit the
        /// prevote before it; none after a proposal): re-sent on resume, as
        /// `ValidatorNode.resendLastVote` does.
        var resendableVotes: [Vote] = []
        /// Whether the process is down (between a crash and its restart).
        var isDown = false
        /// Counts restarts; events of an earlier incarnation are dropped.
        var incarnation: UInt32 = 0
    }

    /// The seed every choice follows from.
    public let seed: UInt64
    /// The validator set simulated.
    public let variant: SimulationVariant
    /// The faults injected.
    public let scenario: SimulationScenario
    /// The validators.
    public let validatorSet: ValidatorSet
    private var random: SimulationRandom
    private var queue = EventQueue<Event>()
    private var now: UInt64 = 0
    private var nodes: [Node] = []
    /// Block ids the application built, with their height: the valid blocks.
    private var registry: [Hash: UInt64] = [:]
    private var blocksByHeight: [UInt64: [Hash]] = [:]
    /// The Byzantine proposer's fresh blocks, by "height/round".
    private var freshProposals: [String: Hash] = [:]
    /// The first honest decision at each height.
    private var decided: [UInt64: Hash] = [:]
    private var report = SimulationReport()

    /// The consensus configuration every simulated validator uses.
    let configuration: ConsensusConfiguration

    /// A simulation of `variant` under the faults of `seed` (see `SimulationScenario`).
    public init(seed: UInt64, variant: SimulationVariant, extendedFaults: Bool = true) {
        self.seed = seed
        self.variant = variant
        scenario = SimulationScenario(seed: seed, variant: variant, extendedFaults: extendedFaults)
        random = SimulationRandom(seed: seed)
        validatorSet = SimulationKeys.validatorSet(powers: variant.powers)
        // Short timeouts, as on a local network; they grow by the same deltas each round.
        configuration = ConsensusConfiguration(
            timeoutProposeMilliseconds: 300, timeoutProposeDeltaMilliseconds: 150, timeoutPrevoteMilliseconds: 150,
            timeoutPrevoteDeltaMilliseconds: 75, timeoutPrecommitMilliseconds: 150, timeoutPrecommitDeltaMilliseconds: 75)
        nodes = variant.powers.indices.map { index in
            Node(
                machine: try! ConsensusMachine(
                    chainID: SimulationKeys.chainID, validatorKey: SimulationKeys.publicKey(index), configuration: configuration),
                key: SimulationKeys.keys[index], isByzantine: index == scenario.byzantine)
        }
    }

    private var honest: [Int] { nodes.indices.filter { !nodes[$0].isByzantine } }

    /// Runs until progress after healing, a failure, or the event bound; returns what happened.
    public func run() -> SimulationReport {
        for index in nodes.indices {
            queue.push(at: random.below(20), .input(node: index, incarnation: 0, .start(height: 1, validatorSet: validatorSet)))
            queue.push(at: random.between(1, Self.gossipIntervalMilliseconds), .gossip(node: index, incarnation: 0))
        }
        if let crash = scenario.crash {
            queue.push(at: crash.startMilliseconds, .crash(node: crash.node))
            queue.push(at: crash.endMilliseconds, .restart(node: crash.node))
        }
        var heightAtHeal: UInt64?
        while let (time, event) = queue.pop() {
            now = time
            if heightAtHeal == nil, now >= scenario.chaosEndMilliseconds {
                heightAtHeal = honest.map { nodes[$0].committedHeight }.max()
            }
            if let heightAtHeal {
                if honest.allSatisfy({ nodes[$0].committedHeight >= heightAtHeal + Self.progressHeights }) { break }
                if now > scenario.chaosEndMilliseconds + Self.progressBoundMilliseconds {
                    fail(
                        "no progress: honest heights \(honest.map { nodes[$0].committedHeight }) at \(now) ms, "
                            + "needed \(heightAtHeal + Self.progressHeights) within \(Self.progressBoundMilliseconds) ms of healing"
                    )
                    break
                }
            }
            report.events += 1
            if report.events > Self.eventsMax {
                fail("over \(Self.eventsMax) events")
                break
            }
            switch event {
            case .deliver(let node, let message):
                if !nodes[node].isDown { input(node, message.event) }
            case .input(let node, let incarnation, let consensusEvent):
                if isCurrent(node, incarnation) { input(node, consensusEvent) }
            case .gossip(let node, let incarnation):
                if isCurrent(node, incarnation) { gossip(from: node) }
            case .crash(let node): crash(node)
            case .restart(let node): restart(node)
            }
            if report.failures.count >= 5 { break }
        }
        report.simulatedMilliseconds = now
        report.committedHeights = nodes.map(\.committedHeight)
        return report
    }

    private func fail(_ message: String) { report.failures.append("at \(now) ms: \(message)") }

    // MARK: Driver

    /// Hands an event to a node's machine and carries out the actions; the node's own
    /// signed messages come straight back to it, as a driver feeds them back.
    private func input(_ node: Int, _ event: ConsensusEvent) {
        let actions = nodes[node].machine.handle(event)
        drive(node, actions, after: event)
    }

    /// Carries out `initialActions` and the actions of every event they feed back.
    private func drive(_ node: Int, _ initialActions: [ConsensusAction], after event: ConsensusEvent?) {
        var pending: [ConsensusEvent] = []
        for action in initialActions { perform(action, at: node, feedback: &pending) }
        var handled = 0
        while handled < pending.count {
            guard handled + 1 < Self.feedbackEventsMax else {
                fail("node \(node): feedback loop over \(Self.feedbackEventsMax) events")
                return
            }
            let actions = nodes[node].machine.handle(pending[handled])
            handled += 1
            for action in actions { perform(action, at: node, feedback: &pending) }
        }
        let machine = nodes[node].machine
        if !nodes[node].isByzantine, let byzantine = scenario.byzantine, case .vote(let vote)? = event,
            vote.validator == SimulationKeys.publicKey(byzantine), machine.height == vote.height
        {
            // Whenever an honest node holds two votes of the Byzantine validator for one step,
            // it must have reported the equivocation.
            let held = machine.votes(round: vote.round, type: vote.type).filter { $0.validator == vote.validator }
            let reported = machine.detectedEvidence.contains { evidence in
                evidence.voteA.validator == vote.validator && evidence.voteA.round == vote.round
                    && evidence.voteA.type == vote.type
            }
            if held.count >= 2, !reported {
                fail("node \(node) holds conflicting votes of validator \(byzantine) at \(vote.height)/\(vote.round) unreported")
            }
        }
        let previous = nodes[node].lock
        if previous.height == machine.height, let old = previous.blockID, let new = machine.lockedBlockID, old != new {
            report.lockChanges += 1
        }
        nodes[node].lock = (machine.height, machine.lockedBlockID)
    }

    /// Whether an event scheduled by incarnation `incarnation` of `node` still applies.
    private func isCurrent(_ node: Int, _ incarnation: UInt32) -> Bool {
        !nodes[node].isDown && nodes[node].incarnation == incarnation
    }

    /// `milliseconds` as the node's skewed clock measures them.
    private func skewed(_ milliseconds: UInt64, at node: Int) -> UInt64 {
        milliseconds * scenario.clockRatesPermille[node] / 1_000
    }

    /// The process dies: its timers, its in-memory consensus state and its unsent messages
    /// are lost; its store (committed heights, certificates) and signer record survive.
    private func crash(_ node: Int) {
        precondition(!nodes[node].isByzantine && !nodes[node].isDown)
        nodes[node].isDown = true
        nodes[node].incarnation += 1
        nodes[node].ownMessages = []
    }

    /// A fresh process: a new machine resumed from the signer's checkpoint when it is for the
    /// next height (as `ValidatorNode.start` does), otherwise started at the next height.
    private func restart(_ node: Int) {
        precondition(nodes[node].isDown)
        nodes[node].isDown = false
        report.restarts += 1
        nodes[node].machine = try! ConsensusMachine(
            chainID: SimulationKeys.chainID, validatorKey: SimulationKeys.publicKey(node), configuration: configuration)
        nodes[node].lock = (0, nil)
        let nextHeight = nodes[node].committedHeight + 1
        if let checkpoint = nodes[node].checkpoint, checkpoint.height == nextHeight {
            do {
                let actions = try nodes[node].machine.resume(from: checkpoint, validatorSet: validatorSet)
                drive(node, actions, after: nil)
                // The identical last votes again: those sent before the crash may be lost.
                for vote in nodes[node].resendableVotes where vote.height == nextHeight {
                    remember(.vote(vote), at: node)
                    broadcast(.vote(vote), from: node)
                    input(node, .vote(vote))
                }
            } catch {
                fail("node \(node) cannot resume from its checkpoint: \(error)")
            }
        } else {
            input(node, .start(height: nextHeight, validatorSet: validatorSet))
        }
        queue.push(
            at: now + random.between(1, Self.gossipIntervalMilliseconds),
            .gossip(node: node, incarnation: nodes[node].incarnation))
    }

    private func perform(_ action: ConsensusAction, at node: Int, feedback: inout [ConsensusEvent]) {
        switch action {
        case .signVote(let vote):
            guard advanceWatermark(node, height: vote.height, step: SignedStep(round: vote.round, voteType: vote.type)) else {
                return
            }
            nodes[node].checkpoint = nodes[node].machine.checkpoint
            let signed = SimulationKeys.signed(vote, with: nodes[node].key)
            let earlier = nodes[node].resendableVotes.filter { $0.height == vote.height && $0.type == .prevote }
            nodes[node].resendableVotes = (vote.type == .precommit ? earlier.suffix(1) : []) + [signed]
            remember(.vote(signed), at: node)
            feedback.append(.vote(signed))
            if nodes[node].isByzantine {
                equivocate(on: vote, at: node, signed: signed)
            } else {
                broadcast(.vote(signed), from: node)
            }
        case .signProposal(let proposal):
            guard advanceWatermark(node, height: proposal.height, step: SignedStep(round: proposal.round, kind: .proposal))
            else { return }
            nodes[node].checkpoint = nodes[node].machine.checkpoint
            nodes[node].resendableVotes = []
            let signed = SimulationKeys.signed(proposal, with: nodes[node].key)
            remember(.proposal(signed), at: node)
            feedback.append(.proposal(signed))
            if nodes[node].isByzantine {
                // Propose a second, fresh and equally valid block with no valid round — what
                // an honest proposer holding a valid value never does — and show each peer
                // one of the two. Validators that forgot a lock would prevote the fresh one.
                var twin = proposal
                twin.blockID = newBlock(node: node, height: proposal.height, round: proposal.round, salt: "twin")
                twin.validRound = nil
                freshProposals["\(proposal.height)/\(proposal.round)"] = twin.blockID
                let signedTwin = SimulationKeys.signed(twin, with: nodes[node].key)
                for peer in nodes.indices where peer != node {
                    let fresh = scenario.strategy == .splitBrain || random.chance(0.5)
                    send(fresh ? .proposal(signedTwin) : .proposal(signed), from: node, to: peer)
                }
            } else {
                broadcast(.proposal(signed), from: node)
            }
        case .scheduleTimeout(let timeout, let milliseconds):
            queue.push(
                at: now + skewed(milliseconds, at: node),
                .input(node: node, incarnation: nodes[node].incarnation, .timeout(timeout)))
        case .requestProposalValue(let height, let round):
            var blockID = newBlock(node: node, height: height, round: round, salt: "value")
            if nodes[node].isByzantine, random.chance(0.25) {
                // Sometimes the faulty proposer proposes a block nobody can validate.
                blockID = Hash.sha256(Array("invalid-\(seed)-\(node)-\(height)-\(round)".utf8))
            }
            queue.push(
                at: now + random.below(20),
                .input(
                    node: node, incarnation: nodes[node].incarnation,
                    .proposalValue(height: height, round: round, blockID: blockID)))
        case .validateBlock(let height, let blockID):
            let isValid = registry[blockID] == height
            queue.push(
                at: now + random.below(20),
                .input(
                    node: node, incarnation: nodes[node].incarnation,
                    .blockValidity(height: height, blockID: blockID, isValid: isValid)))
        case .commit(let height, let blockID, let certificate):
            commit(height: height, blockID: blockID, certificate: certificate, at: node)
        case .evidence(let evidence):
            guard !nodes[node].isByzantine else { return }
            report.evidenceReported += 1
            let accused = evidence.voteA.validator
            if let byzantine = scenario.byzantine, accused == SimulationKeys.publicKey(byzantine) {
                do throws(VerificationError) {
                    try evidence.verify(chainID: SimulationKeys.chainID, validatorSet: validatorSet)
                } catch {
                    fail("node \(node) reported evidence that does not verify: \(error)")
                }
            } else {
                fail("node \(node) accused honest validator \(accused) of equivocation")
            }
        }
    }

    /// The signer's double-sign guard: an honest node's machine must never ask to sign at or
    /// below the watermark (a Byzantine node's equivocation is the simulation's, not its machine's).
    private func advanceWatermark(_ node: Int, height: UInt64, step: SignedStep) -> Bool {
        if let watermark = nodes[node].watermark, (height, step) <= (watermark.height, watermark.step) {
            fail("node \(node) asked to sign \(height)/\(step) at or below its watermark \(watermark.height)/\(watermark.step)")
            return false
        }
        nodes[node].watermark = (height, step)
        return true
    }

    private func newBlock(node: Int, height: UInt64, round: UInt32, salt: String) -> Hash {
        let blockID = Hash.sha256(Array("\(salt)-\(seed)-\(node)-\(height)-\(round)".utf8))
        if registry[blockID] == nil {
            registry[blockID] = height
            blocksByHeight[height, default: []].append(blockID)
        }
        return blockID
    }

    /// The Byzantine validator signs a second vote for the same step with another block id
    /// and sends each peer one of the two, or both, as its strategy says; honest relaying
    /// spreads the rest.
    private func equivocate(on vote: Vote, at node: Int, signed: Vote) {
        let peers = nodes.indices.filter { $0 != node }
        var twin = vote
        switch scenario.strategy {
        case .splitBrain:
            if let fresh = freshProposals["\(vote.height)/\(vote.round)"], fresh != vote.blockID {
                // Back its own fresh proposal everywhere but at one validator.
                twin.blockID = fresh
            } else if vote.type == .precommit, vote.blockID != nil {
                // Let one validator alone see its precommit for the block.
                twin.blockID = nil
            } else {
                broadcast(.vote(signed), from: node)
                return
            }
            let signedTwin = SimulationKeys.signed(twin, with: nodes[node].key)
            let target = random.pick(peers)
            for peer in peers { send(.vote(peer == target ? signed : signedTwin), from: node, to: peer) }
        case .randomTwins:
            let alternatives = (blocksByHeight[vote.height] ?? []).filter { $0 != vote.blockID }
            if vote.blockID == nil {
                twin.blockID = alternatives.last ?? Hash.sha256(Array("phantom-\(seed)-\(vote.height)".utf8))
            } else {
                twin.blockID = alternatives.isEmpty || random.chance(0.5) ? nil : random.pick(alternatives)
            }
            let signedTwin = SimulationKeys.signed(twin, with: nodes[node].key)
            for peer in peers {
                switch random.below(3) {
                case 0: send(.vote(signed), from: node, to: peer)
                case 1: send(.vote(signedTwin), from: node, to: peer)
                default:
                    send(.vote(signed), from: node, to: peer)
                    send(.vote(signedTwin), from: node, to: peer)
                }
            }
        }
        report.equivocations += 1
    }

    private func commit(height: UInt64, blockID: Hash, certificate: CommitCertificate, at node: Int) {
        if !nodes[node].isByzantine {
            if certificate.height != height || certificate.blockID != blockID {
                fail("node \(node): certificate for \(certificate.height)/\(certificate.blockID) commits \(height)/\(blockID)")
            }
            do throws(VerificationError) {
                try certificate.verify(chainID: SimulationKeys.chainID, validatorSet: validatorSet)
            } catch {
                fail("node \(node): certificate at height \(height) does not verify: \(error)")
            }
            if registry[blockID] != height {
                fail("validity: node \(node) committed \(blockID) at height \(height), which no application built for it")
            }
            if let first = decided[height], first != blockID {
                fail("agreement: node \(node) committed \(blockID) at height \(height), another honest node \(first)")
            }
            decided[height] = decided[height] ?? blockID
            if height != nodes[node].committedHeight + 1 {
                fail("node \(node) committed height \(height) after height \(nodes[node].committedHeight)")
            }
            report.maxCommitRound = max(report.maxCommitRound, certificate.round)
            for byte in [UInt8(node), UInt8(truncatingIfNeeded: height)] + blockID.bytes.prefix(8) {
                report.digest = (report.digest ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        nodes[node].committedHeight = height
        nodes[node].certificates[height] = certificate
        nodes[node].ownMessages = []
        // The application executes and stores the block, then starts the next height.
        queue.push(
            at: now + random.between(50, 250),
            .input(
                node: node, incarnation: nodes[node].incarnation, .start(height: height + 1, validatorSet: validatorSet)))
    }

    // MARK: Network

    private func remember(_ message: Message, at node: Int) {
        if nodes[node].ownMessages.count >= Self.ownMessagesMax { nodes[node].ownMessages.removeFirst() }
        nodes[node].ownMessages.append(message)
    }

    private func broadcast(_ message: Message, from node: Int) {
        for peer in nodes.indices where peer != node { send(message, from: node, to: peer) }
    }

    /// Re-sends the node's messages from its current and previous round and one older
    /// message chosen at random, for peers that lost them; relays the current round's
    /// proposal and a few votes it holds, from the current round and from a random earlier
    /// one (Algorithm 1's liveness assumes what one correct validator received, all
    /// eventually receive); and sends each peer at a height this node has committed that
    /// height's certificate (peers learn each other's heights from status messages, as in
    /// CometBFT; this stands in for block sync).
    private func gossip(from node: Int) {
        let machine = nodes[node].machine
        let own = nodes[node].ownMessages.filter { $0.height == machine.height }
        var messages = own.filter { $0.round + 1 >= machine.round }
        if !own.isEmpty { messages.append(random.pick(own)) }
        if let proposal = machine.proposal(round: machine.round) { messages.append(.proposal(proposal)) }
        let stored = machine.storedRounds
        if !stored.isEmpty {
            for round in [machine.round, random.pick(stored)] {
                let held = machine.votes(round: round, type: .prevote) + machine.votes(round: round, type: .precommit)
                for _ in 0..<min(Self.relayedVotesPerRound, held.count) { messages.append(.vote(random.pick(held))) }
            }
        }
        for message in messages { broadcast(message, from: node) }
        for peer in nodes.indices where peer != node {
            if let certificate = nodes[node].certificates[nodes[peer].machine.height] {
                send(.certificate(certificate), from: node, to: peer)
            }
        }
        queue.push(
            at: now + skewed(Self.gossipIntervalMilliseconds, at: node),
            .gossip(node: node, incarnation: nodes[node].incarnation))
    }

    private func send(_ message: Message, from sender: Int, to receiver: Int) {
        let chaotic = now < scenario.chaosEndMilliseconds
        if chaotic, let partition = scenario.partition, now >= partition.startMilliseconds,
            now < partition.endMilliseconds, partition.side[sender] != partition.side[receiver]
        {
            return
        }
        if random.chance(chaotic ? scenario.dropProbability : scenario.healedDropProbability) { return }
        let delayMax = chaotic ? scenario.delayMaxMilliseconds : scenario.healedDelayMaxMilliseconds
        queue.push(at: now + random.between(1, delayMax), .deliver(node: receiver, message))
        if chaotic, random.chance(scenario.duplicateProbability) {
            queue.push(at: now + random.between(1, delayMax), .deliver(node: receiver, message))
        }
    }
}

extension Simulation {
    /// Each node's consensus state, for diagnosing a failing seed.
    public func describeNodes() -> String {
        nodes.indices.map { index in
            let machine = nodes[index].machine
            var text =
                "node \(index)\(nodes[index].isByzantine ? " (byzantine)" : ""): h\(machine.height) r\(machine.round) \(machine.step)"
            text +=
                " locked \(machine.lockedRound.map(String.init) ?? "-")/\(machine.lockedBlockID.map { String($0.hex.prefix(6)) } ?? "-")"
            text +=
                " valid \(machine.validRound.map(String.init) ?? "-")/\(machine.validBlockID.map { String($0.hex.prefix(6)) } ?? "-")"
            text += " decided \(machine.decision != nil) signed \(machine.lastSigned.map { "\($0)" } ?? "-")\n"
            for round in machine.storedRounds.suffix(4) {
                let short: (Vote) -> String = { vote in
                    let who = (0..<12).first { SimulationKeys.publicKey($0) == vote.validator }!
                    return "\(who):\(vote.blockID.map { String($0.hex.prefix(4)) } ?? "nil")"
                }
                text +=
                    "   r\(round) proposal \(machine.proposal(round: round).map { "\($0.blockID.hex.prefix(6)) vr \($0.validRound.map(String.init) ?? "-")" } ?? "-")"
                text += " prevotes [\(machine.votes(round: round, type: .prevote).map(short).joined(separator: " "))]"
                text += " precommits [\(machine.votes(round: round, type: .precommit).map(short).joined(separator: " "))]\n"
            }
            text += "   \(machine.counters)\n"
            return text
        }.joined()
    }
}
