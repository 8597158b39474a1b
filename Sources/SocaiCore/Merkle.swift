import SocaiCrypto

/// The binary Merkle tree of RFC 6962 §2.1 (Certificate Transparency), over SHA-256.
///
/// leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right); the root of
/// no leaves is SHA-256 of the empty string; for n > 1 leaves the left subtree holds the
/// first k leaves, k the largest power of two smaller than n. The prefixes keep a leaf from
/// ever being mistaken for an interior node (second-preimage resistance).
public enum Merkle {
    /// Hash of one leaf. The prefix and the leaf go to the hash one after the other, not
    /// joined in a new array first: every block hashes each of its transactions this way on
    /// every validator and in every replay.
    public static func leafHash(_ leaf: [UInt8]) -> Hash {
        var hasher = SHA256.Hasher()
        withUnsafeBytes(of: UInt8(0x00)) { hasher.update($0) }
        leaf.withUnsafeBytes { hasher.update($0) }
        return Hash(storage: Bytes32 { hasher.finalize(into: $0) })
    }

    /// Hash of an interior node: its 65 bytes laid out on the stack, not in new arrays.
    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        Hash.ofPrefixedPair(0x01, left, right)
    }

    /// The root over `leaves`, in order.
    public static func root(leaves: [[UInt8]]) -> Hash {
        root(leafHashes: leaves.map(leafHash))
    }

    /// The root over already-computed leaf hashes, in order.
    public static func root(leafHashes: [Hash]) -> Hash {
        if leafHashes.isEmpty { return Hash.sha256([]) }
        return subtreeRoot(leafHashes[...])
    }

    private static func subtreeRoot(_ hashes: ArraySlice<Hash>) -> Hash {
        if hashes.count == 1 { return hashes.first! }
        let split = largestPowerOfTwo(below: hashes.count)
        let middle = hashes.startIndex + split
        return nodeHash(subtreeRoot(hashes[..<middle]), subtreeRoot(hashes[middle...]))
    }

    /// The largest power of two strictly smaller than `count` (count ≥ 2).
    static func largestPowerOfTwo(below count: Int) -> Int {
        precondition(count >= 2)
        var power = 1
        while power << 1 < count { power <<= 1 }
        return power
    }
}
