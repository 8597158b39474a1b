import CSodium

/// Argon2id cost parameters for deriving an encryption key from a passphrase.
public struct Argon2idParameters: Sendable, Equatable, Codable {
    /// Number of passes over memory (libsodium's `opslimit`).
    public var operations: UInt64
    /// Memory used by one derivation, in bytes (libsodium's `memlimit`).
    public var memoryBytes: UInt64

    /// Creates parameters; see `validate()` for the accepted range.
    public init(operations: UInt64, memoryBytes: UInt64) {
        self.operations = operations
        self.memoryBytes = memoryBytes
    }

    /// libsodium's "interactive" level (2 passes, 64 MiB): the floor Socai accepts.
    public static let interactive = Argon2idParameters(
        operations: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE),
        memoryBytes: UInt64(crypto_pwhash_MEMLIMIT_INTERACTIVE))
    /// libsodium's "moderate" level (3 passes, 256 MiB): what new key files use.
    public static let moderate = Argon2idParameters(
        operations: UInt64(crypto_pwhash_OPSLIMIT_MODERATE),
        memoryBytes: UInt64(crypto_pwhash_MEMLIMIT_MODERATE))
    /// libsodium's "sensitive" level (4 passes, 1 GiB): the ceiling Socai accepts, so a
    /// tampered key file cannot make the reader allocate without bound.
    public static let sensitive = Argon2idParameters(
        operations: UInt64(crypto_pwhash_OPSLIMIT_SENSITIVE),
        memoryBytes: UInt64(crypto_pwhash_MEMLIMIT_SENSITIVE))

    /// Throws unless both costs lie between `interactive` and `sensitive`.
    public func validate() throws(CryptoError) {
        let low = Self.interactive
        let high = Self.sensitive
        guard operations >= low.operations, operations <= high.operations else {
            throw CryptoError(
                .invalidParameters, "Argon2id operations \(operations) is outside \(low.operations)...\(high.operations)")
        }
        guard memoryBytes >= low.memoryBytes, memoryBytes <= high.memoryBytes else {
            throw CryptoError(
                .invalidParameters, "Argon2id memory \(memoryBytes) bytes is outside \(low.memoryBytes)...\(high.memoryBytes)")
        }
    }
}

/// Passphrase-based authenticated encryption: Argon2id (`crypto_pwhash`, algorithm
/// Argon2id v1.3) derives a 32-byte key, XChaCha20-Poly1305 (IETF) seals the data.
public enum PassphraseCipher {
    /// Length of the Argon2id salt.
    public static let saltBytes = Int(crypto_pwhash_SALTBYTES)
    /// Length of the XChaCha20-Poly1305 nonce.
    public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    /// Length of the derived key.
    public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    /// Length of the authentication tag appended to the ciphertext.
    public static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)
    /// Longest passphrase accepted, in bytes.
    public static let passphraseBytesMax = 1024
    /// Longest plaintext accepted, in bytes (key files hold 32-byte seeds).
    public static let plaintextBytesMax = 4096

    /// Derives the 32-byte encryption key from a passphrase and salt.
    public static func deriveKey(
        passphrase: [UInt8], salt: [UInt8], parameters: Argon2idParameters
    ) throws(CryptoError) -> [UInt8] {
        Sodium.ready
        try parameters.validate()
        guard salt.count == saltBytes else {
            throw CryptoError(.invalidLength, "the Argon2id salt is \(saltBytes) bytes, got \(salt.count)")
        }
        guard passphrase.count <= passphraseBytesMax else {
            throw CryptoError(.invalidLength, "the passphrase is longer than \(passphraseBytesMax) bytes")
        }
        var key = [UInt8](repeating: 0, count: keyBytes)
        // A trailing zero keeps the buffer non-empty (libsodium wants a pointer even for
        // an empty passphrase); the length passed excludes it.
        var terminated = passphrase + [0]
        defer { secureWipe(&terminated) }
        let status = terminated.withUnsafeBufferPointer { passphraseBuffer in
            salt.withUnsafeBufferPointer { saltBuffer in
                key.withUnsafeMutableBufferPointer { keyBuffer in
                    passphraseBuffer.withMemoryRebound(to: CChar.self) { passphraseCharacters in
                        crypto_pwhash(
                            keyBuffer.baseAddress!, UInt64(keyBuffer.count),
                            passphraseCharacters.baseAddress!, UInt64(passphraseCharacters.count - 1),
                            saltBuffer.baseAddress!, parameters.operations, Int(parameters.memoryBytes),
                            crypto_pwhash_ALG_ARGON2ID13)
                    }
                }
            }
        }
        guard status == 0 else {
            throw CryptoError(.keyDerivationFailed, "Argon2id key derivation failed (out of memory?)")
        }
        return key
    }

    /// Encrypts and authenticates `plaintext`, binding `associatedData` (which is not encrypted).
    public static func seal(
        _ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        Sodium.ready
        try checkLengths(key: key, nonce: nonce)
        guard plaintext.count <= plaintextBytesMax else {
            throw CryptoError(.invalidLength, "plaintext is longer than \(plaintextBytesMax) bytes")
        }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + tagBytes)
        var ciphertextLength: UInt64 = 0
        let status = plaintext.withUnsafeBufferPointer { message in
            associatedData.withUnsafeBufferPointer { data in
                nonce.withUnsafeBufferPointer { nonceBuffer in
                    key.withUnsafeBufferPointer { keyBuffer in
                        ciphertext.withUnsafeMutableBufferPointer { output in
                            crypto_aead_xchacha20poly1305_ietf_encrypt(
                                output.baseAddress!, &ciphertextLength, message.baseAddress,
                                UInt64(message.count), data.baseAddress, UInt64(data.count), nil,
                                nonceBuffer.baseAddress!, keyBuffer.baseAddress!)
                        }
                    }
                }
            }
        }
        precondition(status == 0 && ciphertextLength == UInt64(ciphertext.count), "XChaCha20-Poly1305 encryption cannot fail")
        return ciphertext
    }

    /// Verifies and decrypts `ciphertext`; throws `authenticationFailed` if the key is
    /// wrong or any byte of the ciphertext, nonce or associated data was changed.
    public static func open(
        _ ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        Sodium.ready
        try checkLengths(key: key, nonce: nonce)
        guard ciphertext.count >= tagBytes, ciphertext.count <= plaintextBytesMax + tagBytes else {
            throw CryptoError(.invalidLength, "ciphertext length \(ciphertext.count) is out of range")
        }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count - tagBytes)
        var plaintextLength: UInt64 = 0
        let status = ciphertext.withUnsafeBufferPointer { input in
            associatedData.withUnsafeBufferPointer { data in
                nonce.withUnsafeBufferPointer { nonceBuffer in
                    key.withUnsafeBufferPointer { keyBuffer in
                        plaintext.withUnsafeMutableBufferPointer { output in
                            crypto_aead_xchacha20poly1305_ietf_decrypt(
                                output.baseAddress, &plaintextLength, nil, input.baseAddress!,
                                UInt64(input.count), data.baseAddress, UInt64(data.count),
                                nonceBuffer.baseAddress!, keyBuffer.baseAddress!)
                        }
                    }
                }
            }
        }
        guard status == 0 else {
            throw CryptoError(.authenticationFailed, "decryption failed: wrong passphrase or altered data")
        }
        precondition(plaintextLength == UInt64(plaintext.count))
        return plaintext
    }

    private static func checkLengths(key: [UInt8], nonce: [UInt8]) throws(CryptoError) {
        guard key.count == keyBytes else {
            throw CryptoError(.invalidLength, "the cipher key is \(keyBytes) bytes, got \(key.count)")
        }
        guard nonce.count == nonceBytes else {
            throw CryptoError(.invalidLength, "the nonce is \(nonceBytes) bytes, got \(nonce.count)")
        }
    }
}
