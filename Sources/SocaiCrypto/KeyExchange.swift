import CSodium

/// X25519 key exchange through libsodium's `crypto_kx`: each side of a connection makes a
/// fresh key pair, they swap public keys, and each derives the same two 32-byte session
/// keys, one per direction.
///
/// `crypto_kx` computes `q = X25519(secret, peer public)` and then
/// `rx ‖ tx = BLAKE2b-512(q ‖ client public ‖ server public)` (the client's `rx` is the
/// server's `tx` and the other way round), so both public keys are bound into the keys and
/// the two directions never share a key.
public enum KeyExchange {
    /// Length of an X25519 public key in bytes.
    public static let publicKeyBytes = Int(crypto_kx_PUBLICKEYBYTES)
    /// Length of an X25519 secret key in bytes.
    public static let secretKeyBytes = Int(crypto_kx_SECRETKEYBYTES)
    /// Length of the seed a deterministic key pair is derived from.
    public static let seedBytes = Int(crypto_kx_SEEDBYTES)
    /// Length of each session key in bytes.
    public static let sessionKeyBytes = Int(crypto_kx_SESSIONKEYBYTES)
}

/// An X25519 key pair for one key exchange, its secret wiped when the pair is released.
///
/// Meant to be ephemeral: make one per connection and drop it once the session keys exist,
/// so a later theft of the node key cannot decrypt recorded traffic (forward secrecy).
public final class X25519KeyPair: @unchecked Sendable, CustomStringConvertible {
    // Immutable after init; wiped in deinit. @unchecked Sendable because the buffer is
    // written only while the object is being constructed and destroyed.
    private let secret: UnsafeMutableBufferPointer<UInt8>
    /// The 32-byte public key sent to the peer.
    public let publicKey: [UInt8]

    /// Generates a key pair from secure randomness.
    public init() {
        Sodium.ready
        let secretBuffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: KeyExchange.secretKeyBytes)
        var publicBytes = [UInt8](repeating: 0, count: KeyExchange.publicKeyBytes)
        let status = publicBytes.withUnsafeMutableBufferPointer { publicBuffer in
            crypto_kx_keypair(publicBuffer.baseAddress!, secretBuffer.baseAddress!)
        }
        precondition(status == 0, "crypto_kx_keypair cannot fail")
        secret = secretBuffer
        publicKey = publicBytes
    }

    /// Derives a key pair deterministically from a 32-byte seed (for test vectors only:
    /// a real exchange must use fresh randomness).
    public init(seed: [UInt8]) throws(CryptoError) {
        Sodium.ready
        guard seed.count == KeyExchange.seedBytes else {
            throw CryptoError(.invalidLength, "an X25519 seed is \(KeyExchange.seedBytes) bytes, got \(seed.count)")
        }
        let secretBuffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: KeyExchange.secretKeyBytes)
        var publicBytes = [UInt8](repeating: 0, count: KeyExchange.publicKeyBytes)
        let status = seed.withUnsafeBufferPointer { seedBuffer in
            publicBytes.withUnsafeMutableBufferPointer { publicBuffer in
                crypto_kx_seed_keypair(publicBuffer.baseAddress!, secretBuffer.baseAddress!, seedBuffer.baseAddress!)
            }
        }
        precondition(status == 0, "crypto_kx_seed_keypair cannot fail for a 32-byte seed")
        secret = secretBuffer
        publicKey = publicBytes
    }

    deinit {
        sodium_memzero(secret.baseAddress!, secret.count)
        secret.deallocate()
    }

    /// The session keys of the side that dialed (the client), given the server's public key.
    ///
    /// Throws `keyDerivationFailed` when the peer's key is a small-order point (the shared
    /// secret would be all zeros and known to anyone), `invalidLength` for a wrong length.
    public func clientSessionKeys(serverPublicKey: [UInt8]) throws(CryptoError) -> SessionKeys {
        try sessionKeys(peerPublicKey: peerKeyChecked(serverPublicKey), client: true)
    }

    /// The session keys of the side that accepted (the server), given the client's public key.
    ///
    /// Throws like `clientSessionKeys(serverPublicKey:)`.
    public func serverSessionKeys(clientPublicKey: [UInt8]) throws(CryptoError) -> SessionKeys {
        try sessionKeys(peerPublicKey: peerKeyChecked(clientPublicKey), client: false)
    }

    /// A redacted description: the public key only.
    public var description: String {
        "X25519KeyPair(public: \(Hex.encode(publicKey)), secret: <redacted>)"
    }

    private func peerKeyChecked(_ key: [UInt8]) throws(CryptoError) -> [UInt8] {
        guard key.count == KeyExchange.publicKeyBytes else {
            throw CryptoError(.invalidLength, "an X25519 public key is \(KeyExchange.publicKeyBytes) bytes, got \(key.count)")
        }
        return key
    }

    private func sessionKeys(peerPublicKey: [UInt8], client: Bool) throws(CryptoError) -> SessionKeys {
        let keys = SessionKeys()
        let status = peerPublicKey.withUnsafeBufferPointer { peerBuffer in
            publicKey.withUnsafeBufferPointer { ownBuffer in
                if client {
                    crypto_kx_client_session_keys(
                        keys.receiveKey.baseAddress!, keys.transmitKey.baseAddress!, ownBuffer.baseAddress!,
                        secret.baseAddress!, peerBuffer.baseAddress!)
                } else {
                    crypto_kx_server_session_keys(
                        keys.receiveKey.baseAddress!, keys.transmitKey.baseAddress!, ownBuffer.baseAddress!,
                        secret.baseAddress!, peerBuffer.baseAddress!)
                }
            }
        }
        guard status == 0 else {
            throw CryptoError(.keyDerivationFailed, "X25519 key exchange failed: the peer's public key is not acceptable")
        }
        return keys
    }
}

/// The two 32-byte keys of one session, one per direction, wiped when released.
///
/// Sealing uses the transmit key and opening the receive key, so a frame this side sent
/// can never be opened by this side (a reflected frame fails authentication).
public final class SessionKeys: @unchecked Sendable, CustomStringConvertible {
    // Written only by crypto_kx while X25519KeyPair builds the object, then read-only until
    // deinit wipes them; hence @unchecked Sendable.
    let receiveKey: UnsafeMutableBufferPointer<UInt8>
    let transmitKey: UnsafeMutableBufferPointer<UInt8>

    fileprivate init() {
        Sodium.ready
        receiveKey = .allocate(capacity: KeyExchange.sessionKeyBytes)
        receiveKey.initialize(repeating: 0)
        transmitKey = .allocate(capacity: KeyExchange.sessionKeyBytes)
        transmitKey.initialize(repeating: 0)
    }

    deinit {
        sodium_memzero(receiveKey.baseAddress!, receiveKey.count)
        sodium_memzero(transmitKey.baseAddress!, transmitKey.count)
        receiveKey.deallocate()
        transmitKey.deallocate()
    }

    /// A copy of the receive key, for test vectors only. The caller must wipe it.
    public func receiveKeyBytes() -> [UInt8] { Array(receiveKey) }

    /// A copy of the transmit key, for test vectors only. The caller must wipe it.
    public func transmitKeyBytes() -> [UInt8] { Array(transmitKey) }

    /// Encrypts and authenticates `plaintext` under the transmit key with XChaCha20-Poly1305
    /// (IETF); the result is the ciphertext followed by the 16-byte tag.
    ///
    /// The caller must never use one `nonce` twice with these keys.
    public func seal(_ plaintext: [UInt8], nonce: [UInt8], associatedData: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        try AEAD.seal(plaintext, key: transmitKey, nonce: nonce, associatedData: associatedData)
    }

    /// Verifies and decrypts a `seal` result of the peer under the receive key; throws
    /// `authenticationFailed` when any byte, the nonce or the associated data differ.
    public func open(_ ciphertext: [UInt8], nonce: [UInt8], associatedData: [UInt8] = []) throws(CryptoError) -> [UInt8] {
        try AEAD.open(ciphertext, key: receiveKey, nonce: nonce, associatedData: associatedData)
    }

    /// A redacted description.
    public var description: String { "SessionKeys(<redacted>)" }
}

/// XChaCha20-Poly1305 (IETF) over keys held in wiped memory: the general form of the
/// cipher `PassphraseCipher` uses for key files, without its small plaintext limit.
public enum AEAD {
    /// Length of the key.
    public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    /// Length of the nonce.
    public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    /// Length of the authentication tag appended to every ciphertext.
    public static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)
    /// Longest plaintext accepted, in bytes: far above any peer frame (about 8 MiB), low
    /// enough that a caller's bug cannot allocate without bound.
    public static let plaintextBytesMax = 64 * 1024 * 1024

    static func seal(
        _ plaintext: [UInt8], key: UnsafeMutableBufferPointer<UInt8>, nonce: [UInt8], associatedData: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        Sodium.ready
        precondition(key.count == keyBytes)
        try checkNonce(nonce)
        guard plaintext.count <= plaintextBytesMax else {
            throw CryptoError(.invalidLength, "plaintext is longer than \(plaintextBytesMax) bytes")
        }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + tagBytes)
        var ciphertextLength: UInt64 = 0
        let status = plaintext.withUnsafeBufferPointer { message in
            associatedData.withUnsafeBufferPointer { data in
                nonce.withUnsafeBufferPointer { nonceBuffer in
                    ciphertext.withUnsafeMutableBufferPointer { output in
                        crypto_aead_xchacha20poly1305_ietf_encrypt(
                            output.baseAddress!, &ciphertextLength, message.baseAddress, UInt64(message.count),
                            data.baseAddress, UInt64(data.count), nil, nonceBuffer.baseAddress!, key.baseAddress!)
                    }
                }
            }
        }
        precondition(status == 0 && ciphertextLength == UInt64(ciphertext.count), "XChaCha20-Poly1305 encryption cannot fail")
        return ciphertext
    }

    static func open(
        _ ciphertext: [UInt8], key: UnsafeMutableBufferPointer<UInt8>, nonce: [UInt8], associatedData: [UInt8]
    ) throws(CryptoError) -> [UInt8] {
        Sodium.ready
        precondition(key.count == keyBytes)
        try checkNonce(nonce)
        guard ciphertext.count >= tagBytes, ciphertext.count <= plaintextBytesMax + tagBytes else {
            throw CryptoError(.invalidLength, "ciphertext length \(ciphertext.count) is out of range")
        }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count - tagBytes)
        var plaintextLength: UInt64 = 0
        let status = ciphertext.withUnsafeBufferPointer { input in
            associatedData.withUnsafeBufferPointer { data in
                nonce.withUnsafeBufferPointer { nonceBuffer in
                    plaintext.withUnsafeMutableBufferPointer { output in
                        crypto_aead_xchacha20poly1305_ietf_decrypt(
                            output.baseAddress, &plaintextLength, nil, input.baseAddress!, UInt64(input.count),
                            data.baseAddress, UInt64(data.count), nonceBuffer.baseAddress!, key.baseAddress!)
                    }
                }
            }
        }
        guard status == 0 else {
            throw CryptoError(.authenticationFailed, "decryption failed: wrong key, nonce or altered data")
        }
        precondition(plaintextLength == UInt64(plaintext.count))
        return plaintext
    }

    private static func checkNonce(_ nonce: [UInt8]) throws(CryptoError) {
        guard nonce.count == nonceBytes else {
            throw CryptoError(.invalidLength, "the nonce is \(nonceBytes) bytes, got \(nonce.count)")
        }
    }
}
