import Foundation
import SocaiCore
import Testing

@testable import SocaiStore

/// End-to-end tests of `socai genesis …`, `socai chain verify` and `socai localnet status`.
@Suite struct ChainCommandTests {
    @Test func genesisInitWritesAValidLocalNetwork() throws {
        let directory = TemporaryDirectory()
        let result = try runSocai(
            [
                "genesis", "init", "--validators", "3", "--chain-id", "socai-e2e", "--out", "genesis.json", "--nodes", "nodes",
                "--genesis-time-ms", "1700000000000",
            ], directory: directory.path)
        #expect(result.status == 0, "\(result.standardError)")
        for node in 1...3 {
            #expect(FileManager.default.fileExists(atPath: directory.file("nodes/node\(node)/config.json")))
            let keyPath = directory.file("nodes/node\(node)/node_key.test-only.json")
            #expect(try String(contentsOfFile: keyPath, encoding: .utf8).contains("TEST ONLY"))
        }
        let validated = try runSocai(["genesis", "validate", "genesis.json", "--json"], directory: directory.path)
        let summary = try JSONSerialization.jsonObject(with: Data(validated.standardOutput.utf8)) as! [String: Any]
        #expect(summary["chainID"] as? String == "socai-e2e")
        // A new genesis gets the latest format version.
        #expect(summary["formatVersion"] as? Int == Int(Genesis.formatVersionLatest))
        #expect((summary["validators"] as? [Any])?.count == 3)

        let status = try runSocai(
            ["localnet", "status", "--genesis", "genesis.json", "--nodes", "nodes"], directory: directory.path)
        #expect(status.status == 0, "\(status.standardError)")
        #expect(status.standardOutput.contains("node3: peer 127.0.0.1:26613"))

        // What `make run` reads to print each node's API address.
        let api = try runSocai(["node", "info", "--home", "nodes/node2", "--field", "api"], directory: directory.path)
        #expect(api.status == 0, "\(api.standardError)")
        #expect(api.standardOutput == "127.0.0.1:26712\n")
        let info = try runSocai(["node", "info", "--home", "nodes/node2"], directory: directory.path)
        #expect(info.standardOutput.contains("moniker: node2\nchain: socai-e2e\nkey: "))
        #expect(info.standardOutput.hasSuffix("peer: 127.0.0.1:26612\napi: 127.0.0.1:26712\n"))
        let missing = try runSocai(["node", "info", "--home", "nodes/node9"], directory: directory.path)
        #expect(missing.status != 0)
        #expect(missing.standardError.contains("node9"))

        let again = try runSocai(["genesis", "init", "--out", "genesis.json", "--nodes", "nodes"], directory: directory.path)
        #expect(again.status != 0)
        #expect(again.standardError.contains("already exists"))
    }

    @Test func genesisValidationErrorsNameTheProblem() throws {
        let directory = TemporaryDirectory()
        let key = String(repeating: "ab", count: 32)
        let cases: [(String, String)] = [
            (
                #"{"formatVersion":1,"chainID":"c","genesisTimeMilliseconds":0,"validators":[],"governance":{"keys":["\#(key)"],"threshold":1},"organizations":[],"accounts":[],"parameters":{"blockBytesMax":1048576,"blockTransactionsMax":100}}"#,
                "no validators"
            ),
            (
                #"{"formatVersion":1,"chainID":"Bad Chain","genesisTimeMilliseconds":0,"validators":[{"name":"a","publicKey":"\#(key)","power":1}],"governance":{"keys":["\#(key)"],"threshold":1},"organizations":[],"accounts":[],"parameters":{"blockBytesMax":1048576,"blockTransactionsMax":100}}"#,
                "chain id"
            ),
            (
                #"{"formatVersion":1,"chainID":"c","genesisTimeMilliseconds":0,"validators":[{"name":"a","publicKey":"\#(key)","power":0}],"governance":{"keys":["\#(key)"],"threshold":1},"organizations":[],"accounts":[],"parameters":{"blockBytesMax":1048576,"blockTransactionsMax":100}}"#,
                "zero voting power"
            ),
            (
                #"{"formatVersion":1,"chainID":"c","genesisTimeMilliseconds":0,"validators":[{"name":"a","publicKey":"\#(key)","power":1},{"name":"b","publicKey":"\#(key)","power":1}],"governance":{"keys":["\#(key)"],"threshold":1},"organizations":[],"accounts":[],"parameters":{"blockBytesMax":1048576,"blockTransactionsMax":100}}"#,
                "twice"
            ),
            (#"{"formatVersion":1,"chainID":"c""#, "not valid"),
        ]
        for (index, (json, expected)) in cases.enumerated() {
            let path = directory.file("genesis\(index).json")
            try json.write(toFile: path, atomically: true, encoding: .utf8)
            let result = try runSocai(["genesis", "validate", path])
            #expect(result.status != 0)
            #expect(result.standardError.contains(expected), "case \(index): \(result.standardError)")
            #expect(result.standardError.split(separator: "\n").count == 1)
        }
    }

    @Test func chainVerifyPassesAnIntactChainAndReportsTheFirstBadHeight() throws {
        let directory = TemporaryDirectory()
        let initialized = try runSocai(
            [
                "genesis", "init", "--validators", "1", "--chain-id", "socai-verify", "--out", "genesis.json", "--nodes", "nodes",
            ], directory: directory.path)
        #expect(initialized.status == 0, "\(initialized.standardError)")
        let home = directory.file("nodes/node1")
        let appended = try runSocai(["dev", "append-blocks", "--home", home, "--count", "12"])
        #expect(appended.status == 0, "\(appended.standardError)")
        #expect(appended.standardOutput.hasSuffix("committed 12\n"))

        let verified = try runSocai(["chain", "verify", "--home", home])
        #expect(verified.status == 0, "\(verified.standardError)")
        #expect(verified.standardOutput.contains("OK: 12 blocks"))

        // Damage block 7 behind the store's back (the append-only trigger must be dropped first).
        let raw = try SQLiteConnection(path: home + "/data/chain.sqlite", create: false)
        try raw.execute("DROP TRIGGER blocks_append_only_update")
        let select = try raw.prepare("SELECT block FROM blocks WHERE height = 7")
        try select.bind([])
        _ = try select.step()
        var bytes = select.blob(0)
        bytes[bytes.count - 30] ^= 0x80
        try raw.prepare("UPDATE blocks SET block = ? WHERE height = 7").run([.blob(bytes)])

        let damaged = try runSocai(["chain", "verify", "--home", home, "--json"])
        #expect(damaged.status == 1)
        let report = try JSONSerialization.jsonObject(with: Data(damaged.standardOutput.utf8)) as! [String: Any]
        #expect(report["firstBadHeight"] as? Int == 7)
        #expect(report["verifiedHeight"] as? Int == 6)
        #expect(report["valid"] as? Bool == false)
    }
}
