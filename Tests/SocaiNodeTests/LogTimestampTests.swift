import Foundation
import SocaiNode
import Testing

/// A node's log lines carry a hand-formatted UTC stamp; it must read exactly as Foundation's
/// ISO 8601 formatter writes the same second.
@Suite struct LogTimestampTests {
    @Test func matchesFoundationsISO8601StampAcrossYearsMonthsAndDays() {
        let formatter = ISO8601DateFormatter()
        // Fixed steps through 1970–2100 (a stride of 2^32 over the golden ratio spreads them
        // over times of day and days of the month), plus the edges of days, a leap day, and
        // the range's last second.
        var seconds = [0, 59, 86_399, 86_400, 951_782_400, 951_868_799, 4_102_444_799, 1_795_962_550]
        for step in 0..<2_000 { seconds.append(step * 2_654_435_761 % 4_102_444_800) }
        for second in seconds {
            let expected = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(second)))
            #expect(logTimestamp(secondsSince1970: second) == expected, "at \(second) s")
        }
    }
}
