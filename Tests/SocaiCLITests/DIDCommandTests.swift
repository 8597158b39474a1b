import Foundation
import Testing

/// `socai did resolve` and `socai did show`: did:key offline, did:socai from a node home with
/// versions and a proof checked against the genesis file.
@Suite struct DIDCommandTests {
    let environment = ["SOCAI_PASSPHRASE": "a long test passphrase"]

    func json(_ result: CommandResult, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any],
            "\(result.standardError)", sourceLocation: sourceLocation)
    }

    @Test func didKeyResolvesOffline() throws {
        let did = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
        // No node runs at this address: did:key must not need one.
        let resolved = try runSocai(["did", "resolve", did, "--json", "--node", "http://127.0.0.1:9"])
        #expect(resolved.status == 0, "\(resolved.standardError)")
        let document = try #require(try json(resolved)["didDocument"] as? [String: Any])
        #expect(document["id"] as? String == did)
        #expect((document["keyAgreement"] as? [String])?.first == did + "#z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW")
        let verified = try runSocai(["did", "resolve", did, "--verify"])
        #expect(verified.status == 0)
        #expect(verified.standardOutput.contains("proven"))

        let unsupported = try runSocai(["did", "resolve", "did:web:example.com", "--json"])
        #expect(unsupported.status != 0)
        #expect(
            (try json(unsupported)["didResolutionMetadata"] as? [String: Any])?["error"] as? String == "methodNotSupported")
        let invalid = try runSocai(["did", "resolve", "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"])
        #expect(invalid.status != 0)
        #expect(invalid.standardError.contains("invalidDid"))
    }

    @Test func didSocaiVersionsAndProofFromANodeHome() throws {
        let directory = TemporaryDirectory()
        let keys = directory.file("keys")
        for name in ["alice", "alice2"] {
            let created = try runSocai(["key", "new", "--name", name, "--home", keys, "--json"], environment: environment)
            #expect(created.status == 0, "\(created.standardError)")
        }
        let initialized = try runSocai(
            ["genesis", "init", "--validators", "1", "--chain-id", "socai-did-cli", "--out", "genesis.json", "--nodes", "nodes"],
            directory: directory.path)
        #expect(initialized.status == 0, "\(initialized.standardError)")
        let home = directory.file("nodes/node1")
        func commit(_ arguments: [String], nonce: Int) throws {
            let signed = try json(
                try runSocai(
                    arguments + [
                        "--key", "alice", "--home", keys, "--nonce", "\(nonce)", "--chain-id", "socai-did-cli", "--json",
                        "--offline",
                    ], environment: environment))
            let committed = try runSocai(["dev", "commit", "--home", home, "--json", signed["transaction"] as! String])
            #expect(committed.status == 0, "\(committed.standardError)")
        }
        try commit(["did", "create", "--service", "hub=LinkedDomains=https://alice.example"], nonce: 1)
        try commit(["did", "rotate", "--new-key", "alice2", "--new-id", "key-2"], nonce: 2)
        let shown = try json(try runSocai(["key", "show", "--name", "alice", "--home", keys, "--json"]))
        let did = try #require(shown["did"] as? String)

        let verified = try runSocai([
            "did", "resolve", did, "--node-home", home, "--verify", "--genesis", directory.file("genesis.json"), "--json",
        ])
        #expect(verified.status == 0, "\(verified.standardError)")
        let verdict = try json(verified)
        #expect(verdict["proven"] as? Bool == true)
        let document = (verdict["result"] as? [String: Any])?["didDocument"] as? [String: Any]
        #expect(((document?["verificationMethod"] as? [[String: Any]])?.compactMap { $0["id"] as? String }) == [did + "#key-2"])

        let first = try json(try runSocai(["did", "resolve", did, "--node-home", home, "--version-id", "1", "--json"]))
        let firstDocument = first["didDocument"] as? [String: Any]
        #expect((firstDocument?["authentication"] as? [String]) == [did + "#key-1"])
        #expect((first["didDocumentMetadata"] as? [String: Any])?["nextVersionId"] as? String == "2")

        let human = try runSocai(["did", "show", did, "--node-home", home])
        #expect(human.status == 0, "\(human.standardError)")
        #expect(human.standardOutput.contains("version:     2"))

        // Another chain's genesis does not prove this answer.
        let other = try runSocai(
            ["genesis", "init", "--validators", "1", "--chain-id", "socai-other", "--out", "other.json", "--nodes", "other"],
            directory: directory.path)
        #expect(other.status == 0)
        let refused = try runSocai([
            "did", "resolve", did, "--node-home", home, "--verify", "--genesis", directory.file("other.json"),
        ])
        #expect(refused.status != 0)
        #expect(refused.standardOutput.contains("not proven"))
    }
}
