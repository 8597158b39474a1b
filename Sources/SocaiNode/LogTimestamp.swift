import Foundation

/// `seconds` since 1970 as a log line's UTC stamp, `2026-11-30T14:29:10Z`: what
/// `ISO8601DateFormatter` writes by default. Formatted by hand because building a formatter
/// for every line cost 7% of an idle validator's processor time, and one formatter shared by
/// the threads that log is not documented as safe on Linux.
public func logTimestamp(secondsSince1970 seconds: Int) -> String {
    var time = time_t(seconds)
    var parts = tm()
    gmtime_r(&time, &parts)
    func padded(_ value: Int32, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    return padded(parts.tm_year + 1900, 4) + "-" + padded(parts.tm_mon + 1, 2) + "-" + padded(parts.tm_mday, 2) + "T"
        + padded(parts.tm_hour, 2) + ":" + padded(parts.tm_min, 2) + ":" + padded(parts.tm_sec, 2) + "Z"
}
