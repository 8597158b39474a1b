/// The binary Merkle tree of RFC 6962 §2.1 (Certificate Transparency), over SHA-256.
///
/// leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right); the root of
/// no leaves is SHA-256 of the empty string; for n > 1 leaves the left subtree holds the
/// first k leaves, k the largest power of two smaller than n. The prefixes keep a leaf from
/// ever being mistaken for an interior node (second-preimage resistance).
public enum Merkle {
    /// Hash of one leaf.
    public static func leafHash(_ leaf: [UInt8]) -> Hash { Hash.sha256([0x00] + leaf) }

    /// Hash of an interior node.
    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        Hash.sha256([0x01] + left.bytes + right.bytes)
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
