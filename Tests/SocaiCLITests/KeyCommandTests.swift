import Foundation
import Testing

/// End-to-end tests of `socai key …` through the real executable.
@Suite struct KeyCommandTests {
    let passphrase = ["SOCAI_PASSPHRASE": "a long test passphrase"]

    /// A failed command prints exactly one line, `Error: …`, and no trace of a crash.
    func expectOneLineError(_ result: CommandResult, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status != 0, sourceLocation: sourceLocation)
        let lines = result.standardError.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.standardError)", sourceLocation: sourceLocation)
        #expect(result.standardError.hasPrefix("Error: "), sourceLocation: sourceLocation)
        #expect(result.standardError.contains(text), "stderr: \(result.standardError)", sourceLocation: sourceLocation)
        #expect(!result.standardError.contains("Fatal error"), sourceLocation: sourceLocation)
    }

    @Test func createsListsShowsSignsAndVerifies() throws {
        let home = TemporaryDirectory()
        let created = try runSocai(["key", "new", "--name", "alice", "--home", home.path, "--json"], environment: passphrase)
        #expect(created.status == 0, "\(created.standardError)")
        let info = try JSONSerialization.jsonObject(with: Data(created.standardOutput.utf8)) as! [String: String]
        let publicKey = try #require(info["publicKey"])
        #expect(publicKey.count == 64)
        #expect(info["didKey"]?.hasPrefix("did:key:z6Mk") == true)

        let mode = try FileManager.default.attributesOfItem(atPath: home.file("keys/alice.key"))[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let listed = try runSocai(["key", "list", "--home", home.path])
        #expect(listed.status == 0)
        #expect(listed.standardOutput.contains("alice\t\(publicKey)"))

        let shown = try runSocai(["key", "show", "--name", "alice", "--home", home.path])
        #expect(shown.standardOutput.contains(publicKey))

        let passphraseFile = home.file("passphrase.txt")
        try "a long test passphrase\n".write(toFile: passphraseFile, atomically: true, encoding: .utf8)
        let signed = try runSocai([
            "key", "sign", "--name", "alice", "--home", home.path, "--passphrase-file", passphraseFile, "--message",
            "I hold this key",
        ])
        #expect(signed.status == 0, "\(signed.standardError)")
        let signature = signed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(signature.count == 128)

        let verified = try runSocai([
            "key", "verify", "--public-key", publicKey, "--signature", signature, "--message", "I hold this key",
        ])
        #expect(verified.status == 0)
        #expect(verified.standardOutput == "valid\n")
        let forged = try runSocai([
            "key", "verify", "--public-key", publicKey, "--signature", signature, "--message", "I hold this kez",
        ])
        expectOneLineError(forged, mentioning: "NOT valid")
    }

    @Test func anExistingNameIsAOneLineError() throws {
        let home = TemporaryDirectory()
        #expect(try runSocai(["key", "new", "--name", "alice", "--home", home.path], environment: passphrase).status == 0)
        let again = try runSocai(["key", "new", "--name", "alice", "--home", home.path], environment: passphrase)
        expectOneLineError(again, mentioning: "already exists")
    }

    @Test func aWrongPassphraseIsAOneLineError() throws {
        let home = TemporaryDirectory()
        #expect(try runSocai(["key", "new", "--name", "alice", "--home", home.path], environment: passphrase).status == 0)
        let signed = try runSocai(
            ["key", "sign", "--name", "alice", "--home", home.path, "--message", "x"],
            environment: ["SOCAI_PASSPHRASE": "not the passphrase"])
        expectOneLineError(signed, mentioning: "wrong passphrase")
    }

    @Test func aTruncatedOrTamperedKeyFileIsAOneLineError() throws {
        let home = TemporaryDirectory()
        #expect(try runSocai(["key", "new", "--name", "alice", "--home", home.path], environment: passphrase).status == 0)
        let path = home.file("keys/alice.key")
        let original = try Data(contentsOf: URL(fileURLWithPath: path))

        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: path))
        expectOneLineError(
            try runSocai(["key", "show", "--name", "alice", "--home", home.path]), mentioning: "damaged or truncated")

        // Change one hex digit of the ciphertext: decryption must fail, never yield another key.
        var text = String(decoding: original, as: UTF8.self)
        let marker = try #require(text.range(of: "\"ciphertext\" : \""))
        let digit = text[marker.upperBound]
        text.replaceSubrange(marker.upperBound...marker.upperBound, with: digit == "0" ? "1" : "0")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let signed = try runSocai(
            ["key", "sign", "--name", "alice", "--home", home.path, "--message", "x"], environment: passphrase)
        expectOneLineError(signed, mentioning: "altered")
    }

    @Test func noPassphraseSourceAtAPipeIsAOneLineError() throws {
        let home = TemporaryDirectory()
        let created = try runSocai(["key", "new", "--name", "alice", "--home", home.path])
        expectOneLineError(created, mentioning: "SOCAI_PASSPHRASE")
        #expect(!FileManager.default.fileExists(atPath: home.file("keys/alice.key")))
    }

    @Test func invalidNamesAreRejectedBeforeAnythingIsWritten() throws {
        let home = TemporaryDirectory()
        let result = try runSocai(["key", "new", "--name", "../escape", "--home", home.path], environment: passphrase)
        #expect(result.status != 0)
        #expect(result.standardError.contains("key name"))
        #expect(!FileManager.default.fileExists(atPath: home.file("keys")))
    }
}
