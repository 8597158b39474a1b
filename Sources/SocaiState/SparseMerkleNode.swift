import SocaiCore

/// One stored node of the state tree (docs/FORMAT.md, "State tree (sparse Merkle tree)"): a leaf binding a key hash to a
/// value hash, or an internal node over two child hashes. Every node is 65 bytes and is
/// stored under its hash, SHA-256 of those bytes.
public enum SparseMerkleNode: Hashable, Sendable, CanonicalCodable {
    /// A key and its value hash: `0x00 ‖ keyHash ‖ valueHash`.
    case leaf(key: Hash, valueHash: Hash)
    /// Two child subtree hashes, either of which may be `Hash.zero` (empty) but not both:
    /// `0x01 ‖ left ‖ right`.
    case `internal`(left: Hash, right: Hash)

    /// The kind byte of a leaf. It differs from the internal kind byte so that a leaf can
    /// never pass as an internal node (second-preimage resistance, as in RFC 6962).
    public static let leafKind: UInt8 = 0x00
    /// The kind byte of an internal node.
    public static let internalKind: UInt8 = 0x01
    /// Length of every node encoding: a kind byte and two hashes.
    public static let byteCount = 1 + 2 * Hash.byteCount

    /// The node's hash: SHA-256 of its 65 bytes, with no domain tag (the kind byte separates).
    /// This runs for every node an update creates, so it goes through SocaiCore's
    /// non-generic `Hash.ofPrefixedPair`.
    public var hash: Hash {
        let (kind, first, second) = parts
        return Hash.ofPrefixedPair(kind, first, second)
    }

    /// Appends the node's 65 canonical bytes to `bytes`: a store writes every node a block
    /// makes this way, without an array per node.
    public func appendCanonicalBytes(to bytes: inout [UInt8]) {
        let (kind, first, second) = parts
        bytes.append(kind)
        first.append(to: &bytes)
        second.append(to: &bytes)
    }

    /// The kind byte and the two hashes, in encoding order.
    private var parts: (kind: UInt8, first: Hash, second: Hash) {
        switch self {
        case .leaf(let key, let valueHash): return (Self.leafKind, key, valueHash)
        case .internal(let left, let right): return (Self.internalKind, left, right)
        }
    }

    /// Writes the kind byte and the two hashes.
    public func encode(to writer: inout ByteWriter) {
        let (kind, first, second) = parts
        writer.write(kind)
        writer.write(first)
        writer.write(second)
    }

    /// Reads a node, rejecting an unknown kind byte and an internal node with two empty
    /// children (a canonical tree never holds one: an empty subtree has no node).
    public init(from reader: inout ByteReader) throws(FormatError) {
        let kind = try reader.readUInt8("state tree node kind")
        let first = try reader.read(Hash.self)
        let second = try reader.read(Hash.self)
        switch kind {
        case Self.leafKind:
            self = .leaf(key: first, valueHash: second)
        case Self.internalKind:
            guard first != .zero || second != .zero else {
                throw FormatError(.invalidValue, "state tree internal node has two empty children")
            }
            self = .internal(left: first, right: second)
        default:
            throw FormatError(.invalidValue, "state tree node kind must be 0 or 1, got \(kind)")
        }
    }

    /// The hash of the leaf node binding `key` to `valueHash`.
    public static func leafHash(key: Hash, valueHash: Hash) -> Hash {
        SparseMerkleNode.leaf(key: key, valueHash: valueHash).hash
    }

    /// The hash of the internal node over `left` and `right`.
    public static func internalHash(left: Hash, right: Hash) -> Hash {
        SparseMerkleNode.internal(left: left, right: right).hash
    }
}

/// Bit arithmetic on 256-bit keys: bit 0 is the most significant bit of byte 0, and bit
/// `depth` of a key chooses the child at that depth (0 = left, 1 = right).
enum SparseMerklePath {
    /// Number of bits in a key, and so the deepest level a leaf can sit at.
    static let keyBits = Hash.byteCount * 8

    /// Bit `index` of `key` (0 or 1).
    @inline(__always)
    static func bit(_ key: Hash, _ index: Int) -> UInt8 { key.storage.bit(index) }

    /// `key` with bit `index` set to `value` (0 or 1): a key on the path of that child.
    static func settingBit(_ key: Hash, _ index: Int, to value: UInt8) -> Hash {
        Hash(storage: key.storage.settingBit(index, to: value))
    }

    /// Whether the first `count` bits of `first` and `second` are equal.
    static func sharesPrefix(_ first: Hash, _ second: Hash, bits count: Int) -> Bool {
        precondition(count >= 0 && count <= keyBits, "prefix of \(count) bits out of range")
        return first.storage.commonPrefixBits(with: second.storage) >= count
    }
}

/// Where a store keeps a state-tree node: its hash, and its location, which packs the
/// version of the tree update that wrote it (a validator's store uses the block height)
/// with the node's ordinal among that update's nodes. A store keyed by location writes each
/// update's nodes at increasing keys, appended side by side, instead of at random places as
/// hash-ordered storage would. Locations are storage only: nothing hashed or signed
/// contains one.
public struct SparseMerkleNodeReference: Hashable, Sendable {
    /// The node's hash, which the tree checks the stored bytes against.
    public let hash: Hash
    /// Where the node is stored (`SparseMerkleNodeLocation`).
    public let location: UInt64

    /// A reference to the node `hash` stored at `location`.
    public init(hash: Hash, location: UInt64) {
        self.hash = hash
        self.location = location
    }

    /// The empty tree's root: it has no node, so its location is never read.
    public static let empty = SparseMerkleNodeReference(hash: .zero, location: 0)
}

/// Node locations: version × 2^28 + ordinal, one integer that fits SQLite's signed 64 bits.
/// An update numbers its nodes 0, 1, 2, … in the order it made them (children before
/// parents), and versions only grow, so a node's location is always above its children's.
public enum SparseMerkleNodeLocation {
    /// Bits of a location that hold the ordinal.
    public static let ordinalBits = 28
    /// Most nodes one update may make (2^28): a block of 10,000 transactions makes a few
    /// hundred thousand.
    public static let ordinalsPerVersionMax: UInt64 = 1 << ordinalBits
    /// Highest version a location can hold (2^35 − 1): a height a chain of one block per
    /// second reaches after a thousand years.
    public static let versionMax: UInt64 = (1 << (63 - ordinalBits)) - 1

    /// The location of the node numbered `ordinal` among those the update of `version` made.
    public static func location(version: UInt64, ordinal: UInt64) -> UInt64 {
        precondition(version <= versionMax, "state tree version \(version) above \(versionMax)")
        precondition(ordinal < ordinalsPerVersionMax, "more than \(ordinalsPerVersionMax) nodes in one update")
        return version << UInt64(ordinalBits) | ordinal
    }

    /// The version of the update that wrote the node at `location`.
    public static func version(of location: UInt64) -> UInt64 { location >> UInt64(ordinalBits) }

    /// The ordinal of the node at `location` among those its update made.
    public static func ordinal(of location: UInt64) -> UInt64 { location & (ordinalsPerVersionMax - 1) }
}

/// A node as a store keeps it: the node, and for an internal node its children's locations,
/// so that a walk from the root reads each child by its place. A leaf's child locations, and
/// an empty child's, are 0.
public struct SparseMerkleStoredNode: Hashable, Sendable {
    /// The node.
    public let node: SparseMerkleNode
    /// Where the left child is stored.
    public let leftLocation: UInt64
    /// Where the right child is stored.
    public let rightLocation: UInt64

    /// A stored node; a leaf's child locations must be 0.
    public init(_ node: SparseMerkleNode, leftLocation: UInt64 = 0, rightLocation: UInt64 = 0) {
        if case .leaf = node { precondition(leftLocation == 0 && rightLocation == 0, "a leaf has no children") }
        self.node = node
        self.leftLocation = leftLocation
        self.rightLocation = rightLocation
    }

    /// The node's 65 bytes with its children's locations, as a store returns them.
    public var storedBytes: SparseMerkleStoredBytes {
        SparseMerkleStoredBytes(node.canonicalBytes, leftLocation: leftLocation, rightLocation: rightLocation)
    }
}
