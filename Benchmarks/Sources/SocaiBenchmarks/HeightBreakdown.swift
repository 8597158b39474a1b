import Foundation
import SocaiNode

/// Where node1's heights spent their time during one phase of the network benchmark, from
/// its "committed height" log lines (read by `CommittedHeightLine`): the pause after the
/// previous commit, the wait for a proposal, execution and storing, each averaged over the
/// phase's heights.
///
/// Why: a phase's latency is about one and a half heights, and the figures alone do not say
/// which part of a height grew. The node already logs each part; this reads them back.
struct HeightBreakdown {
    /// Heights read.
    var heights = 0
    /// Transactions in them.
    var transactions = 0
    /// Heights decided past round 0: each lost at least one round to a timeout.
    var heightsPastRoundZero = 0
    /// Sums over the heights, in milliseconds.
    var totalMilliseconds = 0
    var pauseMilliseconds = 0
    /// Heights whose line gives the pause (the first after a start does not).
    var pausedHeights = 0
    var proposalMilliseconds = 0
    /// Heights whose line gives when a proposal was at hand.
    var proposedHeights = 0
    var executionMilliseconds = 0
    var executionProcessorMilliseconds = 0
    var storeMilliseconds = 0
    var storeProcessorMilliseconds = 0

    /// Most bytes of log read: a benchmark's log is a few megabytes.
    static let logBytesMax = 256 << 20

    /// The breakdown of the heights in `heights` that the log at `path` reports; nil when it
    /// reports none of them.
    static func read(log path: String, heights: ClosedRange<Int>) -> HeightBreakdown? {
        guard let data = FileManager.default.contents(atPath: path), data.count <= logBytesMax else { return nil }
        var breakdown = HeightBreakdown()
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let entry = CommittedHeightLine(line), heights.contains(Int(entry.height)) else { continue }
            breakdown.add(entry)
        }
        return breakdown.heights > 0 ? breakdown : nil
    }

    /// Adds one height's figures to the sums.
    mutating func add(_ entry: CommittedHeightLine) {
        heights += 1
        transactions += entry.transactions
        if let round = entry.round, round > 0 { heightsPastRoundZero += 1 }
        totalMilliseconds += Int(entry.totalMilliseconds)
        if let pause = entry.pauseMilliseconds {
            pauseMilliseconds += Int(pause)
            pausedHeights += 1
        }
        if let proposal = entry.proposalMilliseconds {
            proposalMilliseconds += Int(proposal)
            proposedHeights += 1
        }
        executionMilliseconds += Int(entry.executionMilliseconds)
        executionProcessorMilliseconds += Int(entry.executionProcessorMilliseconds)
        storeMilliseconds += Int(entry.storeMilliseconds)
        storeProcessorMilliseconds += Int(entry.storeProcessorMilliseconds)
    }

    /// One line: the mean height and its parts, wall time first, processor time beside.
    var summary: String {
        func mean(_ sum: Int, over count: Int) -> String { count > 0 ? "\((sum + count / 2) / count) ms" : "none" }
        return "\(heights) heights of \(transactions / heights) transactions on average, "
            + "\(heightsPastRoundZero) decided past round 0; a height took "
            + "\(mean(totalMilliseconds, over: heights)) after a pause of \(mean(pauseMilliseconds, over: pausedHeights)): "
            + "proposal at hand after \(mean(proposalMilliseconds, over: proposedHeights)), "
            + "executing \(mean(executionMilliseconds, over: heights)) "
            + "(\(mean(executionProcessorMilliseconds, over: heights)) processor), "
            + "storing \(mean(storeMilliseconds, over: heights)) (\(mean(storeProcessorMilliseconds, over: heights)) processor)"
    }
}
