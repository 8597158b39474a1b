/// One stored block as the invariants see it.
public struct BlockObservation: Sendable, Equatable, Codable {
    /// Its height.
    public var height: UInt64
    /// Its hash, hex.
    public var hash: String
    /// The state root in its header, hex.
    public var stateRoot: String
    /// The hashes of its transactions, hex, in block order.
    public var transactionHashes: [String]
    /// The validators (public keys, hex) its evidence accuses.
    public var evidenceValidators: [String]

    /// Creates an observation.
    public init(height: UInt64, hash: String, stateRoot: String, transactionHashes: [String], evidenceValidators: [String] = []) {
        self.height = height
        self.hash = hash
        self.stateRoot = stateRoot
        self.transactionHashes = transactionHashes
        self.evidenceValidators = evidenceValidators
    }
}

/// What one node's store and process history showed at the end of a run.
public struct NodeObservation: Sendable, Equatable, Codable {
    /// The node's name (node1 …).
    public var name: String
    /// Its stored blocks, heights 1, 2, … in order.
    public var blocks: [BlockObservation]
    /// Times the harness started it again (kill, restart).
    public var restarts: Int = 0
    /// Blocks it applied through block sync (summed over its processes, as last seen).
    public var blocksSynced: UInt64 = 0
    /// Whether the audit of its store passed; nil when it was not run.
    public var auditPassed: Bool?
    /// What the audit said.
    public var auditDetail: String = ""

    /// Creates an observation.
    public init(name: String, blocks: [BlockObservation]) {
        self.name = name
        self.blocks = blocks
    }

    /// The highest stored height.
    public var finalHeight: UInt64 { blocks.last?.height ?? 0 }
    /// Transactions in its stored chain.
    public var transactionsCommitted: Int { blocks.reduce(0) { $0 + $1.transactionHashes.count } }
}

/// Every node's committed height at one moment (nil: down or not answering).
public struct HeightSample: Sendable, Equatable, Codable {
    /// Milliseconds after the workload started.
    public var atMilliseconds: UInt64
    /// Each node's height.
    public var heights: [UInt64?]

    /// Creates a sample.
    public init(atMilliseconds: UInt64, heights: [UInt64?]) {
        self.atMilliseconds = atMilliseconds
        self.heights = heights
    }
}

/// The moment a fault ended (the node restarted, resumed, reconnected, or started late).
public struct HealEvent: Sendable, Equatable, Codable {
    /// The fault, as planned.
    public var fault: String
    /// The node, 0-based.
    public var node: Int
    /// Milliseconds after the workload started.
    public var healedAtMilliseconds: UInt64

    /// Creates an event.
    public init(fault: String, node: Int, healedAtMilliseconds: UInt64) {
        self.fault = fault
        self.node = node
        self.healedAtMilliseconds = healedAtMilliseconds
    }
}

/// Everything the invariants are checked against.
public struct RunObservation: Sendable, Equatable {
    /// Each node, node1 first.
    public var nodes: [NodeObservation]
    /// Hashes (hex) of transactions the network acknowledged as committed.
    public var acknowledgedTransactions: [String]
    /// Heights over time.
    public var samples: [HeightSample]
    /// When each fault healed.
    public var heals: [HealEvent]
    /// Public keys (hex) of validators that equivocated.
    public var equivocators: [String]
    /// How long after a heal the chain must have advanced and the node caught up.
    public var livenessBoundMilliseconds: UInt64

    /// Creates an observation.
    public init(
        nodes: [NodeObservation], acknowledgedTransactions: [String], samples: [HeightSample], heals: [HealEvent],
        equivocators: [String], livenessBoundMilliseconds: UInt64
    ) {
        self.nodes = nodes
        self.acknowledgedTransactions = acknowledgedTransactions
        self.samples = samples
        self.heals = heals
        self.equivocators = equivocators
        self.livenessBoundMilliseconds = livenessBoundMilliseconds
    }
}

/// The invariants a run must keep.
public enum InvariantName: String, Sendable, Codable, CaseIterable {
    /// Every node stored the same block at every height.
    case identicalBlockHashes = "identical block hashes"
    /// Every node reached the same state root at every height.
    case identicalStateRoots = "identical state roots"
    /// Every acknowledged transaction is in the chain exactly once, and no transaction twice.
    case committedExactlyOnce = "acknowledged transactions committed exactly once"
    /// After each fault healed the chain advanced, the healed node caught up, and no node stalled.
    case liveness = "liveness after every heal"
    /// Every equivocating validator is accused by evidence in a committed block.
    case evidenceCommitted = "evidence committed for every equivocation"
    /// Every node's store passes the audit.
    case auditPasses = "audit of every store passes"
}

/// One invariant's verdict.
public struct InvariantResult: Sendable, Equatable, Codable {
    /// Which invariant.
    public var name: InvariantName
    /// Whether it held.
    public var passed: Bool
    /// What was checked, or the first violations.
    public var detail: String
}

/// Checks a run's invariants on observations alone (no processes), so each check can be
/// tested on synthetic data.
public enum InvariantChecker {
    /// Most violations listed per invariant.
    public static let violationsListedMax = 5
    /// Heights the chain must add after a heal.
    public static let progressHeights: UInt64 = 1

    /// Every invariant, in `InvariantName` order.
    public static func check(_ run: RunObservation) -> [InvariantResult] {
        [
            identical(run, .identicalBlockHashes, \.hash), identical(run, .identicalStateRoots, \.stateRoot),
            exactlyOnce(run), liveness(run), evidence(run), audit(run),
        ]
    }

    static func result(_ name: InvariantName, _ violations: [String], passed detail: String) -> InvariantResult {
        if violations.isEmpty { return InvariantResult(name: name, passed: true, detail: detail) }
        var listed = violations.prefix(violationsListedMax).joined(separator: "; ")
        if violations.count > violationsListedMax { listed += "; and \(violations.count - violationsListedMax) more" }
        return InvariantResult(name: name, passed: false, detail: listed)
    }

    static func identical(
        _ run: RunObservation, _ name: InvariantName, _ field: KeyPath<BlockObservation, String>
    ) -> InvariantResult {
        var violations: [String] = []
        let top = run.nodes.map(\.finalHeight).max() ?? 0
        var compared: UInt64 = 0
        if top > 0 {
            for height in 1...top {
                var values: [(node: String, value: String)] = []
                for node in run.nodes where height <= node.finalHeight {
                    let block = node.blocks[Int(height - 1)]
                    precondition(block.height == height, "blocks are listed by height from 1")
                    values.append((node.name, block[keyPath: field]))
                }
                compared += 1
                if Set(values.map(\.value)).count > 1 {
                    violations.append(
                        "height \(height): " + values.map { "\($0.node) \($0.value.prefix(12))" }.joined(separator: ", "))
                }
            }
        }
        return result(name, violations, passed: "\(compared) heights compared on \(run.nodes.count) nodes")
    }

    static func exactlyOnce(_ run: RunObservation) -> InvariantResult {
        var violations: [String] = []
        for node in run.nodes {
            var seen: [String: UInt64] = [:]
            for block in node.blocks {
                for hash in block.transactionHashes {
                    if let first = seen[hash] {
                        violations.append("\(node.name): transaction \(hash.prefix(12)) at heights \(first) and \(block.height)")
                    }
                    seen[hash] = seen[hash] ?? block.height
                }
            }
        }
        // The longest chain holds every other node's chain as a prefix (checked above).
        let reference = run.nodes.max { $0.finalHeight < $1.finalHeight }
        let committed = Set(reference?.blocks.flatMap(\.transactionHashes) ?? [])
        for hash in run.acknowledgedTransactions where !committed.contains(hash) {
            violations.append("acknowledged transaction \(hash.prefix(12)) is in no block")
        }
        return result(
            .committedExactlyOnce, violations,
            passed: "\(run.acknowledgedTransactions.count) acknowledged, \(committed.count) committed, none twice")
    }

    static func liveness(_ run: RunObservation) -> InvariantResult {
        var violations: [String] = []
        let bound = run.livenessBoundMilliseconds
        func networkHeight(_ sample: HeightSample) -> UInt64 { sample.heights.compactMap { $0 }.max() ?? 0 }
        for heal in run.heals {
            let before = run.samples.last { $0.atMilliseconds <= heal.healedAtMilliseconds }
            let heightAtHeal = before.map(networkHeight) ?? 0
            let window = run.samples.filter {
                $0.atMilliseconds >= heal.healedAtMilliseconds && $0.atMilliseconds <= heal.healedAtMilliseconds + bound
            }
            if !window.contains(where: { networkHeight($0) >= heightAtHeal + progressHeights }) {
                violations.append(
                    "after \(heal.fault) healed at \(heal.healedAtMilliseconds) ms the chain stayed below height "
                        + "\(heightAtHeal + progressHeights) for \(bound) ms")
            }
            if !window.contains(where: { ($0.heights[heal.node] ?? 0) >= heightAtHeal }) {
                violations.append(
                    "after \(heal.fault) healed at \(heal.healedAtMilliseconds) ms node\(heal.node + 1) did not reach "
                        + "height \(heightAtHeal) within \(bound) ms")
            }
        }
        // No node may stall: at the end each is at least where the chain was a bound earlier.
        // A node's height at the end is the last one it answered with within that bound: a
        // sample or two it did not answer in time (a loaded machine) is not a stall, and a
        // node that answered nothing in the last bound has stalled whatever it reached.
        if let last = run.samples.last, last.atMilliseconds >= bound {
            let earlier = run.samples.last { $0.atMilliseconds <= last.atMilliseconds - bound }
            let target = earlier.map(networkHeight) ?? 0
            let recent = run.samples.filter { $0.atMilliseconds + bound >= last.atMilliseconds }
            let finalHeights = last.heights.indices.map { node in
                recent.reversed().lazy.compactMap { node < $0.heights.count ? $0.heights[node] : nil }.first
            }
            for (index, height) in finalHeights.enumerated() where (height ?? 0) < target {
                violations.append(
                    "node\(index + 1) stalled: at height \(height.map(String.init) ?? "none") at the end, "
                        + "below the chain's height \(target) \(bound) ms earlier")
            }
        }
        return result(
            .liveness, violations,
            passed: "\(run.heals.count) heal(s) followed by progress within \(bound) ms; no node stalled")
    }

    static func evidence(_ run: RunObservation) -> InvariantResult {
        guard !run.equivocators.isEmpty else {
            return InvariantResult(name: .evidenceCommitted, passed: true, detail: "no validator equivocated")
        }
        let reference = run.nodes.max { $0.finalHeight < $1.finalHeight }
        var accused: [String: Int] = [:]
        for block in reference?.blocks ?? [] {
            for validator in block.evidenceValidators { accused[validator, default: 0] += 1 }
        }
        let violations = run.equivocators.filter { accused[$0] == nil }.map {
            "validator \($0.prefix(12)) equivocated but no committed evidence accuses it"
        }
        let count = run.equivocators.map { accused[$0] ?? 0 }.reduce(0, +)
        return result(.evidenceCommitted, violations, passed: "\(count) piece(s) of evidence committed")
    }

    static func audit(_ run: RunObservation) -> InvariantResult {
        let violations = run.nodes.filter { $0.auditPassed != true }.map {
            "\($0.name): \($0.auditPassed == nil ? "not audited" : "failed"): \($0.auditDetail)"
        }
        return result(.auditPasses, violations, passed: "\(run.nodes.count) stores audited")
    }
}
