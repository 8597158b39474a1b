import Testing

/// The prose of `socai … --help` reads as paragraphs. Argument-parser wraps a command's
/// discussion to the terminal's width itself, so a discussion written with line breaks inside
/// a paragraph comes out ragged: a wrapped line, then a stub of a word or two, then the next.
@Suite struct HelpTextTests {
    /// Every command whose help carries a discussion paragraph.
    static let commandsWithDiscussions: [[String]] = [
        [], ["sim"], ["genesis", "init"], ["governance"], ["harness", "run"],
    ]
    /// Below this, a line followed by more of its paragraph is a stub (the wrap width is 80).
    static let wrappedLineCharactersMin = 50

    @Test(arguments: commandsWithDiscussions)
    func proseWrapsAsWholeParagraphs(command: [String]) throws {
        let result = try runSocai(command + ["--help"])
        #expect(result.status == 0)
        let prose = try #require(result.standardOutput.components(separatedBy: "USAGE:").first)
        let lines = prose.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count > 3, "socai \(command.joined(separator: " ")) --help has no discussion")
        for index in lines.indices.dropLast() where !lines[index].isEmpty && !lines[index + 1].isEmpty {
            #expect(
                lines[index].count >= Self.wrappedLineCharactersMin,
                "socai \(command.joined(separator: " ")) --help: a ragged line \"\(lines[index])\" before \"\(lines[index + 1])\""
            )
        }
    }
}
