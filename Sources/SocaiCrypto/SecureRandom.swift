import CSodium

/// Cryptographically secure random bytes from the operating system, through libsodium.
///
/// Nothing that is replicated or hashed may come from here: consensus and the state
/// machine are deterministic. This is for keys, salts, nonces and handshake challenges.
public enum SecureRandom {
    /// The largest single request, so a caller's bug cannot allocate without bound.
    public static let requestBytesMax = 1 << 20

    /// Returns `count` random bytes.
    public static func bytes(count: Int) -> [UInt8] {
        Sodium.ready
        precondition(count >= 0 && count <= requestBytesMax, "random request out of range")
        var output = [UInt8](repeating: 0, count: count)
        if count > 0 {
            output.withUnsafeMutableBytes { buffer in
                randombytes_buf(buffer.baseAddress!, count)
            }
        }
        return output
    }
}
