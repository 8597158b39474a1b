import CSodium

/// Initializes libsodium exactly once, before any primitive is used.
///
/// Swift initializes global constants lazily and thread-safely, so every entry point
/// of this module evaluates `Sodium.ready` first and `sodium_init` runs once per process.
enum Sodium {
    static let ready: Void = {
        // sodium_init returns 0 on success, 1 when already initialized, -1 on failure.
        // A process that cannot initialize its crypto library must not continue.
        let status = sodium_init()
        precondition(status >= 0, "sodium_init failed: libsodium cannot be used")
    }()
}

/// Overwrites `bytes` with zeros in a way the compiler may not optimize away.
public func secureWipe(_ bytes: inout [UInt8]) {
    Sodium.ready
    let count = bytes.count
    bytes.withUnsafeMutableBytes { buffer in
        if let base = buffer.baseAddress { sodium_memzero(base, count) }
    }
}

/// Compares two byte strings in time that does not depend on where they differ.
public func constantTimeEqual(_ left: [UInt8], _ right: [UInt8]) -> Bool {
    Sodium.ready
    guard left.count == right.count else { return false }
    if left.isEmpty { return true }
    return left.withUnsafeBytes { leftBuffer in
        right.withUnsafeBytes { rightBuffer in
            sodium_memcmp(leftBuffer.baseAddress!, rightBuffer.baseAddress!, left.count) == 0
        }
    }
}
