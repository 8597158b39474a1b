import Foundation

/// docs/FORMAT.md as the tests read it: the one reader of its fenced blocks, `name: hex`
/// vector lines and tables, shared by every test target that checks the code against the
/// document (core, state, network, DID), so they cannot drift apart.
public enum FormatDocument {
    /// docs/FORMAT.md, located from this file: Tests/SocaiFormatDocument/ → package root → docs.
    public static var url: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // SocaiFormatDocument
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
            .appendingPathComponent("docs")
            .appendingPathComponent("FORMAT.md")
    }

    /// The whole document.
    public static func text() throws -> String { try String(contentsOf: url, encoding: .utf8) }

    /// The bodies of every fenced code block whose info string is exactly `info`, in order.
    public static func fencedBlocks(_ text: String, info: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        var currentInfo = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current == nil {
                if trimmed.hasPrefix("```") {
                    currentInfo = String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces)
                    current = []
                }
            } else if trimmed == "```" {
                if currentInfo == info { blocks.append(current!.joined(separator: "\n")) }
                current = nil
            } else {
                current!.append(line)
            }
        }
        return blocks
    }

    /// Every `name: hex` line of every fenced block with info string `info` (```vectors by
    /// default). Problems (lines that are not `name: hex`, bad names, values that are not
    /// lowercase hex of whole bytes, repeated names) are returned, not skipped silently, so a
    /// test can report every one of them.
    public static func vectors(_ text: String, info: String = "vectors") -> (values: [String: String], problems: [String]) {
        var values: [String: String] = [:]
        var problems: [String] = []
        let nameCharacters = Set("abcdefghijklmnopqrstuvwxyz0123456789_")
        let hexCharacters = Set("0123456789abcdef")
        for block in fencedBlocks(text, info: info) {
            for rawLine in block.split(separator: "\n") {
                let line = rawLine.trimmingCharacters(in: .whitespaces)
                if line.isEmpty || line.hasPrefix("#") { continue }
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else {
                    problems.append("not a `name: hex` line: \(line)")
                    continue
                }
                let name = parts[0].trimmingCharacters(in: .whitespaces)
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, name.allSatisfy(nameCharacters.contains) else {
                    problems.append("bad vector name: \(name)")
                    continue
                }
                guard value.count % 2 == 0, value.allSatisfy(hexCharacters.contains) else {
                    problems.append("vector \(name) is not lowercase hex of whole bytes")
                    continue
                }
                if values[name] != nil { problems.append("vector \(name) appears twice") }
                values[name] = value
            }
        }
        return (values, problems)
    }

    /// The body rows (cells trimmed) of every table whose first header cell is `firstHeader`.
    public static func tables(_ text: String, firstHeader: String) -> [[[String]]] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func cells(_ line: String) -> [String] {
            line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        var tables: [[[String]]] = []
        var index = 0
        // Each step advances `index`, so the loop runs at most once per line.
        while index < lines.count {
            if lines[index].hasPrefix("|"), cells(lines[index]).first == firstHeader, index + 1 < lines.count,
                lines[index + 1].hasPrefix("|---")
            {
                var rows: [[String]] = []
                index += 2
                while index < lines.count, lines[index].hasPrefix("|") {
                    rows.append(cells(lines[index]))
                    index += 1
                }
                tables.append(rows)
            } else {
                index += 1
            }
        }
        return tables
    }
}
