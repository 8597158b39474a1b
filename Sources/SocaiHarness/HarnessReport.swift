import Foundation

/// One row of the per-node table.
public struct NodeReport: Sendable, Equatable, Codable {
    /// node1 …
    public var name: String
    /// Its voting power at genesis.
    public var power: UInt64
    /// Highest stored height at the end.
    public var finalHeight: UInt64
    /// Times the harness started it again.
    public var restarts: Int
    /// Blocks it applied through block sync.
    public var blocksSynced: UInt64
    /// Transactions in its stored chain.
    public var transactionsCommitted: Int
    /// The faults that hit it.
    public var faults: [String]
}

/// One interval of the run.
public struct TimelineBucket: Sendable, Equatable, Codable {
    /// Interval start, seconds after the workload started.
    public var startSeconds: Double
    /// The chain's height at the interval's end.
    public var height: UInt64
    /// Transactions acknowledged in the interval.
    public var transactionsCommitted: Int
    /// Acknowledged transactions per second.
    public var throughputPerSecond: Double
    /// Median submit-to-commit latency, milliseconds (nil when none).
    public var latencyMedianMilliseconds: UInt64?
    /// Largest submit-to-commit latency, milliseconds.
    public var latencyMaxMilliseconds: UInt64?
}

/// What happened to the workload.
public struct WorkloadReport: Sendable, Equatable, Codable {
    /// Transactions planned.
    public var planned: Int = 0
    /// Acknowledged as committed by the node they were sent to.
    public var acknowledged: Int = 0
    /// Acknowledged, but their result code was not `ok` (committed, rejected by a rule).
    public var acknowledgedNotOK: Int = 0
    /// Accepted but not committed within the wait.
    public var timedOut: Int = 0
    /// Refused by the node (mempool rules).
    public var rejected: Int = 0
    /// No node answered.
    public var unreachable: Int = 0
    /// Skipped because what they build on was not acknowledged.
    public var skipped: Int = 0
    /// The first few refusals, for diagnosis.
    public var rejectionSamples: [String] = []
}

/// A run's complete report (`--json` prints it as is).
public struct HarnessReport: Sendable, Equatable, Codable {
    /// The manifest.
    public var manifest: String
    /// The seed.
    public var seed: UInt64
    /// The plan, as printed before the run.
    public var plan: [String]
    /// The per-node table.
    public var nodes: [NodeReport]
    /// Throughput, latency and height over time.
    public var timeline: [TimelineBucket]
    /// The workload's outcome.
    public var workload: WorkloadReport
    /// Events the harness carried out, with their times.
    public var events: [String]
    /// Every invariant's verdict.
    public var invariants: [InvariantResult]
    /// The command the audit invariant ran on each store.
    public var auditCommand: String
    /// Wall-clock length of the run, seconds.
    public var durationSeconds: Double
    /// Where the logs and data directories are (kept when the run failed).
    public var runDirectory: String
    /// Whether the run directory was kept.
    public var kept: Bool

    /// Whether every invariant held.
    public var passed: Bool { invariants.allSatisfy(\.passed) }

    /// The report as text: the node table, the timeline and the invariants.
    public var text: String {
        var lines: [String] = []
        lines.append("harness run \(manifest), seed \(seed): \(passed ? "PASSED" : "FAILED") in \(format(durationSeconds)) s")
        lines += plan
        lines.append("")
        lines.append(row(["node", "power", "final height", "restarts", "blocks synced", "txs committed", "faults"]))
        for node in nodes {
            lines.append(
                row([
                    node.name, "\(node.power)", "\(node.finalHeight)", "\(node.restarts)", "\(node.blocksSynced)",
                    "\(node.transactionsCommitted)", node.faults.isEmpty ? "-" : node.faults.joined(separator: "; "),
                ]))
        }
        lines.append("")
        lines.append(
            "workload: \(workload.planned) planned, \(workload.acknowledged) acknowledged (\(workload.acknowledgedNotOK) not ok), "
                + "\(workload.timedOut) timed out, \(workload.rejected) rejected, \(workload.unreachable) unreachable, "
                + "\(workload.skipped) skipped")
        for sample in workload.rejectionSamples { lines.append("  refused: \(sample)") }
        lines.append("")
        lines.append(row(["from s", "height", "txs", "txs/s", "latency p50 ms", "latency max ms"]))
        for bucket in timeline {
            lines.append(
                row([
                    format(bucket.startSeconds), "\(bucket.height)", "\(bucket.transactionsCommitted)",
                    format(bucket.throughputPerSecond), bucket.latencyMedianMilliseconds.map(String.init) ?? "-",
                    bucket.latencyMaxMilliseconds.map(String.init) ?? "-",
                ]))
        }
        lines.append("")
        lines.append("events:")
        for event in events { lines.append("  \(event)") }
        lines.append("")
        lines.append("invariants (audit: \(auditCommand)):")
        for invariant in invariants {
            lines.append("  \(invariant.passed ? "PASS" : "FAIL")  \(invariant.name.rawValue): \(invariant.detail)")
        }
        lines.append("")
        lines.append(kept ? "logs and data directories kept in \(runDirectory)" : "run directory \(runDirectory) removed")
        return lines.joined(separator: "\n")
    }

    private func row(_ cells: [String]) -> String {
        let widths = [8, 6, 13, 9, 14, 14, 0]
        return zip(cells, widths).map { cell, width in
            cell.count >= width ? cell + " " : cell + String(repeating: " ", count: width - cell.count)
        }.joined()
    }

    private func format(_ value: Double) -> String { String(format: "%.1f", value) }

    /// The timeline from acknowledged transactions `(commitAtMilliseconds, latencyMilliseconds)` and height samples.
    static func timeline(
        commits: [(atMilliseconds: UInt64, latencyMilliseconds: UInt64)], samples: [HeightSample], bucketMilliseconds: UInt64
    ) -> [TimelineBucket] {
        precondition(bucketMilliseconds > 0)
        let end = max(samples.last?.atMilliseconds ?? 0, commits.map(\.atMilliseconds).max() ?? 0)
        var buckets: [TimelineBucket] = []
        var start: UInt64 = 0
        while start <= end, buckets.count < 10_000 {
            let inBucket = commits.filter { $0.atMilliseconds >= start && $0.atMilliseconds < start + bucketMilliseconds }
            let latencies = inBucket.map(\.latencyMilliseconds).sorted()
            let last = samples.last { $0.atMilliseconds < start + bucketMilliseconds }
            buckets.append(
                TimelineBucket(
                    startSeconds: Double(start) / 1000, height: last?.heights.compactMap { $0 }.max() ?? 0,
                    transactionsCommitted: inBucket.count,
                    throughputPerSecond: Double(inBucket.count) * 1000 / Double(bucketMilliseconds),
                    latencyMedianMilliseconds: latencies.isEmpty ? nil : latencies[latencies.count / 2],
                    latencyMaxMilliseconds: latencies.last))
            start += bucketMilliseconds
        }
        return buckets
    }
}
