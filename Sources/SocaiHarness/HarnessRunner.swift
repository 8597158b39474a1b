import Foundation
import SocaiCore
import SocaiCrypto
import SocaiState
import SocaiStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What `socai harness run` was asked to do.
public struct HarnessRunConfiguration: Sendable {
    /// The manifest.
    public var manifest: HarnessManifest
    /// The seed of the schedule and workload.
    public var seed: UInt64
    /// The `socai` executable to start nodes with.
    public var binaryPath: String
    /// Where run directories go (`<manifest>-<seed>` inside).
    public var runsDirectory: String
    /// Keep the run directory even when every invariant held.
    public var keepOnSuccess: Bool = false
    /// Progress lines (standard error in the CLI).
    public var log: @Sendable (String) -> Void

    /// Creates a configuration.
    public init(
        manifest: HarnessManifest, seed: UInt64, binaryPath: String, runsDirectory: String,
        log: @escaping @Sendable (String) -> Void
    ) {
        self.manifest = manifest
        self.seed = seed
        self.binaryPath = binaryPath
        self.runsDirectory = runsDirectory
        self.log = log
    }
}

/// Runs one manifest against real `socai node start` processes on loopback: generates a
/// fresh network, applies the seed's workload and fault schedule, then stops every node,
/// reads every store and checks the invariants.
public final class HarnessRunner: @unchecked Sendable {
    /// How often node heights are sampled.
    public static let sampleIntervalMilliseconds: UInt64 = 500
    /// Longest wait for one node's `/metrics` in a height sample: on a loaded machine a live
    /// node can take over a second to answer, and a sample it misses reads as no height.
    static let metricsRequestSecondsMax = 3
    /// Timeline interval.
    public static let bucketMilliseconds: UInt64 = 5_000
    /// Longest wait for one transaction's commit.
    public static let commitWaitMilliseconds: UInt64 = 15_000
    /// Longest wait for what a transaction builds on to be acknowledged.
    public static let dependencyWaitMilliseconds: UInt64 = 30_000
    /// Most nodes one transaction is sent to (a node down or refusing a nonce: the next one).
    public static let submitAttemptsMax = 4
    /// Longest graceful stop before SIGKILL.
    public static let stopWaitSeconds: Double = 10

    let configuration: HarnessRunConfiguration
    let manifest: HarnessManifest
    let plan: HarnessPlan
    let runDirectory: String
    let validatorCount: Int
    private let lock = NSLock()
    private var nodes: [NodeProcess] = []
    private var apiPorts: [Int] = []
    /// proxies[dialer][target]: nil on the diagonal.
    private var proxies: [[LoopbackProxy?]] = []
    /// Nodes the workload must not use (down, paused, cut off, not started yet).
    private var unavailable: Set<Int> = []
    private var running: [Bool] = []
    private var restarts: [Int] = []
    private var syncedEarlier: [UInt64] = []
    private var syncedNow: [UInt64] = []
    private var samples: [HeightSample] = []
    private var heals: [HealEvent] = []
    private var events: [String] = []
    private var faultsByNode: [[String]] = []
    private var outcomes: [TransactionOutcome] = []
    private var nextNonce: [String: UInt64] = [:]
    private var signerLocks: [String: NSLock] = [:]
    private var governanceSequence: UInt64 = 0
    private var workloadStart = Date()
    private var monitoring = true
    private var chainID = try! ChainID("harness")
    private var offerID: Hash?
    /// Nodes stopped with SIGSTOP.
    private var pausedNodes: Set<Int> = []
    private var audit: AuditCommand?

    /// What became of one planned transaction.
    struct TransactionOutcome {
        enum Status { case pending, acknowledged, timedOut, rejected, unreachable, skipped }
        var status: Status = .pending
        var hash: Hash?
        var code: String?
        var submittedAtMilliseconds: UInt64 = 0
        var latencyMilliseconds: UInt64 = 0
        var detail: String = ""
    }

    /// Prepares a run; nothing starts until `run`.
    public init(configuration: HarnessRunConfiguration) {
        self.configuration = configuration
        manifest = configuration.manifest
        plan = HarnessPlan(manifest: configuration.manifest, seed: configuration.seed)
        runDirectory =
            URL(fileURLWithPath: configuration.runsDirectory).appendingPathComponent(
                "\(configuration.manifest.name)-\(configuration.seed)"
            ).standardizedFileURL.path
        validatorCount = configuration.manifest.powers.count
    }

    private func log(_ line: String) { configuration.log("harness: \(line)") }

    private func milliseconds() -> UInt64 { UInt64(max(0, Date().timeIntervalSince(workloadStart)) * 1000) }

    private func event(_ text: String) {
        let line = "\(String(format: "%7.1f", Double(milliseconds()) / 1000)) s  \(text)"
        lock.withLock { events.append(line) }
        log(text)
    }

    private func homeOf(_ node: Int) -> String { "\(runDirectory)/nodes/node\(node + 1)" }

    // MARK: Run

    /// Carries out the run and returns its report; throws only when the run itself could not
    /// be carried out (an invariant failing is a report with `passed == false`).
    public func run() throws(HarnessError) -> HarnessReport {
        let started = Date()
        for line in plan.lines { log(line) }
        outcomes = Array(repeating: TransactionOutcome(), count: plan.transactions.count)
        running = Array(repeating: false, count: validatorCount)
        restarts = Array(repeating: 0, count: validatorCount)
        syncedEarlier = Array(repeating: 0, count: validatorCount)
        syncedNow = Array(repeating: 0, count: validatorCount)
        faultsByNode = Array(repeating: [], count: validatorCount)
        for fault in plan.faults { faultsByNode[fault.node - 1].append(fault.description) }
        try prepareNetwork()
        defer { shutdown() }
        try startNetwork()
        workloadStart = Date()
        // The last sample must be taken while every node still runs: stopping waits for it.
        let monitorDone = DispatchSemaphore(value: 0)
        let monitor = Thread { [self] in
            monitorLoop()
            monitorDone.signal()
        }
        monitor.start()
        let faultsDone = DispatchSemaphore(value: 0)
        Thread { [self] in
            faultLoop()
            faultsDone.signal()
        }.start()
        runWorkload()
        event("workload finished")
        faultsDone.wait()
        settle()
        lock.withLock { monitoring = false }
        // One pass of the loop: at most one request per node, then its pause.
        let monitorPassSeconds = Self.metricsRequestSecondsMax * validatorCount + 5
        if monitorDone.wait(timeout: .now() + .seconds(monitorPassSeconds)) == .timedOut {
            log("the height monitor did not finish its last pass within \(monitorPassSeconds) s")
        }
        stopNodes()
        let observation = try observe()
        let invariants = InvariantChecker.check(observation)
        var report = makeReport(observation: observation, invariants: invariants, started: started)
        report.kept = !report.passed || configuration.keepOnSuccess
        writeReport(report)
        if !report.kept { try? FileManager.default.removeItem(atPath: runDirectory) }
        return report
    }

    // MARK: Network

    private func runSocai(_ arguments: [String]) throws(HarnessError) -> (status: Int32, output: String) {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: configuration.binaryPath)
        child.arguments = arguments
        let outputPath = "\(runDirectory)/command-\(UUID().uuidString).txt"
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            child.standardOutput = handle
            child.standardError = handle
            child.standardInput = FileHandle.nullDevice
            try child.run()
            child.waitUntilExit()
            try handle.close()
        } catch {
            throw HarnessError(.process, "cannot run \(configuration.binaryPath) \(arguments.joined(separator: " ")): \(error)")
        }
        let output = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
        return (child.terminationStatus, output)
    }

    /// A fresh genesis and node homes, with the manifest's powers, free ports, peers behind
    /// harness proxies and the Byzantine node's test-only mode.
    private func prepareNetwork() throws(HarnessError) {
        let fileManager = FileManager.default
        try? fileManager.removeItem(atPath: runDirectory)
        do { try fileManager.createDirectory(atPath: runDirectory, withIntermediateDirectories: true) } catch {
            throw HarnessError(.io, "cannot create \(runDirectory): \(error.localizedDescription)")
        }
        let chainName = "harness-" + manifest.name.lowercased()
        chainID = try! ChainID(String(chainName.prefix(48)))
        let workload = HarnessWorkload(seed: configuration.seed, chainID: chainID)
        let ports = try LoopbackProxy.freePorts(2 * validatorCount + validatorCount * (validatorCount - 1))
        apiPorts = Array(ports[0..<validatorCount])
        let peerPorts = Array(ports[validatorCount..<(2 * validatorCount)])
        var proxyPorts = Array(ports[(2 * validatorCount)...])
        let initialized = try runSocai(
            [
                "genesis", "init", "--validators", "\(validatorCount)", "--chain-id", chainID.value, "--out",
                "\(runDirectory)/genesis.json", "--nodes", "\(runDirectory)/nodes", "--force",
            ] + workload.genesisArguments())
        guard initialized.status == 0 else { throw HarnessError(.process, "genesis init failed: \(initialized.output)") }

        // The manifest's powers.
        let genesisPath = "\(runDirectory)/genesis.json"
        var genesis = try readJSON(genesisPath)
        guard var validators = genesis["validators"] as? [[String: Any]], validators.count == validatorCount else {
            throw HarnessError(.io, "\(genesisPath) has no validators list of \(validatorCount)")
        }
        for index in validators.indices { validators[index]["power"] = manifest.powers[index] }
        genesis["validators"] = validators
        try writeJSON(genesis, to: genesisPath)

        let byzantine = plan.faults.first { $0.kind == .byzantine }?.node
        proxies = Array(repeating: Array(repeating: nil, count: validatorCount), count: validatorCount)
        for node in 0..<validatorCount {
            let path = "\(homeOf(node))/config.json"
            var config = try readJSON(path)
            config["apiListenAddress"] = "127.0.0.1:\(apiPorts[node])"
            config["peerListenAddress"] = "127.0.0.1:\(peerPorts[node])"
            guard var peers = config["peers"] as? [[String: Any]] else { throw HarnessError(.io, "\(path) has no peers") }
            for index in peers.indices {
                guard let name = peers[index]["name"] as? String, let target = Int(name.dropFirst(4)), target >= 1,
                    target <= validatorCount
                else { throw HarnessError(.io, "\(path): unexpected peer entry") }
                let port = proxyPorts.removeFirst()
                proxies[node][target - 1] = LoopbackProxy(listenPort: port, targetPort: peerPorts[target - 1])
                peers[index]["address"] = "127.0.0.1:\(port)"
            }
            config["peers"] = peers
            if byzantine == node + 1 { config["byzantine"] = "equivocate" }
            try writeJSON(config, to: path)
            let environment = byzantine == node + 1 ? ["SOCAI_ALLOW_BYZANTINE": "1"] : [:]
            nodes.append(
                NodeProcess(
                    binary: configuration.binaryPath, home: homeOf(node), logPath: "\(runDirectory)/node\(node + 1).log",
                    environment: environment))
        }
        for row in proxies { for proxy in row { try proxy?.start() } }
        log("network of \(validatorCount) validators prepared in \(runDirectory)")
    }

    private func readJSON(_ path: String) throws(HarnessError) -> [String: Any] {
        guard let data = FileManager.default.contents(atPath: path),
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { throw HarnessError(.io, "cannot read \(path) as a JSON object") }
        return object
    }

    private func writeJSON(_ object: [String: Any], to path: String) throws(HarnessError) {
        do {
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw HarnessError(.io, "cannot write \(path): \(error.localizedDescription)")
        }
    }

    private func api(_ node: Int) -> String { "http://127.0.0.1:\(apiPorts[node])" }

    private func start(_ node: Int) throws(HarnessError) {
        try nodes[node].start()
        lock.withLock {
            running[node] = true
            unavailable.remove(node)
        }
    }

    /// Starts every node but the late one, and waits for the first committed blocks.
    private func startNetwork() throws(HarnessError) {
        let late = plan.faults.first { $0.kind == .late }.map { $0.node - 1 }
        for node in 0..<validatorCount {
            if node == late {
                lock.withLock { _ = unavailable.insert(node) }
            } else {
                try start(node)
            }
        }
        let deadline = Date().addingTimeInterval(manifest.startTimeoutSeconds)
        while Date() < deadline {
            let heights = (0..<validatorCount).filter { $0 != late }.compactMap { height(of: $0) }
            if heights.count == validatorCount - (late == nil ? 0 : 1), heights.min() ?? 0 >= 1 { break }
            usleep(250_000)
        }
        guard (0..<validatorCount).contains(where: { (height(of: $0) ?? 0) >= 1 }) else {
            throw HarnessError(
                .startTimeout, "no block committed within \(manifest.startTimeoutSeconds) s; logs in \(runDirectory)")
        }
        log("the network is committing")
        if plan.transactions.contains(where: { $0.kind == .orderPlace }) {
            let workload = HarnessWorkload(seed: configuration.seed, chainID: chainID)
            do {
                let offer = try workload.offer(nonce: 1)
                if case .acknowledged = submit(offer, preferring: 0).status { offerID = offer.hash }
                lock.withLock { nextNonce[Hex.encode(workload.provider(0).publicKey)] = 2 }
            } catch {
                log("cannot build the offer: \(error)")
            }
        }
    }

    private func height(of node: Int) -> UInt64? {
        HarnessHTTP.metrics("\(api(node))/metrics", timeoutSeconds: 1)?["socai_height"].map { UInt64($0) }
    }

    // MARK: Monitor

    private func monitorLoop() {
        while lock.withLock({ monitoring }) {
            let at = milliseconds()
            var heights: [UInt64?] = []
            for node in 0..<validatorCount {
                let (isRunning, paused) = lock.withLock { (running[node], pausedNodes.contains(node)) }
                // A paused process cannot answer; do not wait for it.
                guard isRunning, !paused else {
                    heights.append(nil)
                    continue
                }
                let metrics = HarnessHTTP.metrics("\(api(node))/metrics", timeoutSeconds: Double(Self.metricsRequestSecondsMax))
                heights.append(metrics?["socai_height"].map { UInt64($0) })
                if let synced = metrics?["socai_blocks_synced_total"] { lock.withLock { syncedNow[node] = UInt64(synced) } }
            }
            lock.withLock { samples.append(HeightSample(atMilliseconds: at, heights: heights)) }
            usleep(useconds_t(Self.sampleIntervalMilliseconds * 1_000))
        }
    }

    private func networkHeight() -> UInt64 {
        lock.withLock { samples.last?.heights.compactMap { $0 }.max() ?? 0 }
    }

    // MARK: Faults

    private func faultLoop() {
        var pending = plan.faults.filter { $0.kind != .byzantine }
        var active: [(fault: PlannedFault, healAtMilliseconds: UInt64)] = []
        let workloadMilliseconds = UInt64(manifest.workload.durationSeconds * 1000)
        // Height triggers that never fire are applied at this time, so the run ends.
        let triggerDeadline = workloadMilliseconds + UInt64(manifest.livenessBoundSeconds * 1000)
        var iterations = 0
        while !pending.isEmpty || !active.isEmpty {
            iterations += 1
            precondition(iterations < 10_000_000)
            let now = milliseconds()
            for fault in pending {
                let due: Bool
                if let at = fault.atMilliseconds {
                    due = now >= at
                } else if let height = fault.atHeight {
                    due = networkHeight() >= height || now >= triggerDeadline
                } else {
                    due = true
                }
                guard due else { continue }
                pending.removeAll { $0.index == fault.index }
                if let duration = apply(fault) { active.append((fault, now + duration)) }
            }
            for entry in active where milliseconds() >= entry.healAtMilliseconds {
                active.removeAll { $0.fault.index == entry.fault.index }
                heal(entry.fault)
            }
            usleep(100_000)
        }
    }

    /// Starts a fault; returns how long until it heals (nil: it is over already).
    private func apply(_ fault: PlannedFault) -> UInt64? {
        let node = fault.node - 1
        switch fault.kind {
        case .kill:
            event("kill node\(fault.node) (SIGKILL)")
            markDown(node)
            nodes[node].send(SIGKILL, waitSeconds: Self.stopWaitSeconds)
            return fault.durationMilliseconds
        case .pause:
            event("pause node\(fault.node) (SIGSTOP)")
            lock.withLock {
                _ = unavailable.insert(node)
                _ = pausedNodes.insert(node)
            }
            nodes[node].send(SIGSTOP)
            return fault.durationMilliseconds
        case .restart:
            event("restart node\(fault.node) (SIGTERM, then start)")
            markDown(node)
            nodes[node].send(SIGTERM, waitSeconds: Self.stopWaitSeconds)
            restartNode(node)
            recordHeal(fault, node: node)
            return nil
        case .disconnect:
            event("disconnect node\(fault.node) from its peers")
            lock.withLock { _ = unavailable.insert(node) }
            setLinks(of: node, blocked: true)
            return fault.durationMilliseconds
        case .late:
            event("start late node\(fault.node) at network height \(networkHeight())")
            do { try start(node) } catch { event("cannot start node\(fault.node): \(error)") }
            recordHeal(fault, node: node)
            return nil
        case .validatorChange:
            changeValidatorPower(fault)
            recordHeal(fault, node: node)
            return nil
        case .byzantine:
            return nil
        }
    }

    private func heal(_ fault: PlannedFault) {
        let node = fault.node - 1
        switch fault.kind {
        case .kill:
            event("start killed node\(fault.node) again")
            restartNode(node)
        case .pause:
            event("resume node\(fault.node) (SIGCONT)")
            nodes[node].send(SIGCONT)
            lock.withLock {
                _ = unavailable.remove(node)
                _ = pausedNodes.remove(node)
            }
        case .disconnect:
            event("reconnect node\(fault.node)")
            setLinks(of: node, blocked: false)
            lock.withLock { _ = unavailable.remove(node) }
        default:
            break
        }
        recordHeal(fault, node: node)
    }

    private func recordHeal(_ fault: PlannedFault, node: Int) {
        let heal = HealEvent(fault: fault.description, node: node, healedAtMilliseconds: milliseconds())
        lock.withLock { heals.append(heal) }
    }

    private func markDown(_ node: Int) {
        lock.withLock {
            running[node] = false
            unavailable.insert(node)
            syncedEarlier[node] += syncedNow[node]
            syncedNow[node] = 0
        }
    }

    private func restartNode(_ node: Int) {
        do {
            try start(node)
            lock.withLock { restarts[node] += 1 }
        } catch {
            event("cannot restart node\(node + 1): \(error)")
        }
    }

    private func setLinks(of node: Int, blocked: Bool) {
        for other in 0..<validatorCount where other != node {
            proxies[node][other]?.setBlocked(blocked)
            proxies[other][node]?.setBlocked(blocked)
        }
    }

    /// Submits the governance action setting the node's power, signed by the generated governance key.
    private func changeValidatorPower(_ fault: PlannedFault) {
        do {
            let keyFile = try readJSON("\(runDirectory)/nodes/governance/governance_key.test-only.json")
            let nodeKeyFile = try readJSON("\(homeOf(fault.node - 1))/node_key.test-only.json")
            guard let seedHex = keyFile["seed"] as? String, let validatorHex = nodeKeyFile["publicKey"] as? String else {
                throw HarnessError(.io, "governance or node key file without seed/publicKey")
            }
            let key = try SigningKey(seed: Hex.decode(seedHex, count: Ed25519.seedBytes))
            let sequence = lock.withLock {
                governanceSequence += 1
                return governanceSequence
            }
            let action = GovernanceAction.setValidatorPower(publicKey: try PublicKey(hex: validatorHex), power: fault.power ?? 0)
            let envelope = try Governance(sequence: sequence, action: action).envelope(
                chainID: chainID, key: key, nonce: sequence)
            let outcome = submit(envelope, preferring: 0)
            event(
                "governance: node\(fault.node) power to \(fault.power ?? 0) at network height \(networkHeight()): "
                    + "\(outcome.status) \(outcome.code ?? "") \(outcome.detail)")
        } catch {
            event("validator change failed: \(error)")
        }
    }

    // MARK: Workload

    private func runWorkload() {
        let workload = HarnessWorkload(seed: configuration.seed, chainID: chainID)
        let group = DispatchGroup()
        let slots = DispatchSemaphore(value: manifest.workload.concurrency)
        for transaction in plan.transactions {
            let due = workloadStart.addingTimeInterval(Double(transaction.atMilliseconds) / 1000)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
            slots.wait()
            group.enter()
            // A thread of its own, not a Dispatch worker: each blocks on an HTTP wait for
            // commit, and blocked workers would starve the small Dispatch pool that also
            // delivers URLSession's completions.
            let worker = Thread { [self] in
                execute(transaction, workload: workload)
                slots.signal()
                group.leave()
            }
            worker.start()
        }
        group.wait()
    }

    private func execute(_ transaction: PlannedTransaction, workload: HarnessWorkload) {
        var dependencyHash: Hash?
        var dependency: PlannedTransaction?
        if let index = transaction.dependsOn {
            dependency = plan.transactions[index]
            let deadline = Date().addingTimeInterval(Double(Self.dependencyWaitMilliseconds) / 1000)
            while true {
                let outcome = lock.withLock { outcomes[index] }
                if case .acknowledged = outcome.status {
                    dependencyHash = outcome.hash
                    break
                }
                if case .pending = outcome.status, Date() < deadline {
                    usleep(50_000)
                    continue
                }
                lock.withLock { outcomes[transaction.index].status = .skipped }
                return
            }
        }
        let key = workload.signer(of: transaction)
        let signerID = Hex.encode(key.publicKey)
        let signerLock = lock.withLock {
            if let existing = signerLocks[signerID] { return existing }
            let created = NSLock()
            signerLocks[signerID] = created
            return created
        }
        signerLock.lock()
        defer { signerLock.unlock() }
        let nonce = lock.withLock { nextNonce[signerID] ?? 1 }
        let envelope: TransactionEnvelope
        do {
            envelope = try workload.envelope(
                transaction, nonce: nonce, dependency: dependency, dependencyHash: dependencyHash, offerID: offerID)
        } catch {
            lock.withLock {
                outcomes[transaction.index].status = .skipped
                outcomes[transaction.index].detail = "\(error)"
            }
            return
        }
        let outcome = submit(envelope, preferring: transaction.index)
        lock.withLock {
            outcomes[transaction.index] = outcome
            switch outcome.status {
            case .acknowledged, .timedOut: nextNonce[signerID] = nonce + 1
            default: break
            }
        }
    }

    /// POSTs a transaction and waits for its commit, trying another available node when one
    /// does not answer.
    private func submit(_ envelope: TransactionEnvelope, preferring preferred: Int) -> TransactionOutcome {
        var outcome = TransactionOutcome()
        outcome.hash = envelope.hash
        let body = try! JSONSerialization.data(withJSONObject: ["transaction": Hex.encode(envelope.canonicalBytes)])
        // A node that is still catching up judges a transaction against an older state (a
        // nonce, a consent not yet committed there): a refusal is retried on another node
        // after a pause.
        for attempt in 0..<Self.submitAttemptsMax {
            let available = lock.withLock { (0..<validatorCount).filter { !unavailable.contains($0) } }
            guard !available.isEmpty else { break }
            let node = available[(preferred + attempt) % available.count]
            outcome.submittedAtMilliseconds = milliseconds()
            let answer = HarnessHTTP.request(
                "POST", "\(api(node))/v1/tx?wait=commit&timeoutMs=\(Self.commitWaitMilliseconds)", body: body,
                timeoutSeconds: Double(Self.commitWaitMilliseconds) / 1000 + 5)
            guard let (status, data) = answer else { continue }
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            switch status {
            case 200:
                outcome.status = .acknowledged
                outcome.latencyMilliseconds = milliseconds() - outcome.submittedAtMilliseconds
                outcome.code = (object?["result"] as? [String: Any])?["code"] as? String
            case 504:
                outcome.status = .timedOut
            case 409:
                // Already pending or committed: an earlier attempt reached a node that went down
                // after gossiping it. Wait for its commit as the first node would have.
                outcome = awaitCommit(outcome, at: node)
            default:
                outcome.status = .rejected
                let error = object?["error"] as? [String: Any]
                outcome.detail = "\(status) \(error?["message"] as? String ?? String(decoding: data.prefix(200), as: UTF8.self))"
                if status == 422, attempt + 1 < Self.submitAttemptsMax {
                    usleep(500_000)
                    continue
                }
            }
            return outcome
        }
        if case .pending = outcome.status { outcome.status = .unreachable }
        return outcome
    }

    /// Polls `GET /v1/tx/{hash}` until the transaction is committed or the commit wait passes.
    private func awaitCommit(_ submitted: TransactionOutcome, at node: Int) -> TransactionOutcome {
        var outcome = submitted
        outcome.status = .timedOut
        let deadline = Date().addingTimeInterval(Double(Self.commitWaitMilliseconds) / 1000)
        while Date() < deadline {
            if let object = HarnessHTTP.json("\(api(node))/v1/tx/\(submitted.hash!.hex)") {
                outcome.status = .acknowledged
                outcome.latencyMilliseconds = milliseconds() - outcome.submittedAtMilliseconds
                outcome.code = object["code"] as? String ?? (object["result"] as? [String: Any])?["code"] as? String
                return outcome
            }
            usleep(250_000)
        }
        return outcome
    }

    // MARK: End

    /// Waits until every node is up and has caught up with the chain (bounded by the liveness bound).
    private func settle() {
        let target = networkHeight()
        let deadline = Date().addingTimeInterval(manifest.livenessBoundSeconds)
        while Date() < deadline {
            let last = lock.withLock { samples.last }
            if let last, last.heights.allSatisfy({ ($0 ?? 0) >= target + 1 }) { break }
            usleep(250_000)
        }
        event("settled at network height \(networkHeight())")
    }

    private func stopNodes() {
        for node in 0..<validatorCount {
            nodes[node].send(SIGCONT)
            nodes[node].send(SIGTERM, waitSeconds: Self.stopWaitSeconds)
            lock.withLock {
                running[node] = false
                syncedEarlier[node] += syncedNow[node]
                syncedNow[node] = 0
            }
        }
    }

    private func shutdown() {
        for node in nodes {
            node.send(SIGCONT)
            node.send(SIGKILL, waitSeconds: 1)
        }
        for row in proxies { for proxy in row { proxy?.stop() } }
    }

    /// Reads every store and audits it.
    private func observe() throws(HarnessError) -> RunObservation {
        var observations: [NodeObservation] = []
        let validatorChanges = plan.faults.filter { $0.kind == .validatorChange }.count
        let audit = auditCommand()
        self.audit = audit
        for node in 0..<validatorCount {
            var blocks: [BlockObservation] = []
            let path = "\(homeOf(node))/data/chain.sqlite"
            if FileManager.default.fileExists(atPath: path) {
                do {
                    let store = try BlockStore(existingAt: path)
                    var height: UInt64 = 1
                    while height <= store.height, let stored = try store.block(at: height) {
                        let block = stored.block
                        blocks.append(
                            BlockObservation(
                                height: height, hash: block.hash.hex, stateRoot: block.header.stateRoot.hex,
                                transactionHashes: block.transactions.map(\.hash.hex),
                                evidenceValidators: block.evidence.map(\.voteA.validator.hex)))
                        height += 1
                    }
                } catch {
                    log("cannot read \(path): \(error)")
                }
            }
            var observation = NodeObservation(name: "node\(node + 1)", blocks: blocks)
            observation.restarts = restarts[node]
            observation.blocksSynced = syncedEarlier[node]
            let audited = try runSocai(audit.arguments(homeOf(node)))
            observation.auditPassed = audited.status == 0
            observation.auditDetail = audit.detail(audited.output, validatorChanges: validatorChanges)
            observations.append(observation)
        }
        let acknowledged = outcomes.compactMap { outcome -> String? in
            if case .acknowledged = outcome.status { return outcome.hash?.hex }
            return nil
        }
        var equivocators: [String] = []
        if let byzantine = plan.faults.first(where: { $0.kind == .byzantine }) {
            let keyFile = try readJSON("\(homeOf(byzantine.node - 1))/node_key.test-only.json")
            if let publicKey = keyFile["publicKey"] as? String { equivocators.append(publicKey) }
        }
        return RunObservation(
            nodes: observations, acknowledgedTransactions: acknowledged, samples: samples, heals: heals,
            equivocators: equivocators, livenessBoundMilliseconds: UInt64(manifest.livenessBoundSeconds * 1000))
    }

    /// The audit run on each stopped store: `socai audit replay` when this binary has it,
    /// otherwise `socai chain verify` (hash links, Merkle roots, commit certificates).
    struct AuditCommand {
        let name: String
        let genesis: String
        let replay: Bool
        func arguments(_ home: String) -> [String] {
            replay ? ["audit", "replay", "--genesis", genesis, "--home", home] : ["chain", "verify", "--home", home, "--json"]
        }

        /// The audit's verdict in one line. `chain verify` checks every certificate against the
        /// genesis validator set, so after a validator change it fails by construction: say so.
        func detail(_ output: String, validatorChanges: Int) -> String {
            guard !replay else { return output.split(separator: "\n").last.map(String.init) ?? "" }
            guard let start = output.firstIndex(of: "{"),
                let object = (try? JSONSerialization.jsonObject(with: Data(output[start...].utf8))) as? [String: Any]
            else { return String(output.prefix(300)) }
            guard let bad = object["firstBadHeight"] as? Int else {
                return "\(object["tipHeight"] as? Int ?? 0) blocks verified"
            }
            var text = "first bad height \(bad): \(object["problem"] as? String ?? "")"
            if validatorChanges > 0 {
                text +=
                    " (chain verify checks certificates against the genesis validator set only; the run changed the "
                    + "set, which needs socai audit replay)"
            }
            return text
        }
    }

    private func auditCommand() -> AuditCommand {
        // An unknown subcommand with --help prints the top-level help and exits 0 as well, so
        // the probe looks for the subcommand's own usage line.
        let probe = try? runSocai(["audit", "replay", "--help"])
        let replay = probe?.status == 0 && probe?.output.contains("socai audit replay") == true
        return AuditCommand(
            name: replay ? "socai audit replay" : "socai chain verify", genesis: "\(runDirectory)/genesis.json", replay: replay)
    }

    private func makeReport(observation: RunObservation, invariants: [InvariantResult], started: Date) -> HarnessReport {
        var workload = WorkloadReport()
        workload.planned = plan.transactions.count
        var commits: [(atMilliseconds: UInt64, latencyMilliseconds: UInt64)] = []
        for outcome in outcomes {
            switch outcome.status {
            case .acknowledged:
                workload.acknowledged += 1
                if outcome.code != "ok" { workload.acknowledgedNotOK += 1 }
                commits.append((outcome.submittedAtMilliseconds + outcome.latencyMilliseconds, outcome.latencyMilliseconds))
            case .timedOut: workload.timedOut += 1
            case .rejected:
                workload.rejected += 1
                if workload.rejectionSamples.count < 5 { workload.rejectionSamples.append(outcome.detail) }
            case .unreachable: workload.unreachable += 1
            case .skipped, .pending: workload.skipped += 1
            }
        }
        let nodeReports = observation.nodes.enumerated().map { index, node in
            NodeReport(
                name: node.name, power: manifest.powers[index], finalHeight: node.finalHeight, restarts: node.restarts,
                blocksSynced: node.blocksSynced, transactionsCommitted: node.transactionsCommitted,
                faults: faultsByNode[index])
        }
        return HarnessReport(
            manifest: manifest.name, seed: configuration.seed, plan: plan.lines, nodes: nodeReports,
            timeline: HarnessReport.timeline(
                commits: commits, samples: observation.samples, bucketMilliseconds: Self.bucketMilliseconds),
            workload: workload, events: events, invariants: invariants, auditCommand: audit?.name ?? "none",
            durationSeconds: Date().timeIntervalSince(started), runDirectory: runDirectory, kept: true)
    }

    private func writeReport(_ report: HarnessReport) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? encoder.encode(report) {
            try? data.write(to: URL(fileURLWithPath: "\(runDirectory)/report.json"))
        }
        try? Data(report.text.utf8).write(to: URL(fileURLWithPath: "\(runDirectory)/report.txt"))
    }
}
