import Foundation
import SocaiCore
import Testing

@testable import SocaiNode

/// What a validator writes when it commits a block reads back as the figures it wrote.
@Suite struct CommittedHeightLineTests {
    static let root = Hash.sha256(Array("root".utf8))
    static let millisecond: UInt64 = 1_000_000

    static func timing(proposal: UInt64?, pause: UInt64?) -> HeightTiming {
        var timing = HeightTiming()
        timing.startedNanoseconds = 1_000 * millisecond
        timing.proposalNanoseconds = proposal.map { (1_000 + $0) * millisecond }
        timing.pauseNanoseconds = pause.map { $0 * millisecond }
        timing.executionNanoseconds = 66 * millisecond
        timing.executionProcessorNanoseconds = 24 * millisecond + 400_000
        timing.storeNanoseconds = 65 * millisecond + 600_000
        timing.storeProcessorNanoseconds = 26 * millisecond
        return timing
    }

    @Test func theWrittenLineReadsBackWithAndWithoutItsOptionalParts() throws {
        for (round, proposal, pause) in [(UInt32(0), UInt64?(65), UInt64?(34)), (3, nil, 20), (0, 12, nil), (1, nil, nil)] {
            let text = CommittedHeightLine.text(
                height: 4_321, round: round, transactions: 601, stateRoot: Self.root,
                timing: Self.timing(proposal: proposal, pause: pause),
                now: 1_252 * Self.millisecond)
            // As the log writes it: time and node name first.
            let read = try #require(CommittedHeightLine(Substring("2026-11-30T17:15:04Z node1 " + text)))
            #expect(read.height == 4_321 && read.transactions == 601 && read.totalMilliseconds == 252)
            #expect(read.round == round)
            #expect(read.proposalMilliseconds == proposal && read.pauseMilliseconds == pause)
            // Rounded to the nearest millisecond, as written.
            #expect(read.executionMilliseconds == 66 && read.executionProcessorMilliseconds == 24)
            #expect(read.storeMilliseconds == 66 && read.storeProcessorMilliseconds == 26)
        }
    }

    /// A line written before the round was logged still reads, without a round.
    @Test func aLineWithoutTheRoundReadsWithoutIt() throws {
        let text = CommittedHeightLine.text(
            height: 9, round: 2, transactions: 3, stateRoot: Self.root, timing: Self.timing(proposal: 5, pause: 21),
            now: 1_080 * Self.millisecond)
        let older = text.replacingOccurrences(of: "transaction(s) in round 2,", with: "transaction(s),")
        let read = try #require(CommittedHeightLine(Substring(older)))
        #expect(read.height == 9 && read.transactions == 3 && read.round == nil && read.totalMilliseconds == 80)
    }

    @Test func otherLinesAndDamagedOnesAreNotRead() {
        let text = CommittedHeightLine.text(
            height: 9, round: 2, transactions: 3, stateRoot: Self.root, timing: Self.timing(proposal: 5, pause: 21),
            now: 1_080 * Self.millisecond)
        #expect(CommittedHeightLine(Substring(text)) != nil)
        for other in [
            "node1 synced to height 10", "started at height 360 as abc", "committed height x with 3 transaction(s)",
            text.replacingOccurrences(of: "executing 66 ms", with: "executing many ms"),
            text.replacingOccurrences(of: ", 26 ms of it processor", with: ""),
            text.replacingOccurrences(of: "with 3 transaction(s)", with: "holding 3 transaction(s)"),
            text.replacingOccurrences(of: "in round 2,", with: "in round two,"),
            text.replacingOccurrences(of: "in round 2,", with: "after 2 rounds,"),
            text + String(repeating: " ", count: CommittedHeightLine.lineCharactersMax),
        ] {
            #expect(CommittedHeightLine(Substring(other)) == nil, "read: \(other)")
        }
    }
}
