import Foundation
import SocaiConsensus
import SocaiCore
import SocaiCrypto
import SocaiNetwork
import SocaiState
import SocaiStore

/// One validator: the consensus machine driven by real timers and the peer network, the
/// mempool, block building, validation, execution and storage, and block sync.
///
/// Everything runs on this actor, one event at a time, so the consensus machine, the store
/// and the mempool are never touched concurrently.
public actor ValidatorNode {
    /// Most proposed blocks held per height (a Byzantine proposer cannot fill memory).
    public static let proposedBlocksPerHeightMax = 64
    /// Most pieces of evidence waiting to be included.
    public static let pendingEvidenceMax = 100
    /// Most committed evidence hashes a node remembers (`committedEvidence`).
    public static let committedEvidenceRememberedMax = 10_000
    /// Longest a gossiped transaction waits for others to share its message.
    static let gossipDelayMilliseconds: UInt64 = 5
    /// Most transaction bytes one gossip message carries: well under a frame's maximum.
    static let gossipBatchBytesMax = 1 << 20
    /// How often a node tells its peers its height (so a node behind starts syncing).
    public static let statusIntervalMilliseconds: UInt64 = 1_000
    /// How often the node re-sends the votes and proposal it holds for the current height:
    /// Tendermint's liveness needs every message an honest node saw to reach every honest
    /// node eventually, and peer links may drop messages across reconnects.
    public static let regossipIntervalMilliseconds: UInt64 = 500
    /// How long a block request may go unanswered before its peer is passed over.
    public static let syncRequestTimeoutMilliseconds: UInt64 = 2_000
    /// The longest a sync peer is passed over for unanswered requests.
    public static let syncBackoffMillisecondsMax: UInt64 = 60_000
    /// How far ahead of this node's clock a proposed block's time may be.
    public static let blockTimeDriftMillisecondsMax: UInt64 = 10_000
    /// Pause after committing a block before starting the next height (CometBFT's
    /// timeout_commit). It spaces heights, so that at low load each carries more transactions
    /// and fewer heights pay a height's fixed cost; it does not collect late precommits, since
    /// the certificate is fixed at the decision (one with more than two thirds of the power is
    /// complete). Short, because a transaction's commit latency includes the wait for the next
    /// height to start: at 100 ms, a fifth to a third of each height under load was this
    /// pause. Counting it from the decision, so that storing counted toward it, raised the
    /// processor time per transaction by about 5% at moderate load (more, smaller heights).
    public static let commitDelayMilliseconds: UInt64 = 20
    /// How long a round-0 proposer with nothing to propose waits for a transaction before it
    /// proposes an empty block (CometBFT's create_empty_blocks_interval): an idle chain still
    /// advances, but does not spin. Below the propose timeout, so the round does not fail.
    public static let emptyBlockWaitMilliseconds: UInt64 = 600
    /// Most gossiped transaction messages waiting for their signature checks; more are
    /// dropped (each carries at most `NodeMessage.transactionsPerMessageMax` transactions).
    static let gossipMessagesQueuedMax = 256
    /// Transactions whose signatures are verified on all cores at once; smaller sets are
    /// verified inline (the dispatch costs more than it saves).
    public static let parallelVerificationTransactionsMin = 16

    /// Counters and gauges the API reports.
    public struct Metrics: Sendable {
        /// Committed height.
        public var height: UInt64 = 0
        /// Current consensus round.
        public var round: UInt32 = 0
        /// Transactions committed since start.
        public var transactionsCommitted: UInt64 = 0
        /// Blocks applied through block sync since start.
        public var blocksSynced: UInt64 = 0
        /// Milliseconds between the last two committed blocks' times.
        public var blockIntervalMilliseconds: UInt64 = 0
        /// Messages from peers that did not decode.
        public var malformedMessages: UInt64 = 0
    }

    let home: NodeHome
    let genesis: Genesis
    /// The block and state store.
    public let store: BlockStore
    let executor: LedgerExecutor
    let nodeKey: SigningKey
    let publicKey: PublicKey
    let signerGuard: SignerGuard
    let network: PeerNetwork
    /// Pending transactions, within the configuration's bounds.
    public let mempool: Mempool
    let log: @Sendable (String) -> Void
    private var machine: ConsensusMachine
    private var proposedBlocks: [Hash: Block] = [:]
    /// Executions of candidate blocks for the next height, by block hash. A block is executed
    /// once — when this node builds or validates it — and commit persists that result; the
    /// state changes only by commit, which empties this. At most one per proposed block.
    private var executions: [Hash: BlockExecution] = [:]
    /// Where the current height's time went, for the commit's log line: an operator reading
    /// why blocks are slow sees whether it is execution, the store, or waiting for votes.
    private var heightTiming = HeightTiming()
    /// When this node last committed a block (monotonic), for the next height's pause.
    private var lastCommitNanoseconds: UInt64?
    /// The latest committed block and its certificate (nil before block 1): read on every
    /// proposal and validation, so kept rather than decoded from the store each time.
    private var tip: (block: Block, commit: CommitCertificate)?
    /// Validator sets by height, for the state at the committed tip; emptied on commit.
    private var validatorSets: [UInt64: ValidatorSet] = [:]
    /// A round-0 proposal held back while the mempool is empty (see `emptyBlockWaitMilliseconds`).
    private var deferredProposal: (height: UInt64, round: UInt32)?
    private var pendingValidations: Set<Hash> = []
    private var pendingEvidence: [Hash: DuplicateVoteEvidence] = [:]
    /// Evidence this process saw committed, so that it is neither proposed nor relayed
    /// again; the most recent `committedEvidenceRememberedMax` (a validator commits evidence
    /// rarely, and a block holds at most `Limits.blockEvidenceMax`).
    private var committedEvidence = RecentHashes<Void>(capacity: ValidatorNode.committedEvidenceRememberedMax)
    private var peerHeights: [PublicKey: UInt64] = [:]
    /// Accepted transactions not yet gossiped, with the peer each came from (`gossip`);
    /// at most `NodeMessage.transactionsPerMessageMax` entries and `gossipBatchBytesMax` bytes.
    private var gossipOutbox: [(envelope: TransactionEnvelope, receivedFrom: PublicKey?)] = []
    private var gossipOutboxBytes = 0
    private var gossipFlushScheduled = false
    /// The configured peers, in configuration order: where gossip goes.
    private var gossipPeers: [PublicKey] { network.configuration.peers.map(\.publicKey) }
    /// Whether transactions accepted from a peer are relayed, as decided for one height
    /// (`relaysPeerTransactions`).
    private var relayDecision: (height: UInt64, relays: Bool)?
    /// Peers that served an invalid block: never asked for blocks again by this process.
    private var untrustedSyncPeers: Set<PublicKey> = []
    /// Peers that left a block request unanswered, with how many requests in a row they
    /// left so and when they may be asked again (`syncBackoffMilliseconds`). A peer that
    /// claims a height it does not serve, or that went silent, is passed over for the
    /// others, and does not keep the node "syncing", until its wait is over.
    private var syncBackoff: [PublicKey: (strikes: Int, retryAfterNanoseconds: UInt64)] = [:]
    private var syncRequestedUpTo: UInt64 = 0
    /// The highest block received by sync that followed the tip, applied or not.
    private var syncHighestReceived: UInt64 = 0
    private var waiters: [Hash: [CheckedContinuation<TransactionResult?, Never>]] = [:]
    /// The long-running loops (peer messages, status, re-gossip), cancelled by `stop()`.
    private var tasks: [Task<Void, Never>] = []
    /// Counters the status endpoint reads.
    public private(set) var metrics = Metrics()
    /// The Prometheus registry behind `/metrics`, updated alongside `metrics`.
    public nonisolated let exportedMetrics = NodeMetrics()
    /// Signature checks of recent transactions, shared by HTTP submission and gossip.
    nonisolated let signatureVerdicts = SignatureVerdicts()
    /// The committed height, published in `commit` before any waiter hears of the block.
    public nonisolated let committedHeightWatch: CommittedHeightWatch?
    private var running = false

    /// A committed transaction's result as the API reports it.
    public struct TransactionResult: Sendable {
        /// Height of the block.
        public let height: UInt64
        /// Result code.
        public let code: TransactionResultCode
        /// Explanation.
        public let message: String
    }

    /// Opens the node's home: configuration, genesis, key, store (initialized from genesis when new).
    public init(
        home: NodeHome, consensus: ConsensusConfiguration = ConsensusConfiguration(), log: @escaping @Sendable (String) -> Void
    ) throws {
        self.home = home
        self.log = log
        genesis = try home.loadGenesis()
        nodeKey = try home.loadNodeKey()
        publicKey = PublicKey(of: nodeKey)
        store = try home.openBlockStore(genesis: genesis)
        executor = LedgerExecutor(genesis: genesis)
        if store.state.height == nil {
            guard store.height == 0 else {
                throw NodeError(.invalid, "\(home.blockStorePath) holds blocks without ledger state")
            }
            try store.initializeState(try LedgerExecutor.genesisChanges(genesis, on: store.state))
        }
        try store.completeValidatorSetHistory(genesisSet: genesis.validatorSet)
        try Self.checkByzantineMode(home.configuration, log: log)
        mempool = Mempool(
            transactionsMax: home.configuration.mempoolTransactionCount, bytesMax: home.configuration.mempoolByteCount)
        signerGuard = try SignerGuard(dataDirectory: home.dataPath)
        let peers = try home.configuration.peers.map {
            try PeerEndpoint(name: $0.name, publicKeyHex: $0.publicKey, address: $0.address)
        }
        guard let listen = HostPort(home.configuration.peerListenAddress) else {
            throw NodeError(.invalid, "peerListenAddress is not host:port")
        }
        network = try PeerNetwork(
            configuration: PeerNetworkConfiguration(
                chainID: genesis.chainID, nodeKey: nodeKey, listenHost: listen.host, listenPort: listen.port, peers: peers,
                log: { record in
                    // Dial failures while peers start are routine; show them only when asked.
                    if record.level != .debug || ProcessInfo.processInfo.environment["SOCAI_LOG"] == "debug" {
                        log("p2p \(record)")
                    }
                }))
        machine = try ConsensusMachine(chainID: genesis.chainID, validatorKey: PublicKey(of: nodeKey), configuration: consensus)
        tip = try store.block(at: store.height)
        committedHeightWatch = CommittedHeightWatch(height: store.height)
        metrics.height = store.height
        exportedMetrics.height.set(Double(store.height))
    }

    /// The chain id.
    public nonisolated var chainID: ChainID { genesis.chainID }

    /// Starts the network and consensus at the height after the stored tip.
    public func start() async throws {
        precondition(!running, "a node starts once")
        running = true
        try await network.start()
        let messages = network.messages
        let (gossipDropped, consensusDropped) = (
            exportedMetrics.gossipMessagesDropped, exportedMetrics.consensusMessagesDropped
        )
        let lanes = PeerMessageLanes(
            messages, gossipQueuedMax: Self.gossipMessagesQueuedMax,
            consensusQueuedMax: network.configuration.incomingMessagesMax, gossipDropped: { gossipDropped.increment() },
            consensusDropped: { consensusDropped.increment() })
        tasks.append(lanes.router)
        // Decoding and signature checks run in each lane's task, off the actor, so they
        // overlap with block execution instead of queueing behind it.
        for lane in [lanes.consensus, lanes.gossip] {
            tasks.append(
                Task { [weak self] in
                    for await message in lane {
                        let decoded = ValidatorNode.decode(message, verdicts: self?.signatureVerdicts)
                        await self?.receive(decoded, from: message.peer)
                    }
                })
        }
        tasks.append(
            Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: Self.statusIntervalMilliseconds * 1_000_000)
                    guard let connected = await self?.network.connectedPeers() else { return }
                    await self?.forgetHeights(ofPeersOtherThan: Set(connected))
                    await self?.broadcastStatus()
                }
            })
        tasks.append(
            Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: Self.regossipIntervalMilliseconds * 1_000_000)
                    await self?.regossip()
                }
            })
        let nextHeight = store.height + 1
        let validatorSet = try executor.validatorSet(forHeight: nextHeight, on: store.state)
        if let checkpoint = signerGuard.checkpoint, checkpoint.height == nextHeight {
            log("resuming height \(nextHeight) from the signer checkpoint at round \(checkpoint.round)")
            try perform(try machine.resume(from: checkpoint, validatorSet: validatorSet))
            resendLastVote()
        } else {
            try perform(machine.handle(.start(height: nextHeight, validatorSet: validatorSet)))
        }
        log("started at height \(nextHeight) as \(publicKey)")
        broadcastStatus()
    }

    /// Stops timers, the network and message handling.
    public func stop() async {
        running = false
        for task in tasks { task.cancel() }
        tasks.removeAll()
        await network.shutdown()
        for (_, continuations) in waiters { for continuation in continuations { continuation.resume(returning: nil) } }
        waiters.removeAll()
    }

    // MARK: Clients

    /// Checks a transaction with the state machine, holds it in the mempool and gossips it.
    ///
    /// `signatureVerified`: the caller has checked the signature (off this actor).
    /// `receivedFrom`: the peer that sent it, which is not sent it back.
    func submitLocally(
        _ envelope: TransactionEnvelope, signatureVerified: Bool = false, receivedFrom: PublicKey? = nil
    ) throws -> Hash {
        let hash = try admit(
            envelope, signatureVerified: signatureVerified, receivedFrom: receivedFrom, height: store.height + 1,
            timeMilliseconds: nowMilliseconds())
        if deferredProposal != nil { proposeDeferred() }
        return hash
    }

    /// `submitLocally(_:signatureVerified:)` for each of `envelopes` in order, in one turn of
    /// this actor: a batch pays for one hop onto the node, not one per transaction.
    func submitLocally(batch envelopes: [TransactionEnvelope], signatureVerified: [Bool]) -> [Result<Hash, any Error>] {
        precondition(envelopes.count == signatureVerified.count, "one signature verdict per transaction of a batch")
        var outcomes: [Result<Hash, any Error>] = []
        outcomes.reserveCapacity(envelopes.count)
        let height = store.height + 1
        let timeMilliseconds = nowMilliseconds()
        for (envelope, verified) in zip(envelopes, signatureVerified) {
            do {
                let hash = try admit(
                    envelope, signatureVerified: verified, receivedFrom: nil, height: height, timeMilliseconds: timeMilliseconds)
                outcomes.append(.success(hash))
            } catch {
                outcomes.append(.failure(error))
            }
        }
        if deferredProposal != nil { proposeDeferred() }
        return outcomes
    }

    /// Holds `envelope` in the mempool if the state machine accepts it for `height`, and
    /// queues it for gossip. A failure other than the mempool's refusal is the node's own
    /// (its state could not be read), so it is logged here as well as thrown.
    private func admit(
        _ envelope: TransactionEnvelope, signatureVerified: Bool, receivedFrom: PublicKey?, height: UInt64,
        timeMilliseconds: UInt64
    ) throws -> Hash {
        let hash: Hash
        do {
            hash = try mempool.add(
                envelope, executor: executor, state: store.state, height: height, timeMilliseconds: timeMilliseconds,
                signatureVerified: signatureVerified)
        } catch let rejection as Mempool.Rejection {
            throw rejection
        } catch {
            log("cannot check transaction \(envelope.hash) against the state: \(error)")
            throw error
        }
        gossip(envelope, receivedFrom: receivedFrom)
        return hash
    }

    /// Queues an accepted transaction for every peer but the one it came from; one that came
    /// from a peer only if this node relays (`relaysPeerTransactions`). The queue
    /// leaves as one `transactions` message per peer when it is full or a few milliseconds
    /// after its first entry, whichever is first: batching cut the per-frame cost (sealing,
    /// a write, a wakeup and an actor hop on each receiver) that one message per transaction
    /// paid, while adding at most `gossipDelayMilliseconds` to a transaction's first hop.
    private func gossip(_ envelope: TransactionEnvelope, receivedFrom: PublicKey?) {
        if receivedFrom != nil, !relaysPeerTransactions() { return }
        // At least its encoded size: the fields around the payload take under 256 bytes
        // (`Limits.transactionBytesMax` is the payload maximum plus 256).
        let bytes = envelope.payload.count + 256
        if !gossipOutbox.isEmpty && gossipOutboxBytes + bytes > Self.gossipBatchBytesMax { flushGossip() }
        gossipOutbox.append((envelope, receivedFrom))
        gossipOutboxBytes += bytes
        if gossipOutbox.count >= Int(NodeMessage.transactionsPerMessageMax) {
            flushGossip()
        } else if !gossipFlushScheduled {
            gossipFlushScheduled = true
            schedule(afterMilliseconds: Self.gossipDelayMilliseconds) { node in
                node.gossipFlushScheduled = false
                node.flushGossip()
            }
        }
    }

    /// Whether transactions accepted from a peer go on to the other peers: not while this
    /// node's configured peers include every other validator in force (a full mesh, as
    /// validators are normally deployed), since then a transaction's first node sent it to
    /// every validator itself. Relaying there made each validator receive each transaction
    /// three times in a network of four, and skipping it raised saturated throughput by 8–15%
    /// over three alternating benchmark pairs. In a partial mesh, or while the set in force
    /// cannot be read, relaying goes on. Decided once per height: the set changes only
    /// between heights. Liveness never depends on gossip: a proposer's block carries its
    /// transactions to every validator.
    private func relaysPeerTransactions() -> Bool {
        let height = store.height + 1
        if let relayDecision, relayDecision.height == height { return relayDecision.relays }
        let relays: Bool
        if let set = try? validatorSet(forHeight: height) {
            relays = Self.relaysPeerTransactions(peers: Set(gossipPeers), validators: set, own: publicKey)
        } else {
            relays = true
        }
        relayDecision = (height, relays)
        return relays
    }

    /// Whether a node with `peers` relays peers' transactions (see the instance method):
    /// only if some validator other than `own` is not among its peers.
    static func relaysPeerTransactions(peers: Set<PublicKey>, validators: ValidatorSet, own: PublicKey) -> Bool {
        validators.validators.contains { $0.publicKey != own && !peers.contains($0.publicKey) }
    }

    /// Sends each peer, in one message, the queued transactions it did not send us, in the
    /// order they were accepted (so one signer's nonces arrive in order).
    private func flushGossip() {
        guard !gossipOutbox.isEmpty else { return }
        let queued = gossipOutbox
        gossipOutbox.removeAll(keepingCapacity: true)
        gossipOutboxBytes = 0
        for peer in gossipPeers {
            let envelopes = queued.filter { $0.receivedFrom != peer }.map(\.envelope)
            if !envelopes.isEmpty { send(.transactions(envelopes), to: peer) }
        }
    }

    /// Waits until `hash` is committed or `timeoutMilliseconds` pass; nil on timeout.
    func waitForResult(_ hash: Hash, timeoutMilliseconds: UInt64) async -> TransactionResult? {
        if let committed = committedResult(hash) { return committed }
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: timeoutMilliseconds * 1_000_000)
            await self?.expireWaiters(hash)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in waiters[hash, default: []].append(continuation) }
    }

    private func expireWaiters(_ hash: Hash) {
        for continuation in waiters.removeValue(forKey: hash) ?? [] { continuation.resume(returning: nil) }
    }

    /// The stored result of a committed transaction.
    public func committedResult(_ hash: Hash) -> TransactionResult? {
        guard let stored = try? store.state.transactionResult(hash), let code = TransactionResultCode(rawValue: stored.code)
        else {
            return nil
        }
        return TransactionResult(height: stored.height, code: code, message: stored.message)
    }

    /// Whether the node is catching up with peers that are ahead.
    /// Peers that served a bad block, or that are waiting out an unanswered request, do not
    /// count: a peer that lies about its height must not keep the node "syncing" for ever.
    public var isSyncing: Bool {
        (syncCandidates(now: monotonicNanoseconds()).values.max() ?? 0) > store.height + 1
    }

    /// The heights claimed by connected peers that may be asked for blocks now.
    private func syncCandidates(now: UInt64) -> [PublicKey: UInt64] {
        peerHeights.filter { peer, _ in
            !untrustedSyncPeers.contains(peer) && (syncBackoff[peer].map { $0.retryAfterNanoseconds <= now } ?? true)
        }
    }

    /// Connected peers.
    public func connectedPeers() async -> [PublicKey] { await network.connectedPeers() }

    // MARK: Consensus actions

    /// Runs `body` on this actor after `milliseconds`, unless the node has stopped by then.
    /// One-shot timers are not kept: a handle per timeout would grow without bound over a
    /// long run; a timer that fires after `stop()` finds `running` false and does nothing.
    private func schedule(afterMilliseconds milliseconds: UInt64, _ body: @escaping @Sendable (isolated ValidatorNode) -> Void) {
        Task { [weak self] in
            try? await Task.sleep(nanoseconds: milliseconds * 1_000_000)
            guard let self else { return }
            await self.runIfRunning(body)
        }
    }

    private func runIfRunning(_ body: @Sendable (isolated ValidatorNode) -> Void) {
        guard running else { return }
        body(self)
    }

    /// Holds verified `evidence` for a block this node proposes, and passes it on to every
    /// peer but `from`, its sender, unless it is held already, was committed, or the pending
    /// evidence is full; returns whether it was taken. Passed on once (a copy coming back
    /// finds it held): where validators are not all linked, a proposer may not have it.
    @discardableResult
    private func holdEvidence(_ evidence: DuplicateVoteEvidence, from peer: PublicKey?) -> Bool {
        guard pendingEvidence[evidence.hash] == nil, pendingEvidence.count < Self.pendingEvidenceMax,
            committedEvidence[evidence.hash] == nil
        else { return false }
        pendingEvidence[evidence.hash] = evidence
        broadcast(.evidence(evidence), except: peer)
        return true
    }

    /// Feeds a peer's vote or proposal, and disconnects the peer if the machine dropped it
    /// for a signature that does not verify. Honest peers relay only what their own machine
    /// verified, so a bad signature is the sender's doing, not a relay's.
    private func feedCheckingSignature(_ event: ConsensusEvent, from peer: PublicKey, what: String) {
        let invalidBefore = machine.counters.droppedInvalidSignature
        feed(event)
        if machine.counters.droppedInvalidSignature > invalidBefore {
            network.disconnect(peer, reason: "it sent a \(what) whose signature does not verify")
        }
    }

    func feed(_ event: ConsensusEvent) {
        do { try perform(machine.handle(event)) } catch { log("error handling \(event): \(error)") }
        metrics.round = machine.round
        exportedMetrics.round.set(Double(machine.round))
    }

    private func perform(_ actions: [ConsensusAction]) throws {
        var queue = actions
        // Actions can cause events (our own signed votes), which cause more actions; bounded
        // by the machine (each step signs at most once).
        var steps = 0
        while !queue.isEmpty {
            steps += 1
            precondition(steps <= 10_000, "consensus action loop did not settle")
            let action = queue.removeFirst()
            switch action {
            case .signProposal(var proposal):
                let step = SignedStep(round: proposal.round, kind: .proposal)
                guard signerGuard.allows(height: proposal.height, step: step) else {
                    log("refusing to sign a proposal at \(proposal.height)/\(proposal.round): already signed past it")
                    continue
                }
                try signerGuard.record(height: proposal.height, step: step, checkpoint: machine.checkpoint)
                proposal.signature = Signature(signing: proposal.signingBytes(chainID: chainID), with: nodeKey)
                if let block = proposedBlocks[proposal.blockID] { broadcast(.proposal(proposal, block)) }
                queue += machine.handle(.proposal(proposal))
            case .signVote(var vote):
                let step = SignedStep(round: vote.round, voteType: vote.type)
                guard signerGuard.allows(height: vote.height, step: step) else {
                    log("refusing to sign a \(vote.type) at \(vote.height)/\(vote.round): already signed past it")
                    continue
                }
                try signerGuard.record(height: vote.height, step: step, checkpoint: machine.checkpoint, vote: vote)
                vote.signature = Signature(signing: vote.signingBytes(chainID: chainID), with: nodeKey)
                broadcast(.vote(vote))
                if isEquivocating { equivocate(after: vote) }
                queue += machine.handle(.vote(vote))
            case .scheduleTimeout(let timeout, let milliseconds):
                schedule(afterMilliseconds: milliseconds) { $0.feed(.timeout(timeout)) }
            case .requestProposalValue(let height, let round):
                if round == 0, mempool.count == 0, pendingEvidence.isEmpty {
                    deferredProposal = (height, round)
                    schedule(afterMilliseconds: Self.emptyBlockWaitMilliseconds) { $0.proposeDeferred() }
                    continue
                }
                queue += try propose(height: height, round: round)
            case .validateBlock(let height, let blockID):
                if let block = proposedBlocks[blockID] {
                    queue += machine.handle(
                        .blockValidity(height: height, blockID: blockID, isValid: isValid(block, height: height)))
                } else {
                    pendingValidations.insert(blockID)
                }
            case .commit(let height, let blockID, let certificate):
                guard let block = proposedBlocks[blockID] else {
                    // Decided without the block: block sync will fetch it from a peer.
                    log("decided height \(height) without block \(blockID); syncing")
                    requestBlocks()
                    continue
                }
                try commit(block, certificate: certificate)
                let committedHeight = store.height
                schedule(afterMilliseconds: Self.commitDelayMilliseconds) { $0.startHeight(after: committedHeight) }
            case .evidence(let evidence):
                if holdEvidence(evidence, from: nil) {
                    log("equivocation by \(evidence.voteA.validator) at height \(evidence.voteA.height)")
                }
            }
        }
    }

    /// Builds this validator's block for (`height`, `round`) and hands it to the machine.
    private func propose(height: UInt64, round: UInt32) throws -> [ConsensusAction] {
        let block = try buildBlock(height: height)
        proposedBlocks[block.hash] = block
        return machine.handle(.proposalValue(height: height, round: round, blockID: block.hash))
    }

    /// Proposes the held-back round-0 block now (a transaction arrived, or the wait is over),
    /// if the machine is still waiting for it.
    private func proposeDeferred() {
        guard let (height, round) = deferredProposal else { return }
        deferredProposal = nil
        guard running, machine.height == height, machine.round == round, store.height + 1 == height else { return }
        do { try perform(try propose(height: height, round: round)) } catch {
            log("cannot propose at \(height)/\(round): \(error)")
        }
    }

    /// The validator set in force at `height` (the tip height or the next), cached until the
    /// next commit.
    private func validatorSet(forHeight height: UInt64) throws -> ValidatorSet {
        precondition(height <= store.height + 1, "validator sets beyond the next height are not known yet")
        if let set = validatorSets[height] { return set }
        let set = try executor.validatorSet(forHeight: height, on: store.state)
        if validatorSets.count >= 4 { validatorSets.removeAll() }
        validatorSets[height] = set
        return set
    }

    /// Verifies the signatures of `transactions` the mempool has not already verified, on all
    /// cores when there are many; returns whether every one is valid. The verdicts are
    /// recorded: a proposal often arrives before the gossip that carries its transactions,
    /// which then finds them checked.
    private func verifySignatures(_ transactions: [TransactionEnvelope]) -> Bool {
        let unverified = transactions.filter { !mempool.contains($0.hash) }
        if unverified.count < Self.parallelVerificationTransactionsMin {
            return unverified.allSatisfy { signatureVerdicts.isValid($0) }
        }
        return Self.verifyInParallel(unverified, verdicts: signatureVerdicts)
    }

    /// Checks every signature on all cores, through `verdicts` when given; false if any fails.
    nonisolated static func verifyInParallel(
        _ transactions: [TransactionEnvelope], verdicts: SignatureVerdicts? = nil
    ) -> Bool {
        let chunks = min(ProcessInfo.processInfo.activeProcessorCount * 4, transactions.count)
        guard chunks > 0 else { return true }
        // One result slot per chunk: each worker writes only its own slot.
        var chunkValid = [Bool](repeating: true, count: chunks)
        chunkValid.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let slots = slots
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                var index = chunk
                while index < transactions.count {
                    if !(verdicts?.isValid(transactions[index]) ?? transactions[index].hasValidSignature) {
                        slots[chunk] = false
                        return
                    }
                    index += chunks
                }
            }
        }
        return !chunkValid.contains(false)
    }

    /// Starts consensus at the height after `committedHeight`, unless sync already moved on.
    private func startHeight(after committedHeight: UInt64) {
        guard running, store.height == committedHeight, machine.height <= committedHeight else { return }
        heightTiming = HeightTiming(pauseNanoseconds: lastCommitNanoseconds.map { monotonicNanoseconds() - $0 })
        do {
            try perform(
                machine.handle(
                    .start(
                        height: committedHeight + 1,
                        validatorSet: try validatorSet(forHeight: committedHeight + 1))))
        } catch {
            log("cannot start height \(committedHeight + 1): \(error)")
        }
    }

    /// The block limits in force: the `parameters` state record (genesis, then governance).
    private func blockParameters() throws -> ParametersRecord {
        guard let bytes = try store.state.value(forKey: StateKey.parameters) else {
            throw NodeError(.invalid, "the state holds no block parameters")
        }
        // This node's own record: a failure to decode it is no peer's doing.
        do { return try ParametersRecord(canonicalBytes: bytes) } catch {
            throw NodeError(.invalid, "the state's block parameters do not decode: \(error)")
        }
    }

    /// Builds this validator's proposal for `height` from the mempool and pending evidence.
    private func buildBlock(height: UInt64) throws -> Block {
        precondition(height == store.height + 1)
        heightTiming.proposalAtHand()
        let previous = tip
        let previousTime = previous?.block.header.timeMilliseconds ?? genesis.genesisTimeMilliseconds
        let parameters = try blockParameters()
        let transactions = mempool.reap(
            transactionsMax: Int(parameters.blockTransactionsMax), bytesMax: Int(parameters.blockBytesMax) - 64 * 1024)
        let evidence = pendingEvidence.values.sorted { $0.hash < $1.hash }.prefix(Limits.blockEvidenceMax)
        var header = BlockHeader(
            chainID: chainID, height: height, timeMilliseconds: max(nowMilliseconds(), previousTime + 1),
            previousBlockHash: store.tipHash, lastCommitHash: previous?.commit.hash ?? .zero,
            transactionsRoot: Block.transactionsRoot(transactions), evidenceRoot: Block.evidenceRoot(Array(evidence)),
            stateRoot: .zero,
            validatorsHash: try validatorSet(forHeight: height).hash, proposer: publicKey)
        var block = Block(header: header, lastCommit: previous?.commit, transactions: transactions, evidence: Array(evidence))
        // Every mempool transaction's signature was verified on admission. Execution does not
        // read the header's state root, so the result holds for the finished block too.
        let execution = try heightTiming.timingExecution {
            try executor.execute(block, on: store.state, signaturesVerified: true)
        }
        header.stateRoot = execution.stateRoot
        block.header = header
        remember(execution, of: block)
        return block
    }

    /// Keeps a block's execution for its commit; at most one per block this height may hold.
    private func remember(_ execution: BlockExecution, of block: Block) {
        guard executions.count < Self.proposedBlocksPerHeightMax else { return }
        executions[block.hash] = execution
    }

    /// Algorithm 1's valid(v): the block extends our tip correctly and executes to its state root.
    private func isValid(_ block: Block, height: UInt64) -> Bool {
        do {
            try checkExtendsTip(block, height: height, checkingDrift: true)
            if executions[block.hash] != nil { return true }
            guard verifySignatures(block.transactions) else {
                log("block \(block.hash) at height \(height) holds a transaction whose signature does not verify")
                return false
            }
            let execution = try heightTiming.timingExecution {
                try executor.execute(block, on: store.state, signaturesVerified: true)
            }
            guard execution.stateRoot == block.header.stateRoot else {
                log("block \(block.hash) at height \(height) executes to another state root than its header's")
                return false
            }
            remember(execution, of: block)
            return true
        } catch {
            log("block \(block.hash) at height \(height) is invalid: \(error)")
            return false
        }
    }

    /// Every check a block must pass to follow the tip at `height`, except its transactions'
    /// signatures and its execution (which the caller does once): the header's chain, height
    /// and link; `validateBasic`; the block limits in force; a time after the tip's (and, for a
    /// live proposal, `checkingDrift`, not far ahead of this node's clock); the last commit
    /// against the set in force at `height - 1`; the validators hash; a proposer that is in
    /// the set in force; and each evidence item as the auditor checks it (docs/FORMAT.md §15):
    /// for a height from 1 to `height`, against the set in force at its own height.
    ///
    /// Consensus and block sync both call it, so a block this node takes from a peer passes
    /// what the blocks it votes for pass. Apart from the drift check, which a live proposal
    /// alone is held to, every check reads only the chain, never what this process happens
    /// to remember, so every honest validator judges a block alike.
    private func checkExtendsTip(_ block: Block, height: UInt64, checkingDrift: Bool) throws {
        let header = block.header
        guard header.height == height, height == store.height + 1 else {
            throw VerificationError(.mismatch, "block for height \(header.height) does not follow the tip \(store.height)")
        }
        guard header.chainID == chainID else {
            throw VerificationError(.mismatch, "block is for chain \(header.chainID), not \(chainID)")
        }
        guard header.previousBlockHash == store.tipHash else {
            throw VerificationError(.mismatch, "block links to \(header.previousBlockHash), not the tip \(store.tipHash)")
        }
        try block.validateBasic()
        let parameters = try blockParameters()
        guard block.transactions.count <= Int(parameters.blockTransactionsMax),
            block.canonicalBytes.count <= Int(parameters.blockBytesMax)
        else {
            throw VerificationError(.invalid, "block exceeds the block limits in force")
        }
        let previousTime = tip?.block.header.timeMilliseconds ?? genesis.genesisTimeMilliseconds
        guard header.timeMilliseconds > previousTime else {
            throw VerificationError(.invalid, "block time \(header.timeMilliseconds) is not after the tip's \(previousTime)")
        }
        if checkingDrift {
            let limit = nowMilliseconds() + Self.blockTimeDriftMillisecondsMax
            guard header.timeMilliseconds <= limit else {
                throw VerificationError(.invalid, "block time \(header.timeMilliseconds) is ahead of this node's clock")
            }
        }
        if height > 1 {
            guard let lastCommit = block.lastCommit else {
                throw VerificationError(.invalid, "block carries no last commit")
            }
            try Self.verifyLastCommit(
                lastCommit, own: tip?.commit, validatorSet: try validatorSet(forHeight: height - 1), chainID: chainID)
        }
        let setInForce = try validatorSet(forHeight: height)
        guard header.validatorsHash == setInForce.hash else {
            throw VerificationError(.mismatch, "validators hash differs from the set in force")
        }
        guard setInForce.validator(for: header.proposer) != nil else {
            throw VerificationError(.unknownValidator, "proposer \(header.proposer) is not in the validator set in force")
        }
        for (index, evidence) in block.evidence.enumerated() {
            let evidenceHeight = evidence.voteA.height
            guard evidenceHeight >= 1, evidenceHeight <= height else {
                throw VerificationError(.invalid, "evidence \(index) is for height \(evidenceHeight), after the block")
            }
            try evidence.verify(chainID: chainID, validatorSet: try validatorSetInForce(at: evidenceHeight))
        }
    }

    /// The validator set in force at `height`, up to the next height: the one the store
    /// recorded for a committed height, else the next height's.
    private func validatorSetInForce(at height: UInt64) throws -> ValidatorSet {
        precondition(height >= 1 && height <= store.height + 1, "validator sets beyond the next height are not known yet")
        if height == store.height + 1 { return try validatorSet(forHeight: height) }
        guard let set = try store.validatorSet(inForceAt: height) else {
            throw NodeError(.invalid, "the store records no validator set in force at height \(height)")
        }
        return set
    }

    /// Checks a proposed block's certificate for the tip, `lastCommit`, as
    /// `CommitCertificate.verify` does, but takes as verified each precommit that is also in
    /// `own`, the certificate this node committed the tip with, signature for signature. That
    /// one was checked before it was stored: the consensus machine builds a certificate only
    /// from precommits it verified, and block sync verifies a fetched one. An Ed25519
    /// signature over the same vote verifies the same way twice, so each height's proposal
    /// no longer costs a validator three or four signature checks it had already made.
    static func verifyLastCommit(
        _ lastCommit: CommitCertificate, own: CommitCertificate?, validatorSet: ValidatorSet, chainID: ChainID
    ) throws(VerificationError) {
        guard let own, own.height == lastCommit.height, own.round == lastCommit.round, own.blockID == lastCommit.blockID
        else {
            return try lastCommit.verify(chainID: chainID, validatorSet: validatorSet)
        }
        let known = Set(own.signatures)
        let entries = lastCommit.signatures
        let precommits = lastCommit.precommits
        let defect = lastCommit.firstDefect(validatorSet: validatorSet) { index in
            known.contains(entries[index]) || precommits[index].hasValidSignature(chainID: chainID)
        }
        guard defect != nil else { return }
        // The full check finds the same defect and names it in its own words.
        try lastCommit.verify(chainID: chainID, validatorSet: validatorSet)
        preconditionFailure("certificate at height \(lastCommit.height): a defect the full check did not find")
    }

    private func commit(_ block: Block, certificate: CommitCertificate) throws {
        let previousTime = tip?.block.header.timeMilliseconds
        let execution: BlockExecution = try heightTiming.timingStore {
            if let executed = executions[block.hash] {
                try store.append(block, commit: certificate, execution: executed)
                return executed
            }
            guard verifySignatures(block.transactions) else {
                throw VerificationError(
                    .invalidSignature, "block \(block.header.height) holds a transaction whose signature does not verify")
            }
            return try store.appendExecuting(block, commit: certificate, executor: executor, signaturesVerified: true)
        }
        tip = (block, certificate)
        committedHeightWatch?.publish(store.height)
        executions.removeAll()
        validatorSets.removeAll()
        deferredProposal = nil
        mempool.remember(committed: execution.outcomes)
        try mempool.update(committed: block.transactions, state: store.state)
        for evidence in block.evidence {
            committedEvidence.record(evidence.hash, ())
            pendingEvidence.removeValue(forKey: evidence.hash)
        }
        proposedBlocks = proposedBlocks.filter { $0.value.header.height > block.header.height }
        pendingValidations.removeAll()
        metrics.height = store.height
        metrics.transactionsCommitted += UInt64(block.transactions.count)
        exportedMetrics.height.set(Double(store.height))
        exportedMetrics.transactionsCommitted.increment(by: Int64(block.transactions.count))
        if let previousTime {
            metrics.blockIntervalMilliseconds = block.header.timeMilliseconds - previousTime
            exportedMetrics.blockIntervalMilliseconds.set(Double(metrics.blockIntervalMilliseconds))
            exportedMetrics.blockIntervalSeconds.record(Double(metrics.blockIntervalMilliseconds) / 1000)
        }
        for outcome in execution.outcomes {
            let result = TransactionResult(height: block.header.height, code: outcome.code, message: outcome.message)
            for continuation in waiters.removeValue(forKey: outcome.transactionHash) ?? [] {
                continuation.resume(returning: result)
            }
        }
        lastCommitNanoseconds = monotonicNanoseconds()
        log(
            CommittedHeightLine.text(
                height: block.header.height, round: certificate.round, transactions: block.transactions.count,
                stateRoot: execution.stateRoot, timing: heightTiming))
        broadcastStatus()
    }

    // MARK: Network

    private func broadcast(_ message: NodeMessage, except excluded: PublicKey? = nil) {
        do { try network.broadcast(message.canonicalBytes, except: excluded) } catch { log("broadcast failed: \(error)") }
    }

    private func broadcastStatus() { broadcast(.status(height: store.height)) }

    /// Re-sends every vote held for the two latest rounds of the current height, and — once
    /// the height is past round 0, a sign that something was lost — their proposals (at most
    /// 2 × (1 + 2 × validators) messages; receivers drop duplicates). Proposals carry whole
    /// blocks, so they are not repeated while round 0 is going normally.
    private func regossip() {
        guard running, machine.height == store.height + 1 else { return }
        for round in machine.storedRounds.suffix(2) {
            if machine.round > 0, let proposal = machine.proposal(round: round),
                let block = proposedBlocks[proposal.blockID]
            {
                broadcast(.proposal(proposal, block))
            }
            for type in [VoteType.prevote, .precommit] {
                for vote in machine.votes(round: round, type: type) { broadcast(.vote(vote)) }
            }
        }
    }

    private func send(_ message: NodeMessage, to peer: PublicKey) {
        do { try network.send(message.canonicalBytes, to: peer) } catch { log("send failed: \(error)") }
    }

    /// A peer message decoded off the actor, with a gossiped transaction's signature checked.
    enum DecodedPeerMessage: Sendable {
        /// A well-formed message; for each transaction it carries, in order, whether its
        /// signature verifies (empty for other messages).
        case message(NodeMessage, transactionSignaturesValid: [Bool])
        /// Bytes that do not decode, with the reason.
        case malformed(String)
    }

    /// Decodes a peer's message and, for a transaction, verifies its signature unless
    /// `verdicts` already holds the result for that transaction.
    nonisolated static func decode(_ message: PeerMessage, verdicts: SignatureVerdicts? = nil) -> DecodedPeerMessage {
        do {
            let decoded = try NodeMessage(canonicalBytes: message.payload)
            let signaturesValid = decoded.carriedTransactions.map { envelope in
                verdicts?.isValid(envelope) ?? envelope.hasValidSignature
            }
            return .message(decoded, transactionSignaturesValid: signaturesValid)
        } catch {
            return .malformed("\(error)")
        }
    }

    private func receive(_ message: DecodedPeerMessage, from peer: PublicKey) {
        guard running else { return }
        let decoded: NodeMessage
        let signaturesValid: [Bool]
        switch message {
        case .malformed(let reason):
            metrics.malformedMessages += 1
            exportedMetrics.malformedMessages.increment()
            log("malformed message from \(peer): \(reason)")
            network.disconnect(peer, reason: "it sent a malformed message: \(reason)")
            return
        case .message(let nodeMessage, let transactionSignaturesValid):
            decoded = nodeMessage
            signaturesValid = transactionSignaturesValid
        }
        switch decoded {
        case .proposal(let proposal, let block):
            guard block.hash == proposal.blockID, block.header.height == proposal.height else { return }
            if block.header.height == store.height + 1 { heightTiming.proposalAtHand() }
            let sameHeight = proposedBlocks.values.filter { $0.header.height == block.header.height }.count
            if proposedBlocks[block.hash] == nil, sameHeight < Self.proposedBlocksPerHeightMax, block.header.height > store.height
            {
                proposedBlocks[block.hash] = block
            }
            feedCheckingSignature(.proposal(proposal), from: peer, what: "proposal")
            if pendingValidations.remove(block.hash) != nil, block.header.height == machine.height {
                feed(
                    .blockValidity(
                        height: block.header.height, blockID: block.hash, isValid: isValid(block, height: block.header.height)))
            }
        case .vote(let vote):
            feedCheckingSignature(.vote(vote), from: peer, what: "vote")
        case .transaction, .transactions:
            // Accepted transactions are gossiped on, unless this node is in a full mesh
            // (`relaysPeerTransactions`); duplicates are refused, so gossip ends. A
            // bad signature is judged again by the state machine, which names the rule. Each
            // transaction of a batch is judged on its own.
            let envelopes = decoded.carriedTransactions
            precondition(envelopes.count == signaturesValid.count, "one verdict per gossiped transaction")
            // An honest peer gossips only transactions its mempool admitted, which checked
            // their signatures: one that does not verify was forged or corrupted on purpose.
            if let bad = signaturesValid.firstIndex(of: false) {
                network.disconnect(peer, reason: "it gossiped transaction \(envelopes[bad].hash) with a bad signature")
                return
            }
            for (envelope, valid) in zip(envelopes, signaturesValid) {
                _ = try? submitLocally(envelope, signatureVerified: valid, receivedFrom: peer)
            }
        case .evidence(let evidence):
            // The machine made its own evidence from votes it verified; a peer's is checked here.
            if evidence.voteA.height >= 1, evidence.voteA.height <= store.height + 1,
                let set = try? validatorSetInForce(at: evidence.voteA.height),
                (try? evidence.verify(chainID: chainID, validatorSet: set)) != nil
            {
                holdEvidence(evidence, from: peer)
            }
        case .status(let height):
            peerHeights[peer] = height
            if height > store.height { requestBlocks() }
        case .blockRequest(let fromHeight, let countMax):
            var height = fromHeight
            while height < fromHeight + UInt64(countMax), let stored = try? store.block(at: height) {
                send(.blockResponse(stored.block, stored.commit), to: peer)
                height += 1
            }
        case .blockResponse(let block, let certificate):
            applySynced(block, certificate: certificate, from: peer)
        }
    }

    /// Asks the most advanced peer that may be asked for the blocks after our tip.
    private func requestBlocks() {
        let candidates = syncCandidates(now: monotonicNanoseconds())
        guard let (peer, height) = candidates.max(by: { ($0.value, $0.key) < ($1.value, $1.key) }), height > store.height
        else { return }
        let from = store.height + 1
        guard syncRequestedUpTo < from else { return }
        let count = UInt16(min(UInt64(NodeMessage.blocksPerRequestMax), height - store.height))
        syncRequestedUpTo = from + UInt64(count) - 1
        let upTo = syncRequestedUpTo
        send(.blockRequest(fromHeight: from, countMax: count), to: peer)
        Task { [weak self] in
            try? await Task.sleep(nanoseconds: Self.syncRequestTimeoutMilliseconds * 1_000_000)
            await self?.syncRequestTimedOut(from: from, upTo: upTo, peer: peer)
        }
    }

    /// A request's time is up. Unless every block it asked for was applied, the blocks
    /// still missing are asked for again: a reply can stop part way (the peer went away, a
    /// queue dropped frames), and waiting for the rest would stall sync for good. A peer
    /// that sent none of them, not even one that failed here for this node's own reasons,
    /// also waits out its backoff.
    private func syncRequestTimedOut(from: UInt64, upTo: UInt64, peer: PublicKey) {
        guard store.height < upTo else { return }
        if store.height < from, syncHighestReceived < from {
            let strikes = (syncBackoff[peer]?.strikes ?? 0) + 1
            let waitMilliseconds = Self.syncBackoffMilliseconds(strikes: strikes)
            syncBackoff[peer] = (strikes, monotonicNanoseconds() + waitMilliseconds * 1_000_000)
            log(
                "peer \(peer) did not answer a request for block \(from); asking it again in \(waitMilliseconds) ms at the earliest"
            )
        }
        if syncRequestedUpTo <= upTo { syncRequestedUpTo = 0 }
        requestBlocks()
    }

    /// How long a sync peer that left `strikes` requests in a row unanswered is passed over:
    /// doubling from twice `syncRequestTimeoutMilliseconds`, at most `syncBackoffMillisecondsMax`.
    static func syncBackoffMilliseconds(strikes: Int) -> UInt64 {
        precondition(strikes >= 1, "a backoff follows at least one unanswered request")
        let doublings = UInt64(min(strikes, 16))
        return min(syncRequestTimeoutMilliseconds << doublings, syncBackoffMillisecondsMax)
    }

    /// Forgets the claimed heights of peers no longer connected: a height is a peer's claim
    /// about now, and one that left cannot serve it.
    private func forgetHeights(ofPeersOtherThan connected: Set<PublicKey>) {
        peerHeights = peerHeights.filter { connected.contains($0.key) }
    }

    /// Verifies a block from sync exactly as a committed block is checked, then applies it.
    private func applySynced(_ block: Block, certificate: CommitCertificate, from peer: PublicKey) {
        let height = block.header.height
        guard height == store.height + 1 else { return }
        syncHighestReceived = max(syncHighestReceived, height)
        do {
            guard certificate.height == height, certificate.blockID == block.hash else {
                throw VerificationError(.mismatch, "the certificate is not for this block")
            }
            try certificate.verify(chainID: chainID, validatorSet: try validatorSet(forHeight: height))
            // A block the network committed long ago may be behind this node's clock by any
            // amount, and one ahead of it is still decided: only a live proposal's time is
            // held to the clock.
            try checkExtendsTip(block, height: height, checkingDrift: false)
            try commit(block, certificate: certificate)
        } catch let error where Self.blamesPeer(error) {
            log("peer \(peer) served an invalid block \(height): \(error); syncing from other peers")
            untrustedSyncPeers.insert(peer)
            syncRequestedUpTo = 0
            requestBlocks()
            return
        } catch {
            // This node's own failure (its disk, its store): the peer did nothing wrong, and
            // the block is asked for again once the next status arrives. If the block was
            // stored before the failure, consensus still moves on to the next height.
            log("could not apply block \(height) from sync: \(error)")
            syncRequestedUpTo = 0
            if store.height >= height { startHeightAfterSync() }
            return
        }
        syncBackoff[peer] = nil
        metrics.blocksSynced += 1
        exportedMetrics.blocksSynced.increment()
        if height % 10 == 0 || !isSyncing { log("synced to height \(height)") }
        startHeightAfterSync()
        if syncRequestedUpTo <= store.height { syncRequestedUpTo = 0 }
        requestBlocks()
    }

    /// Starts consensus at the height after the tip that sync moved.
    private func startHeightAfterSync() {
        do {
            try perform(
                machine.handle(.start(height: store.height + 1, validatorSet: try validatorSet(forHeight: store.height + 1))))
        } catch {
            log("could not start height \(store.height + 1) after sync: \(error)")
        }
    }

    /// Whether a synced block's failure is the serving peer's doing: the block or its
    /// certificate breaks a rule. A failure of this node's own store or state is not.
    static func blamesPeer(_ error: any Error) -> Bool {
        switch error {
        case is VerificationError, is FormatError: return true
        case let storeError as StoreError:
            return [.invalidBlock, .brokenLink, .wrongChain, .wrongHeight].contains(storeError.code)
        default: return false
        }
    }
}

/// The wall clock in Unix milliseconds: only for proposing block times and checking drift.
func nowMilliseconds() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }

/// A monotonic clock, for durations only: it never goes back, and it never reaches a block.
func monotonicNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Processor time of the calling thread.
func threadProcessorNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// What the current height's time went to, for the log line of its commit.
struct HeightTiming {
    /// When the height started (or the node did).
    var startedNanoseconds = monotonicNanoseconds()
    /// From the previous commit to this height's start: the commit delay, plus however long
    /// the node's other work held the start back (nil for the first height after start).
    var pauseNanoseconds: UInt64?
    /// Time spent executing candidate blocks of this height (built or received).
    var executionNanoseconds: UInt64 = 0
    /// The executing thread's processor time in those executions.
    var executionProcessorNanoseconds: UInt64 = 0
    /// Time spent storing the committed block.
    var storeNanoseconds: UInt64 = 0
    /// The storing thread's processor time in it.
    var storeProcessorNanoseconds: UInt64 = 0
    /// When the first proposed block of this height was at hand (built here or received).
    var proposalNanoseconds: UInt64?

    /// Notes that a proposed block is at hand now, unless one already was.
    mutating func proposalAtHand() {
        if proposalNanoseconds == nil { proposalNanoseconds = monotonicNanoseconds() }
    }

    /// Runs one candidate block's execution, adding its wall and processor time.
    mutating func timingExecution<Result>(_ body: () throws -> Result) rethrows -> Result {
        try Self.timing(body, wall: &executionNanoseconds, processor: &executionProcessorNanoseconds)
    }

    /// Runs the committed block's storing, recording its wall and processor time afresh:
    /// the timing is not reset when block sync moves past a height's start, so a sum could
    /// carry an earlier commit's.
    mutating func timingStore<Result>(_ body: () throws -> Result) rethrows -> Result {
        (storeNanoseconds, storeProcessorNanoseconds) = (0, 0)
        return try Self.timing(body, wall: &storeNanoseconds, processor: &storeProcessorNanoseconds)
    }

    /// Runs `body`, adding its wall time and the calling thread's processor time (on a busy
    /// machine the two differ by the time other work held the processor).
    private static func timing<Result>(
        _ body: () throws -> Result, wall: inout UInt64, processor: inout UInt64
    ) rethrows -> Result {
        let start = monotonicNanoseconds()
        let processorStart = threadProcessorNanoseconds()
        defer {
            wall += monotonicNanoseconds() - start
            processor += threadProcessorNanoseconds() - processorStart
        }
        return try body()
    }

    /// "N ms after the height started (proposal at hand after …, executing …, storing …,
    /// started … after the previous commit)", each in wall and in processor time, as of `now`
    /// (`CommittedHeightLine` reads it back).
    func summary(now: UInt64 = monotonicNanoseconds()) -> String {
        func milliseconds(_ nanoseconds: UInt64) -> String { "\((nanoseconds + 500_000) / 1_000_000) ms" }
        let proposal = proposalNanoseconds.map { milliseconds($0 - startedNanoseconds) } ?? "none"
        let pause = pauseNanoseconds.map { ", started \(milliseconds($0)) after the previous commit" } ?? ""
        return "\(milliseconds(now - startedNanoseconds)) after the height started "
            + "(proposal at hand after \(proposal), executing \(milliseconds(executionNanoseconds)), "
            + "\(milliseconds(executionProcessorNanoseconds)) of it processor, "
            + "storing \(milliseconds(storeNanoseconds)), \(milliseconds(storeProcessorNanoseconds)) of it processor\(pause))"
    }
}

extension ValidatorNode: NodeService {
    /// Submits to the mempool.
    public nonisolated func submit(_ envelope: TransactionEnvelope) async throws -> Hash {
        // The signature is checked on the caller's thread, so HTTP submissions verify in
        // parallel; a failure is left to the state machine, which names the rule.
        let signatureValid = signatureVerdicts.isValid(envelope)
        return try await submitLocally(envelope, signatureVerified: signatureValid)
    }

    /// Submits a batch to the mempool in one hop onto the node. The signatures are checked
    /// first, on the caller's thread, as `submit(_:)` does.
    public nonisolated func submit(batch envelopes: [TransactionEnvelope]) async -> [Result<Hash, any Error>] {
        precondition(envelopes.count <= NodeSubmission.batchTransactionsMax, "a submission batch over its maximum")
        let verdicts = envelopes.map { signatureVerdicts.isValid($0) }
        return await submitLocally(batch: envelopes, signatureVerified: verdicts)
    }

    /// Waits for a result.
    public func waitForCommit(_ hash: Hash, timeoutMilliseconds: UInt64) async -> CommittedTransaction? {
        await waitForResult(hash, timeoutMilliseconds: timeoutMilliseconds).map { CommittedTransaction(hash, $0) }
    }

    /// A committed result.
    public func committedTransaction(_ hash: Hash) async -> CommittedTransaction? {
        committedResult(hash).map { CommittedTransaction(hash, $0) }
    }

    /// Status.
    public func status() async -> NodeStatus {
        let peers = await network.connectedPeers()
        let set = (try? executor.validatorSet(forHeight: store.height + 1, on: store.state))?.validators ?? []
        return NodeStatus(
            chainID: chainID.value, nodeKey: publicKey.hex, height: store.height, latestBlockHash: store.tipHash.hex,
            stateRoot: store.state.stateRoot.hex, syncing: isSyncing, peers: peers.map(\.hex).sorted(),
            validators: set.map { .init(publicKey: $0.publicKey.hex, power: $0.power) }, round: metrics.round,
            mempoolSize: mempool.count)
    }

    /// A stored block.
    public func block(at height: UInt64) async throws -> (Block, CommitCertificate)? {
        try store.block(at: height).map { ($0.block, $0.commit) }
    }

    /// The validator set in force at `height`, as the block store recorded it.
    public func validatorSet(inForceAt height: UInt64) async throws -> ValidatorSet? {
        try store.validatorSet(inForceAt: height)
    }

    /// Runs a query.
    public func query<Result: Sendable>(_ body: @Sendable (LedgerQueries, UInt64, UInt64) throws -> Result) async throws -> Result
    {
        // The tip is kept in memory: queries must not decode the latest block each time.
        let time = store.tipTimeMilliseconds ?? genesis.genesisTimeMilliseconds
        return try body(LedgerQueries(backend: store.state), store.height, time)
    }

    /// Ready once not syncing.
    public func isReady() async -> Bool { running && !isSyncing }

    /// Metrics in Prometheus text format.
    public func metricsText() async -> String {
        exportedMetrics.mempoolTransactions.set(Double(mempool.count))
        exportedMetrics.peers.set(Double(await network.connectedPeers().count))
        return exportedMetrics.render()
    }
}

extension CommittedTransaction {
    init(_ hash: Hash, _ result: ValidatorNode.TransactionResult) {
        self.init(
            hash: hash.hex, height: result.height, code: result.code.name, codeNumber: result.code.rawValue,
            message: result.message)
    }
}
