import Foundation
import SocaiCore
import Testing

/// `socai audit …` and `socai chain export` through the real binary.
@Suite struct AuditCommandTests {
    func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func aSampleChainReplaysAndADamagedOneFailsWithItsHeight() throws {
        let directory = TemporaryDirectory()
        let export = directory.file("chain.socai-export")
        let genesis = directory.file("genesis.json")
        let made = try runSocai([
            "audit", "sample-chain", "--out", export, "--genesis-out", genesis, "--transactions", "300",
            "--transactions-per-block", "50",
        ])
        #expect(made.status == 0, "\(made.standardError)")

        let replay = try runSocai(["audit", "replay", "--genesis", genesis, "--chain", export, "--json"])
        #expect(replay.status == 0, "\(replay.standardError)")
        let report = try json(replay.standardOutput)
        #expect(report["valid"] as? Bool == true)
        #expect(report["blocks"] as? Int == 6)
        #expect(report["transactions"] as? Int == 300)
        #expect(report["signaturesChecked"] as? Int == 300 + 6 * 4)
        #expect(report["formatVersion"] as? Int == Int(Genesis.formatVersionLatest))

        let human = try runSocai(["audit", "replay", "--genesis", genesis, "--chain", export])
        #expect(human.status == 0)
        #expect(human.standardOutput.contains("OK: the chain holds"))
        #expect(human.standardOutput.contains("transactions          300"))

        // Cut the file inside block 6's record: blocks 1 to 5 hold, block 6 fails.
        let bytes = try #require(FileManager.default.contents(atPath: export))
        let damaged = directory.file("damaged.socai-export")
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: damaged))
        let failed = try runSocai(["audit", "replay", "--genesis", genesis, "--chain", damaged])
        #expect(failed.status == 1)
        #expect(failed.standardOutput.contains("FAILED: block 6: the export record is damaged"))
        #expect(failed.standardOutput.contains("final height          5"))

        let violations = try runSocai(["audit", "violations", "--genesis", genesis, "--chain", export, "--json"])
        #expect(violations.status == 0, "\(violations.standardOutput)")
        #expect(try json(violations.standardOutput)["violationCount"] as? Int == 0)
    }

    @Test func replayNeedsExactlyOneChainSource() throws {
        let result = try runSocai(["audit", "replay", "--genesis", "g.json"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("give exactly one of --chain or --home"))
    }
}
