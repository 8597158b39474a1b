import SocaiCore

/// A proof that a key holds a value hash in the state tree with a given root, or that it
/// holds nothing (docs/FORMAT.md, "State tree (sparse Merkle tree)").
///
/// The proof follows the key's path from the root down to where the search ended and
/// records the sibling hash at each level, then what was found there: an empty subtree,
/// or a leaf. A leaf with the key itself proves membership. An empty subtree, or a leaf of
/// another key whose path shares the prefix walked so far, proves non-membership: a
/// canonical tree keeps a lone key at the highest level where it is alone, so the asked
/// key would have to sit where that other leaf sits.
public struct SparseMerkleProof: Hashable, Sendable, CanonicalCodable {
    /// What the search found where it ended.
    public enum Terminal: Hashable, Sendable {
        /// An empty subtree (hash `Hash.zero`).
        case empty
        /// A leaf: the asked key (membership) or another key on the same path (non-membership).
        case leaf(key: Hash, valueHash: Hash)
    }

    /// The only proof format version.
    public static let formatVersion: UInt8 = 1
    /// Most siblings a proof may carry: one per key bit, since no path is longer than the key.
    public static let siblingCountMax = SparseMerklePath.keyBits
    /// Terminal kind byte of an empty subtree.
    static let emptyKind: UInt8 = 0
    /// Terminal kind byte of a leaf.
    static let leafKind: UInt8 = 1

    /// Sibling hashes from the root down: `siblings[d]` is the hash of the child of the
    /// depth-`d` node on the path that the path does not enter.
    public let siblings: [Hash]
    /// What the search found after the last sibling.
    public let terminal: Terminal

    /// Creates a proof; at most `siblingCountMax` siblings.
    public init(siblings: [Hash], terminal: Terminal) {
        precondition(siblings.count <= Self.siblingCountMax, "a state proof has at most 256 siblings")
        self.siblings = siblings
        self.terminal = terminal
    }

    /// Whether this proof shows that, in the tree with `root`, `key` holds `valueHash`, or
    /// (when `valueHash` is nil) holds nothing.
    public func verify(root: Hash, key: Hash, valueHash: Hash?) -> Bool {
        let depth = siblings.count
        guard depth <= Self.siblingCountMax else { return false }
        var hash: Hash
        switch (terminal, valueHash) {
        case (.empty, nil):
            hash = .zero
        case (.empty, .some):
            return false  // an empty subtree never proves a value
        case (.leaf(let leafKey, let leafValue), .some(let expected)):
            guard leafKey == key, leafValue == expected else { return false }
            hash = SparseMerkleNode.leafHash(key: leafKey, valueHash: leafValue)
        case (.leaf(let leafKey, let leafValue), nil):
            // Another key's leaf proves absence only if it sits on the asked key's path.
            guard leafKey != key, SparseMerklePath.sharesPrefix(leafKey, key, bits: depth) else { return false }
            hash = SparseMerkleNode.leafHash(key: leafKey, valueHash: leafValue)
        }
        for level in stride(from: depth - 1, through: 0, by: -1) {
            let sibling = siblings[level]
            hash =
                SparseMerklePath.bit(key, level) == 0
                ? SparseMerkleNode.internalHash(left: hash, right: sibling)
                : SparseMerkleNode.internalHash(left: sibling, right: hash)
        }
        return hash == root
    }

    /// Writes the version, the u16 sibling count, the siblings, the terminal kind and, for
    /// a leaf, its key and value hashes.
    public func encode(to writer: inout ByteWriter) {
        writer.write(Self.formatVersion)
        writer.write(UInt16(siblings.count))
        for sibling in siblings { writer.write(sibling) }
        switch terminal {
        case .empty:
            writer.write(Self.emptyKind)
        case .leaf(let key, let valueHash):
            writer.write(Self.leafKind)
            writer.write(key)
            writer.write(valueHash)
        }
    }

    /// Reads a proof, rejecting an unknown version, more than `siblingCountMax` siblings
    /// (before reading them) and an unknown terminal kind.
    public init(from reader: inout ByteReader) throws(FormatError) {
        let version = try reader.readUInt8("state proof version")
        guard version == Self.formatVersion else {
            throw FormatError(.unknownVersion, "state proof version \(version) is not \(Self.formatVersion)")
        }
        let count = Int(try reader.readUInt16("state proof sibling count"))
        guard count <= Self.siblingCountMax else {
            throw FormatError(.overLimit, "state proof has \(count) siblings, the maximum is \(Self.siblingCountMax)")
        }
        var siblings: [Hash] = []
        siblings.reserveCapacity(count)
        for _ in 0..<count { siblings.append(try reader.read(Hash.self)) }
        let kind = try reader.readUInt8("state proof terminal kind")
        switch kind {
        case Self.emptyKind:
            self.init(siblings: siblings, terminal: .empty)
        case Self.leafKind:
            let key = try reader.read(Hash.self)
            let valueHash = try reader.read(Hash.self)
            self.init(siblings: siblings, terminal: .leaf(key: key, valueHash: valueHash))
        default:
            throw FormatError(.invalidValue, "state proof terminal kind must be 0 or 1, got \(kind)")
        }
    }
}
