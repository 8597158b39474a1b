import Foundation
import SocaiCore
import SocaiCrypto
import Testing

@testable import SocaiKeystore

final class TemporaryHome {
    let path: String
    init() {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("socai-keystore-\(UUID().uuidString)").path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

private let passphrase = Array("correct horse battery".utf8)
// The library floor keeps the many derivations in these tests fast; the CLI uses `.moderate`.
private let fast = Argon2idParameters.interactive

@Suite struct KeystoreTests {
    @Test func createsUnlocksAndListsKeys() throws {
        let home = TemporaryHome()
        let keystore = Keystore(home: home.path)
        let seed = [UInt8](repeating: 7, count: 32)
        let created = try keystore.create(name: "alice", passphrase: passphrase, seed: seed, parameters: fast)
        try keystore.create(name: "bob", passphrase: passphrase, parameters: fast)
        #expect(created.publicKey == PublicKey(of: try SigningKey(seed: seed)))
        let unlocked = try keystore.unlock(name: "alice", passphrase: passphrase)
        #expect(unlocked.publicKey == created.publicKey.bytes)
        #expect(unlocked.seedBytes() == seed)
        #expect(try keystore.list().map(\.name) == ["alice", "bob"])
        #expect(try keystore.info(name: "alice") == created)
    }

    @Test func keyFilesAreMode0600InA0700Directory() throws {
        let home = TemporaryHome()
        let keystore = Keystore(home: home.path)
        try keystore.create(name: "alice", passphrase: passphrase, parameters: fast)
        let fileMode = try FileManager.default.attributesOfItem(atPath: keystore.path(for: "alice"))[.posixPermissions] as? Int
        let directoryMode = try FileManager.default.attributesOfItem(atPath: keystore.keysDirectory)[.posixPermissions] as? Int
        #expect(fileMode == 0o600)
        #expect(directoryMode == 0o700)
        // The file holds no secret in the clear: the seed's hex does not appear.
        let seedHex = Hex.encode(try keystore.unlock(name: "alice", passphrase: passphrase).seedBytes())
        let text = try String(contentsOfFile: keystore.path(for: "alice"), encoding: .utf8)
        #expect(!text.contains(seedHex))
    }

    @Test func rejectsAWrongPassphrase() throws {
        let home = TemporaryHome()
        let keystore = Keystore(home: home.path)
        try keystore.create(name: "alice", passphrase: passphrase, parameters: fast)
        do {
            _ = try keystore.unlock(name: "alice", passphrase: Array("wrong horse battery".utf8))
            Issue.record("unlocked with a wrong passphrase")
        } catch { #expect(error.code == .wrongPassphrase) }
    }

    @Test func rejectsAnExistingNameAnInvalidNameAndAWeakPassphrase() throws {
        let home = TemporaryHome()
        let keystore = Keystore(home: home.path)
        try keystore.create(name: "alice", passphrase: passphrase, parameters: fast)
        do { try keystore.create(name: "alice", passphrase: passphrase, parameters: fast); Issue.record("overwrote a key") } catch
        {
            #expect(error.code == .alreadyExists)
        }
        for name in ["", "../evil", ".hidden", "-flag", "a b", String(repeating: "x", count: 65)] {
            do {
                try keystore.create(name: name, passphrase: passphrase, parameters: fast); Issue.record("accepted name \(name)")
            } catch {
                #expect(error.code == .invalidName)
            }
        }
        do {
            try keystore.create(name: "bob", passphrase: Array("short".utf8), parameters: fast);
            Issue.record("accepted a weak passphrase")
        } catch {
            #expect(error.code == .weakPassphrase)
        }
        do { _ = try keystore.info(name: "carol"); Issue.record("found a missing key") } catch {
            #expect(error.code == .notFound)
        }
    }

    /// Rewrites one JSON field of alice's key file, then expects unlocking to fail with `code`.
    private func expectTamperingFails(
        _ code: KeystoreError.Code, _ edit: (inout [String: Any]) -> Void
    ) throws {
        let home = TemporaryHome()
        let keystore = Keystore(home: home.path)
        try keystore.create(name: "alice", passphrase: passphrase, parameters: fast)
        let path = keystore.path(for: "alice")
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        edit(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
        do { _ = try keystore.unlock(name: "alice", passphrase: passphrase); Issue.record("unlocked a tampered file") } catch {
            #expect(error.code == code)
        }
    }

    private static func flipFirstHexDigit(_ text: String) -> String {
        let first = text.first == "0" ? "1" : "0"
        return first + text.dropFirst()
    }

    @Test func rejectsTamperedKeyFiles() throws {
        try expectTamperingFails(.wrongPassphrase) { object in
            var cipher = object["cipher"] as! [String: Any]
            cipher["ciphertext"] = Self.flipFirstHexDigit(cipher["ciphertext"] as! String)
            object["cipher"] = cipher
        }
        try expectTamperingFails(.wrongPassphrase) { object in
            var cipher = object["cipher"] as! [String: Any]
            cipher["nonce"] = Self.flipFirstHexDigit(cipher["nonce"] as! String)
            object["cipher"] = cipher
        }
        // The public key in the clear is bound as associated data: swapping it breaks decryption.
        try expectTamperingFails(.wrongPassphrase) { object in
            object["publicKey"] = Self.flipFirstHexDigit(object["publicKey"] as! String)
        }
        try expectTamperingFails(.wrongPassphrase) { object in
            var kdf = object["kdf"] as! [String: Any]
            kdf["salt"] = Self.flipFirstHexDigit(kdf["salt"] as! String)
            object["kdf"] = kdf
        }
        // Costs outside the accepted range are refused before any derivation runs.
        try expectTamperingFails(.corrupt) { object in
            var kdf = object["kdf"] as! [String: Any]
            kdf["memoryBytes"] = UInt64(1) << 40
            object["kdf"] = kdf
        }
        try expectTamperingFails(.corrupt) { object in object["formatVersion"] = 2 }
        try expectTamperingFails(.corrupt) { object in object["name"] = "mallory" }
    }

    @Test func rejectsATruncatedKeyFile() throws {
        let home = TemporaryHome()
        let keystore = Keystore(home: home.path)
        try keystore.create(name: "alice", passphrase: passphrase, parameters: fast)
        let path = keystore.path(for: "alice")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for length in [0, 1, bytes.count / 2, bytes.count - 3] {
            try bytes.prefix(length).write(to: URL(fileURLWithPath: path))
            do { _ = try keystore.unlock(name: "alice", passphrase: passphrase); Issue.record("unlocked a truncated file") } catch
            {
                #expect(error.code == .corrupt)
            }
        }
    }

    @Test func refusesAKeyFileOthersCanRead() throws {
        let home = TemporaryHome()
        let keystore = Keystore(home: home.path)
        try keystore.create(name: "alice", passphrase: passphrase, parameters: fast)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keystore.path(for: "alice"))
        do { _ = try keystore.unlock(name: "alice", passphrase: passphrase); Issue.record("used a world-readable key") } catch {
            #expect(error.code == .insecurePermissions)
        }
    }

    @Test func signingKeyDescriptionsAreRedacted() throws {
        let key = try SigningKey(seed: [UInt8](repeating: 9, count: 32))
        let seedHex = Hex.encode(key.seedBytes())
        #expect(!"\(key)".contains(seedHex))
        #expect(!String(reflecting: key).contains(seedHex))
        #expect("\(key)".contains("redacted"))
    }
}
