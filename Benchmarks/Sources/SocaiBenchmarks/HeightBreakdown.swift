import Foundation

/// Where node1's heights spent their time during one phase of the network benchmark, from
/// its "committed height" log lines: the pause after the previous commit, the wait for a
/// proposal, execution and storing, each averaged over the phase's heights.
///
/// Why: a phase's latency is about one and a half heights, and the figures alone do not say
/// which part of a height grew. The node already logs each part; this reads them back.
struct HeightBreakdown {
    /// Heights read.
    var heights = 0
    /// Transactions in them.
    var transactions = 0
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
            guard let entry = Entry(String(line)), heights.contains(entry.height) else { continue }
            breakdown.add(entry)
        }
        return breakdown.heights > 0 ? breakdown : nil
    }

    /// One "committed height" line's figures.
    struct Entry {
        let height: Int
        let transactions: Int
        let totalMilliseconds: Int
        let proposalMilliseconds: Int?
        let executionMilliseconds: Int
        let executionProcessorMilliseconds: Int
        let storeMilliseconds: Int
        let storeProcessorMilliseconds: Int
        let pauseMilliseconds: Int?

        /// Reads a line such as "committed height 9 with 120 transaction(s), state root …; 80 ms
        /// after the height started (proposal at hand after 20 ms, executing 9 ms, 4 ms of it
        /// processor, storing 17 ms, 8 ms of it processor, started 21 ms after the previous
        /// commit)"; nil for any other line.
        init?(_ line: String) {
            guard let heightStart = line.range(of: "committed height "),
                let timing = line.range(of: " after the height started (", range: heightStart.upperBound..<line.endIndex)
            else { return nil }
            let head = line[heightStart.upperBound...].split(separator: " ")
            guard head.count > 2, let height = Int(head[0]), let transactions = Int(head[2]) else { return nil }
            // The total is the number just before " ms after the height started".
            let beforeTiming = line[..<timing.lowerBound].split(separator: " ")
            guard beforeTiming.count >= 2, let total = Int(beforeTiming[beforeTiming.count - 2]) else { return nil }
            let details = line[timing.upperBound...]
            func number(after label: String) -> Int? {
                guard let found = details.range(of: label) else { return nil }
                return Int(details[found.upperBound...].prefix { $0.isNumber })
            }
            guard let execution = number(after: "executing "), let store = number(after: "storing ") else { return nil }
            // "N ms of it processor" follows executing, then storing: take them in that order.
            let processorFigures = details.split(separator: ",").compactMap { part -> Int? in
                guard part.hasSuffix(" ms of it processor") || part.hasSuffix(" ms of it processor)") else { return nil }
                return Int(part.trimmingCharacters(in: .whitespaces).prefix { $0.isNumber })
            }
            guard processorFigures.count == 2 else { return nil }
            self.height = height
            self.transactions = transactions
            totalMilliseconds = total
            proposalMilliseconds = number(after: "proposal at hand after ")
            executionMilliseconds = execution
            executionProcessorMilliseconds = processorFigures[0]
            storeMilliseconds = store
            storeProcessorMilliseconds = processorFigures[1]
            pauseMilliseconds = number(after: "started ")
        }
    }

    mutating func add(_ entry: Entry) {
        heights += 1
        transactions += entry.transactions
        totalMilliseconds += entry.totalMilliseconds
        if let pause = entry.pauseMilliseconds {
            pauseMilliseconds += pause
            pausedHeights += 1
        }
        if let proposal = entry.proposalMilliseconds {
            proposalMilliseconds += proposal
            proposedHeights += 1
        }
        executionMilliseconds += entry.executionMilliseconds
        executionProcessorMilliseconds += entry.executionProcessorMilliseconds
        storeMilliseconds += entry.storeMilliseconds
        storeProcessorMilliseconds += entry.storeProcessorMilliseconds
    }

    /// One line: the mean height and its parts, wall time first, processor time beside.
    var summary: String {
        func mean(_ sum: Int, over count: Int) -> String { count > 0 ? "\((sum + count / 2) / count) ms" : "none" }
        return "\(heights) heights of \(transactions / heights) transactions on average; a height took "
            + "\(mean(totalMilliseconds, over: heights)) after a pause of \(mean(pauseMilliseconds, over: pausedHeights)): "
            + "proposal at hand after \(mean(proposalMilliseconds, over: proposedHeights)), "
            + "executing \(mean(executionMilliseconds, over: heights)) "
            + "(\(mean(executionProcessorMilliseconds, over: heights)) processor), "
            + "storing \(mean(storeMilliseconds, over: heights)) (\(mean(storeProcessorMilliseconds, over: heights)) processor)"
    }
}
