import CSodium

/// SHA-256 (FIPS 180-4) through libsodium's `crypto_hash_sha256`.
public enum SHA256 {
    /// Length of a digest in bytes.
    public static let digestBytes = Int(crypto_hash_sha256_BYTES)

    /// Returns the 32-byte digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        Sodium.ready
        var digest = [UInt8](repeating: 0, count: digestBytes)
        bytes.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                _ = crypto_hash_sha256(output.baseAddress!, input.baseAddress, UInt64(input.count))
            }
        }
        return digest
    }

    /// Returns the digest of the concatenation of `parts`, without concatenating them.
    public static func hash(parts: [[UInt8]]) -> [UInt8] {
        var hasher = Hasher()
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }

    /// An incremental SHA-256 computation.
    public struct Hasher {
        private var state = crypto_hash_sha256_state()

        /// Starts a new digest computation.
        public init() {
            Sodium.ready
            _ = crypto_hash_sha256_init(&state)
        }

        /// Feeds `bytes` into the digest.
        public mutating func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBufferPointer { input in
                _ = crypto_hash_sha256_update(&state, input.baseAddress, UInt64(input.count))
            }
        }

        /// Returns the digest of everything fed so far.
        public mutating func finalize() -> [UInt8] {
            var digest = [UInt8](repeating: 0, count: SHA256.digestBytes)
            digest.withUnsafeMutableBufferPointer { output in
                _ = crypto_hash_sha256_final(&state, output.baseAddress!)
            }
            return digest
        }
    }
}
