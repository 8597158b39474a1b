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

    /// Writes the 32-byte digest of `input` into `output`, which must hold exactly 32 bytes.
    /// No allocation: the hot paths (state tree nodes, keys, values) hash into inline storage.
    public static func hash(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count == digestBytes, "a SHA-256 digest is 32 bytes")
        Sodium.ready
        _ = crypto_hash_sha256(
            output.baseAddress!.assumingMemoryBound(to: UInt8.self),
            input.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(input.count))
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

        /// Feeds the bytes of `input` into the digest.
        public mutating func update(_ input: UnsafeRawBufferPointer) {
            _ = crypto_hash_sha256_update(&state, input.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(input.count))
        }

        /// Writes the digest of everything fed so far into `output`, exactly 32 bytes.
        public mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
            precondition(output.count == SHA256.digestBytes, "a SHA-256 digest is 32 bytes")
            _ = crypto_hash_sha256_final(&state, output.baseAddress!.assumingMemoryBound(to: UInt8.self))
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
