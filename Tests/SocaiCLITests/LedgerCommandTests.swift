import Foundation
import Testing

/// The ledger commands end to end: keys in a keystore, transactions signed by the CLI,
/// committed to a one-validator node home, and read back with proofs.
@Suite struct LedgerCommandTests {
    let environment = ["SOCAI_PASSPHRASE": "a long test passphrase"]

    func json(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(result.status == 0, "\(result.standardError)", sourceLocation: sourceLocation)
        return try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any],
            sourceLocation: sourceLocation)
    }

    @Test func consentAccessAndMarketFromTheCommandLine() throws {
        let directory = TemporaryDirectory()
        let keys = directory.file("keys")
        var publicKeys: [String: String] = [:]
        for name in ["citizen", "ministry", "bank", "board1", "board2"] {
            let created = try json(
                try runSocai(["key", "new", "--name", name, "--home", keys, "--json"], environment: environment))
            publicKeys[name] = created["publicKey"] as? String
        }
        let initialized = try runSocai(
            [
                "genesis", "init", "--validators", "1", "--chain-id", "socai-cli", "--out", "genesis.json", "--nodes", "nodes",
                "--organization", "Ministry of Justice=provider=\(publicKeys["ministry"]!)",
                "--organization", "Bank=consumer=\(publicKeys["bank"]!)", "--account", "\(publicKeys["bank"]!)=1000",
                "--governance-key", publicKeys["board1"]!, "--governance-key", publicKeys["board2"]!, "--governance-threshold",
                "2",
            ], directory: directory.path)
        #expect(initialized.status == 0, "\(initialized.standardError)")
        let home = directory.file("nodes/node1")

        /// Signs with the CLI, commits as one block, returns (transaction hash, result code).
        func submit(_ arguments: [String], key: String, nonce: Int) throws -> (String, String) {
            let signed = try json(
                try runSocai(
                    arguments + [
                        "--key", key, "--home", keys, "--nonce", "\(nonce)", "--chain-id", "socai-cli", "--json", "--offline",
                    ],
                    environment: environment))
            let committed = try json(try runSocai(["dev", "commit", "--home", home, "--json", signed["transaction"] as! String]))
            let outcome = try #require((committed["outcomes"] as? [[String: Any]])?.first)
            #expect(outcome["hash"] as? String == signed["hash"] as? String)
            return (signed["hash"] as! String, outcome["code"] as! String)
        }
        #expect(try submit(["did", "create"], key: "citizen", nonce: 1).1 == "ok")
        let citizenDID = try keyDID("citizen", keys)
        let ministryDID = try keyDID("ministry", keys)
        let bankDID = try keyDID("bank", keys)
        let (consentID, granted) = try submit(
            [
                "consent", "grant", "--consumer", bankDID, "--provider", ministryDID, "--purpose", "loan-assessment", "--data",
                "civil-status,residence", "--from", "0", "--until", "2999-12-31",
            ], key: "citizen", nonce: 2)
        #expect(granted == "ok")

        let consents = try runSocai(["consent", "list", "--subject", citizenDID, "--node-home", home, "--json"])
        #expect(consents.status == 0, "\(consents.standardError)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(consents.standardOutput.utf8)) as? [[String: Any]])
        #expect(rows.count == 1)
        #expect(rows.first?["id"] as? String == consentID)
        #expect(rows.first?["status"] as? String == "active")
        #expect(rows.first?["proven"] as? Bool == true)

        let accessArguments = [
            "access", "record", "--consent", consentID, "--consumer", bankDID, "--data", "civil-status", "--purpose",
            "loan-assessment",
            "--delivered-hash", String(repeating: "ab", count: 32),
        ]
        #expect(try submit(accessArguments, key: "ministry", nonce: 1).1 == "ok")
        let log = try runSocai(["access", "log", "--subject", citizenDID, "--node-home", home, "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(log.standardOutput.utf8)) as? [[String: Any]])
        #expect(entries.count == 1)
        #expect(entries.first?["consumer"] as? String == bankDID)
        #expect(entries.first?["proven"] as? Bool == true)

        #expect(try submit(["consent", "revoke", consentID], key: "citizen", nonce: 3).1 == "ok")
        #expect(try submit(accessArguments, key: "ministry", nonce: 2).1 == "consentRevoked")

        let (offerID, offered) = try submit(
            [
                "market", "offer", "create", "--title", "Land registry statistics", "--data", "land", "--schema-hash",
                String(repeating: "cd", count: 32), "--price", "300", "--purposes", "loan-assessment",
            ], key: "ministry", nonce: 3)
        #expect(offered == "ok")
        let (orderID, bought) = try submit(
            ["market", "buy", "--offer", offerID, "--purpose", "loan-assessment"], key: "bank", nonce: 1)
        #expect(bought == "ok")
        #expect(
            try submit(
                ["market", "deliver", "--order", orderID, "--package-hash", String(repeating: "ef", count: 32)], key: "ministry",
                nonce: 4
            ).1 == "ok")
        #expect(try submit(["market", "confirm", "--order", orderID], key: "bank", nonce: 2).1 == "ok")
        #expect(try submit(["transfer", "--to", citizenDID, "--amount", "5000"], key: "bank", nonce: 3).1 == "insufficientFunds")

        // Governance: board2 approves, board1 submits; with one approval missing it is refused.
        let action = [
            "--action", "register-organization", "--did", citizenDID, "--name", "Clinic", "--roles", "provider", "--sequence",
            "1",
        ]
        #expect(try submit(["governance", "submit"] + action, key: "board1", nonce: 1).1 == "insufficientApprovals")
        let approval = try runSocai(
            ["governance", "approve", "--key", "board2", "--home", keys, "--chain-id", "socai-cli"] + action,
            environment: environment)
        #expect(approval.status == 0, "\(approval.standardError)")
        let approvalText = approval.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try submit(["governance", "submit", "--approval", approvalText] + action, key: "board1", nonce: 2).1 == "ok")

        let verified = try runSocai(["chain", "verify", "--home", home])
        #expect(verified.status == 0, "\(verified.standardError)")
        #expect(verified.standardOutput.contains("OK: 12 blocks"))
    }

    /// The did:socai of a keystore key, as `socai key show` prints it.
    func keyDID(_ name: String, _ keys: String) throws -> String {
        let shown = try json(try runSocai(["key", "show", "--name", name, "--home", keys, "--json"]))
        let did = try #require(shown["did"] as? String)
        #expect(did.hasPrefix("did:socai:"))
        return did
    }
}
