import Foundation
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiAudit

/// The chain-export file of docs/FORMAT.md §30: exact framing, strict reading.
@Suite struct ChainExportTests {
    @Test func anEmptyExportHasTheDocumentedBytes() throws {
        let directory = ScratchDirectory()
        let path = directory.file("empty.socai-export")
        let writer = try ChainExportWriter(path: path, genesisJSON: Array("{}".utf8))
        try writer.finish()
        let bytes = try #require(FileManager.default.contents(atPath: path))
        // §30 vector: magic "SOCAIEXP", version 1, genesis length 2, "{}", end tag 0, count 0.
        #expect(Hex.encode(Array(bytes)) == "534f43414945585001000000027b7d000000000000000000")
        let reader = try ChainExportReader(path: path)
        #expect(reader.genesisJSON == Array("{}".utf8))
        #expect(reader.claimedBlockCount == 0)
        #expect(try reader.next() == nil)
    }

    @Test func recordsRoundTripInOrder() throws {
        let directory = ScratchDirectory()
        let fixture = try SampleFixture()
        let path = directory.file("chain.socai-export")
        try fixture.writeExport(to: path)
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        let reader = try ChainExportReader(path: path)
        #expect(reader.claimedBlockCount == UInt64(fixture.blocks.count))
        #expect(try Genesis(jsonBytes: reader.genesisJSON).hash == fixture.sample.genesis.hash)
        for (block, commit) in fixture.blocks {
            let record = try #require(try reader.next())
            #expect(record.block == block.canonicalBytes)
            #expect(record.certificate == commit.canonicalBytes)
        }
        #expect(try reader.next() == nil)
    }

    @Test func aTruncatedOrExtendedExportIsRefused() throws {
        let directory = ScratchDirectory()
        let fixture = try SampleFixture()
        let path = directory.file("chain.socai-export")
        try fixture.writeExport(to: path)
        let bytes = try #require(FileManager.default.contents(atPath: path))

        // Cut inside the last record: blocks 1 to 5 pass, block 6 fails as a damaged record.
        let truncated = directory.file("truncated.socai-export")
        try bytes.prefix(bytes.count - 9 - 50).write(to: URL(fileURLWithPath: truncated))
        let report = try replay(genesis: fixture.sample.genesis, export: truncated)
        #expect(!report.valid)
        #expect(report.finalHeight == 5)
        #expect(report.failure?.height == 6)
        #expect(report.failure?.code == .source)
        #expect(report.failure?.message.hasPrefix("block 6: the export record is damaged") == true)

        let extended = directory.file("extended.socai-export")
        try (bytes + Data([0])).write(to: URL(fileURLWithPath: extended))
        let extendedReport = try replay(genesis: fixture.sample.genesis, export: extended)
        #expect(extendedReport.failure?.message == "block 7: the export record is damaged: bytes follow the end marker")

        let notExport = directory.file("not.socai-export")
        try Data("hello, world, not an export".utf8).write(to: URL(fileURLWithPath: notExport))
        #expect(throws: AuditFailure.self) { try ExportBlockSource(path: notExport) }
    }
}
