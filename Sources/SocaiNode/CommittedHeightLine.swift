import SocaiCore

/// The log line a validator writes when it commits a block, and its figures read back, for
/// tools that read a node's log (the network benchmark's per-phase breakdown of heights).
///
/// The reader lives beside the writer, and a test reads back what the writer wrote, so a
/// change to the line cannot silently break what reads it.
public struct CommittedHeightLine: Equatable, Sendable {
    /// Height of the committed block.
    public var height: UInt64
    /// Transactions in it.
    public var transactions: Int
    /// The consensus round that decided it (nil in a line written before rounds were logged):
    /// a height decided past round 0 lost at least one round to a timeout.
    public var round: UInt32?
    /// From the height's start to the commit.
    public var totalMilliseconds: UInt64
    /// From the height's start until a proposed block was at hand (nil if none was).
    public var proposalMilliseconds: UInt64?
    /// Executing candidate blocks: wall time, then the executing thread's processor time.
    public var executionMilliseconds: UInt64
    /// Processor time of the executions.
    public var executionProcessorMilliseconds: UInt64
    /// Storing the block: wall time.
    public var storeMilliseconds: UInt64
    /// Processor time of storing.
    public var storeProcessorMilliseconds: UInt64
    /// From the previous commit to the height's start (nil for the first height after start).
    public var pauseMilliseconds: UInt64?

    /// Most characters of a line read: a committed-height line is under 400.
    static let lineCharactersMax = 2_048

    /// The line `ValidatorNode` logs at a commit.
    static func text(
        height: UInt64, round: UInt32, transactions: Int, stateRoot: Hash, timing: HeightTiming,
        now: UInt64 = monotonicNanoseconds()
    ) -> String {
        "committed height \(height) with \(transactions) transaction(s) in round \(round), state root \(stateRoot); "
            + timing.summary(now: now)
    }

    /// Reads a committed-height line, with or without the log's time and node prefix; nil
    /// for any other line.
    public init?(_ line: Substring) {
        guard line.count <= Self.lineCharactersMax, let start = line.range(of: "committed height "),
            let timing = line.range(of: " after the height started (", range: start.upperBound..<line.endIndex)
        else { return nil }
        let head = line[start.upperBound...].split(separator: " ", maxSplits: 3)
        guard head.count > 3, head[1] == "with", let height = UInt64(head[0]), let transactions = Int(head[2]) else {
            return nil
        }
        // "transaction(s) in round R, state root …"; a line without the round reads as nil.
        var round: UInt32?
        let afterCount = head[3]
        if afterCount.hasPrefix("transaction(s) in round ") {
            let figure = afterCount.dropFirst("transaction(s) in round ".count).prefix { $0 != "," }
            guard let value = UInt32(figure) else { return nil }
            round = value
        } else if !afterCount.hasPrefix("transaction(s),") {
            return nil
        }
        // "…; N ms after the height started (": N is the last number before the timing.
        let beforeTiming = line[..<timing.lowerBound].split(separator: " ")
        guard beforeTiming.count >= 2, beforeTiming.last == "ms", let total = UInt64(beforeTiming[beforeTiming.count - 2])
        else { return nil }
        // The parts in parentheses, in the order the writer puts them.
        var parts = line[timing.upperBound...].split(separator: ",").map { $0.drop { $0 == " " } }
        if let last = parts.last, last.hasSuffix(")") { parts[parts.count - 1] = last.dropLast() }
        // "<prefix>N ms<suffix>" gives N; anything else, nil.
        func milliseconds(_ part: Substring, after prefix: String = "", before suffix: String = "") -> UInt64? {
            guard part.hasPrefix(prefix), part.hasSuffix(suffix) else { return nil }
            let figure = part.dropFirst(prefix.count).dropLast(suffix.count)
            guard figure.hasSuffix(" ms") else { return nil }
            return UInt64(figure.dropLast(3))
        }
        let proposalPrefix = "proposal at hand after "
        guard parts.count == 5 || parts.count == 6,
            let execution = milliseconds(parts[1], after: "executing "),
            let executionProcessor = milliseconds(parts[2], before: " of it processor"),
            let store = milliseconds(parts[3], after: "storing "),
            let storeProcessor = milliseconds(parts[4], before: " of it processor")
        else { return nil }
        // No proposal at hand is written "none".
        let proposal = milliseconds(parts[0], after: proposalPrefix)
        guard proposal != nil || parts[0] == proposalPrefix + "none" else { return nil }
        var pause: UInt64?
        if parts.count == 6 {
            guard let value = milliseconds(parts[5], after: "started ", before: " after the previous commit") else {
                return nil
            }
            pause = value
        }
        self.height = height
        self.transactions = transactions
        self.round = round
        totalMilliseconds = total
        proposalMilliseconds = proposal
        executionMilliseconds = execution
        executionProcessorMilliseconds = executionProcessor
        storeMilliseconds = store
        storeProcessorMilliseconds = storeProcessor
        pauseMilliseconds = pause
    }
}
