import CLibcrypto
import CSodium

/// SHA-256 (FIPS 180-4) through OpenSSL's libcrypto.
///
/// Why not libsodium, which does everything else here: its SHA-256 is portable C with no path
/// for the CPU's SHA extensions (SHA-NI). Hashing is most of what executing a block costs
/// besides signatures (every state-tree node a block changes, every key and value it writes),
/// and a 65-byte node took 0.80–0.97 µs through libsodium against 0.14–0.16 µs through
/// libcrypto on this project's machines (docs/ARCHITECTURE.md). libcrypto picks its code for
/// the CPU at run time, so a CPU without SHA-NI still gets the same digests.
///
/// Only public data is hashed here; every secret (signing keys, the keystore's cipher and
/// key derivation) stays with libsodium. libsodium's SHA-256 remains as the reference the
/// tests compare against (`referenceDigest`).
public enum SHA256 {
    /// Length of a digest in bytes.
    public static let digestBytes = Int(SHA256_DIGEST_LENGTH)

    /// Returns the 32-byte digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: digestBytes)
        bytes.withUnsafeBytes { input in
            digest.withUnsafeMutableBytes { output in hash(input, into: output) }
        }
        return digest
    }

    /// Writes the 32-byte digest of `input` into `output`, which must hold exactly 32 bytes.
    /// No allocation: the hot paths (state tree nodes, keys, values) hash into inline storage.
    public static func hash(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        var hasher = Hasher()
        hasher.update(input)
        hasher.finalize(into: output)
    }

    /// Returns the digest of the concatenation of `parts`, without concatenating them.
    public static func hash(parts: [[UInt8]]) -> [UInt8] {
        var hasher = Hasher()
        for part in parts { hasher.update(part) }
        return hasher.finalize()
    }

    /// libsodium's digest of `input`: the independent implementation the tests check
    /// `hash` against, byte for byte.
    static func referenceDigest(_ input: [UInt8]) -> [UInt8] {
        Sodium.ready
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        input.withUnsafeBufferPointer { bytes in
            digest.withUnsafeMutableBufferPointer { output in
                _ = crypto_hash_sha256(output.baseAddress!, bytes.baseAddress, UInt64(bytes.count))
            }
        }
        return digest
    }

    /// An incremental SHA-256 computation. Its state is a plain value on the stack: no
    /// allocation, and no sharing between threads.
    public struct Hasher {
        private var context = SHA256_CTX()

        /// Starts a new digest computation.
        public init() {
            // Initialisation only writes the constants of FIPS 180-4 §5.3.3; it cannot fail.
            let started = SHA256_Init(&context)
            precondition(started == 1, "SHA-256 initialisation failed")
        }

        /// Feeds `bytes` into the digest.
        public mutating func update(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { update($0) }
        }

        /// Feeds the bytes of `input` into the digest.
        public mutating func update(_ input: UnsafeRawBufferPointer) {
            guard let base = input.baseAddress, input.count > 0 else { return }
            let updated = SHA256_Update(&context, base, input.count)
            precondition(updated == 1, "SHA-256 update failed")
        }

        /// Writes the digest of everything fed so far into `output`, exactly 32 bytes.
        public mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
            precondition(output.count == SHA256.digestBytes, "a SHA-256 digest is 32 bytes")
            let finished = SHA256_Final(output.baseAddress!.assumingMemoryBound(to: UInt8.self), &context)
            precondition(finished == 1, "SHA-256 finalisation failed")
        }

        /// Returns the digest of everything fed so far.
        public mutating func finalize() -> [UInt8] {
            var digest = [UInt8](repeating: 0, count: SHA256.digestBytes)
            digest.withUnsafeMutableBytes { finalize(into: $0) }
            return digest
        }
    }
}
