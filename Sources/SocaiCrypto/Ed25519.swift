import CSodium

/// Ed25519 (RFC 8032) signatures through libsodium.
///
/// libsodium's verification rejects non-canonical signatures (S ≥ L) and small-order
/// public keys, so nobody but the signer can turn a valid signature into a different valid
/// one (no malleability); Socai relies on this because transaction hashes cover signatures.
/// Signing is deterministic (RFC 8032), but a signer could still make a second valid
/// signature of the same message with another implementation; nonces make that harmless.
public enum Ed25519 {
    /// Length of a public key in bytes.
    public static let publicKeyBytes = Int(crypto_sign_PUBLICKEYBYTES)
    /// Length of the seed a key pair is derived from.
    public static let seedBytes = Int(crypto_sign_SEEDBYTES)
    /// Length of libsodium's expanded secret key (seed followed by public key).
    public static let secretKeyBytes = Int(crypto_sign_SECRETKEYBYTES)
    /// Length of a detached signature in bytes.
    public static let signatureBytes = Int(crypto_sign_BYTES)

    /// Returns whether `signature` is a valid signature of `message` by `publicKey`.
    ///
    /// Wrong lengths are simply invalid; this never traps on attacker-controlled input.
    public static func isValidSignature(
        _ signature: [UInt8], of message: [UInt8], publicKey: [UInt8]
    ) -> Bool {
        Sodium.ready
        guard signature.count == signatureBytes, publicKey.count == publicKeyBytes else {
            return false
        }
        return signature.withUnsafeBufferPointer { signatureBuffer in
            message.withUnsafeBufferPointer { messageBuffer in
                publicKey.withUnsafeBufferPointer { keyBuffer in
                    crypto_sign_verify_detached(
                        signatureBuffer.baseAddress!, messageBuffer.baseAddress,
                        UInt64(messageBuffer.count), keyBuffer.baseAddress!) == 0
                }
            }
        }
    }
}

/// An Ed25519 secret key held in memory that is wiped when the key is released.
///
/// The key's `description` never shows secret material, so it cannot leak into logs.
public final class SigningKey: @unchecked Sendable, CustomStringConvertible,
    CustomDebugStringConvertible
{
    // Immutable after init; wiped in deinit. @unchecked Sendable because the buffer
    // is written only while the object is being constructed and destroyed.
    private let secret: UnsafeMutableBufferPointer<UInt8>
    /// The 32-byte public key.
    public let publicKey: [UInt8]

    /// Derives the key pair deterministically from a 32-byte seed (RFC 8032 §5.1.5).
    public init(seed: [UInt8]) throws(CryptoError) {
        Sodium.ready
        guard seed.count == Ed25519.seedBytes else {
            throw CryptoError(.invalidLength, "an Ed25519 seed is \(Ed25519.seedBytes) bytes, got \(seed.count)")
        }
        let secretBuffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Ed25519.secretKeyBytes)
        var publicBytes = [UInt8](repeating: 0, count: Ed25519.publicKeyBytes)
        let status = seed.withUnsafeBufferPointer { seedBuffer in
            publicBytes.withUnsafeMutableBufferPointer { publicBuffer in
                crypto_sign_seed_keypair(publicBuffer.baseAddress!, secretBuffer.baseAddress!, seedBuffer.baseAddress!)
            }
        }
        precondition(status == 0, "crypto_sign_seed_keypair cannot fail for a 32-byte seed")
        secret = secretBuffer
        publicKey = publicBytes
    }

    /// Generates a new key pair from secure randomness.
    public convenience init() {
        var seed = SecureRandom.bytes(count: Ed25519.seedBytes)
        defer { secureWipe(&seed) }
        // A 32-byte seed is always accepted.
        try! self.init(seed: seed)
    }

    deinit {
        sodium_memzero(secret.baseAddress!, secret.count)
        secret.deallocate()
    }

    /// The 32-byte seed this key was derived from. The caller must wipe the copy.
    public func seedBytes() -> [UInt8] {
        Array(secret[0..<Ed25519.seedBytes])
    }

    /// Signs `message`, returning a 64-byte detached signature.
    public func signature(for message: [UInt8]) -> [UInt8] {
        var signature = [UInt8](repeating: 0, count: Ed25519.signatureBytes)
        let status = message.withUnsafeBufferPointer { messageBuffer in
            signature.withUnsafeMutableBufferPointer { signatureBuffer in
                crypto_sign_detached(
                    signatureBuffer.baseAddress!, nil, messageBuffer.baseAddress,
                    UInt64(messageBuffer.count), secret.baseAddress!)
            }
        }
        precondition(status == 0, "crypto_sign_detached cannot fail")
        return signature
    }

    /// A redacted description: the public key only.
    public var description: String {
        "SigningKey(public: \(Hex.encode(publicKey)), secret: <redacted>)"
    }

    /// A redacted description: the public key only.
    public var debugDescription: String { description }
}

extension Ed25519 {
    /// The X25519 (Montgomery) public key birationally equivalent to an Ed25519 public key,
    /// as libsodium's `crypto_sign_ed25519_pk_to_curve25519` computes it; nil when
    /// `publicKey` is not 32 bytes or not a valid point (the did:key method derives its
    /// key-agreement key this way).
    public static func x25519PublicKey(fromEd25519 publicKey: [UInt8]) -> [UInt8]? {
        Sodium.ready
        guard publicKey.count == publicKeyBytes else { return nil }
        var converted = [UInt8](repeating: 0, count: Int(crypto_scalarmult_curve25519_BYTES))
        let status = converted.withUnsafeMutableBufferPointer { output in
            publicKey.withUnsafeBufferPointer { input in
                crypto_sign_ed25519_pk_to_curve25519(output.baseAddress!, input.baseAddress!)
            }
        }
        return status == 0 ? converted : nil
    }
}
