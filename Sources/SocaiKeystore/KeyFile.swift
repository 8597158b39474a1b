import Foundation
import SocaiCore
import SocaiCrypto

/// The on-disk form of one encrypted key (docs/FORMAT.md, "Key files").
struct KeyFile: Codable {
    static let formatVersion: UInt8 = 1
    static let kdfAlgorithm = "argon2id13"
    static let cipherAlgorithm = "xchacha20poly1305-ietf"
    static let associatedDataTag = Array("socai/keyfile/v1".utf8) + [0]

    struct KDF: Codable {
        var algorithm: String
        var operations: UInt64
        var memoryBytes: UInt64
        var salt: String
    }

    struct Cipher: Codable {
        var algorithm: String
        var nonce: String
        var ciphertext: String
    }

    var formatVersion: UInt8
    var name: String
    var publicKeyHex: String
    var kdf: KDF
    var cipher: Cipher

    enum CodingKeys: String, CodingKey {
        case formatVersion, name, publicKeyHex = "publicKey", kdf, cipher
    }

    // Validated views, filled by init(jsonBytes:).
    var publicKey: PublicKey { try! PublicKey(hex: publicKeyHex) }

    /// Encrypts the seed of `signingKey`.
    static func seal(
        info: KeyInfo, signingKey: SigningKey, passphrase: [UInt8], parameters: Argon2idParameters
    ) throws(CryptoError) -> KeyFile {
        let salt = SecureRandom.bytes(count: PassphraseCipher.saltBytes)
        let nonce = SecureRandom.bytes(count: PassphraseCipher.nonceBytes)
        var key = try PassphraseCipher.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
        defer { secureWipe(&key) }
        var seed = signingKey.seedBytes()
        defer { secureWipe(&seed) }
        let associatedData = Self.associatedData(name: info.name, publicKey: info.publicKey, parameters: parameters, salt: salt)
        let ciphertext = try PassphraseCipher.seal(seed, key: key, nonce: nonce, associatedData: associatedData)
        return KeyFile(
            formatVersion: formatVersion, name: info.name, publicKeyHex: info.publicKey.hex,
            kdf: KDF(
                algorithm: kdfAlgorithm, operations: parameters.operations, memoryBytes: parameters.memoryBytes,
                salt: Hex.encode(salt)),
            cipher: Cipher(algorithm: cipherAlgorithm, nonce: Hex.encode(nonce), ciphertext: Hex.encode(ciphertext)))
    }

    /// The bytes bound as associated data: tag, name, public key, Argon2id costs and salt.
    static func associatedData(name: String, publicKey: PublicKey, parameters: Argon2idParameters, salt: [UInt8]) -> [UInt8] {
        var writer = ByteWriter()
        writer.writeRaw(associatedDataTag)
        writer.writeShortBytes(Array(name.utf8))
        writer.write(publicKey)
        writer.write(parameters.operations)
        writer.write(parameters.memoryBytes)
        writer.writeRaw(salt)
        return writer.bytes
    }

}

extension KeyFile {
    /// Parses and checks every field; a truncated or altered file is `corrupt`.
    init(jsonBytes: [UInt8], path: String) throws(KeystoreError) {
        do {
            self = try JSONDecoder().decode(KeyFile.self, from: Data(jsonBytes))
        } catch {
            throw KeystoreError(.corrupt, "key file \(path) is damaged or truncated (not a valid key file)")
        }
        guard formatVersion == Self.formatVersion else {
            throw KeystoreError(.corrupt, "key file \(path) has unknown format version \(formatVersion)")
        }
        guard kdf.algorithm == Self.kdfAlgorithm, cipher.algorithm == Self.cipherAlgorithm else {
            throw KeystoreError(.corrupt, "key file \(path) names an unknown algorithm (\(kdf.algorithm), \(cipher.algorithm))")
        }
        do throws(FormatError) { _ = try PublicKey(hex: publicKeyHex) } catch {
            throw KeystoreError(.corrupt, "key file \(path): \(error.message)")
        }
        do throws(CryptoError) {
            try Argon2idParameters(operations: kdf.operations, memoryBytes: kdf.memoryBytes).validate()
            _ = try Hex.decode(kdf.salt, count: PassphraseCipher.saltBytes)
            _ = try Hex.decode(cipher.nonce, count: PassphraseCipher.nonceBytes)
            _ = try Hex.decode(cipher.ciphertext, count: Ed25519.seedBytes + PassphraseCipher.tagBytes)
        } catch {
            throw KeystoreError(.corrupt, "key file \(path): \(error.message)")
        }
    }

    /// Decrypts the seed and checks it yields the recorded public key.
    func open(passphrase: [UInt8]) throws(KeystoreError) -> SigningKey {
        // Every field was validated in init(jsonBytes:), so these decodes cannot fail.
        let parameters = Argon2idParameters(operations: kdf.operations, memoryBytes: kdf.memoryBytes)
        let salt = try! Hex.decode(kdf.salt)
        let nonce = try! Hex.decode(cipher.nonce)
        let ciphertext = try! Hex.decode(cipher.ciphertext)
        let associatedData = Self.associatedData(name: name, publicKey: publicKey, parameters: parameters, salt: salt)
        var seed: [UInt8]
        do throws(CryptoError) {
            var key = try PassphraseCipher.deriveKey(passphrase: passphrase, salt: salt, parameters: parameters)
            defer { secureWipe(&key) }
            seed = try PassphraseCipher.open(ciphertext, key: key, nonce: nonce, associatedData: associatedData)
        } catch  where error.code == .authenticationFailed {
            throw KeystoreError(.wrongPassphrase, "cannot unlock key \"\(name)\": wrong passphrase, or the key file was altered")
        } catch {
            throw KeystoreError(.corrupt, "cannot unlock key \"\(name)\": \(error.message)")
        }
        defer { secureWipe(&seed) }
        let signingKey = try! SigningKey(seed: seed)  // the AEAD guarantees 32 bytes
        guard signingKey.publicKey == publicKey.bytes else {
            throw KeystoreError(.corrupt, "key \"\(name)\" decrypts to a different public key than its file records")
        }
        return signingKey
    }

    /// Pretty JSON with sorted keys and a final newline.
    func jsonBytes() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try! encoder.encode(self)) + [UInt8(ascii: "\n")]
    }
}
