import SocaiCore

/// Where a state tree reads its nodes: a content-addressed store of node bytes by node hash.
///
/// The tree never trusts what a source returns: it checks that the bytes hash to the hash
/// asked for and decode as a node before using them.
public protocol SparseMerkleNodeSource {
    /// The bytes of the node whose hash is `hash`, or nil if the source does not hold it.
    func node(_ hash: Hash) throws(StateError) -> [UInt8]?

    /// The node `hash` in decoded form, when the source holds it that way because it was
    /// already checked: made by an update in this process, or read from storage and checked
    /// then. Nil sends the tree to `node(_:)`, whose bytes it hashes and decodes before use.
    /// Hashing every node again on every read was a third of executing a block.
    func checkedNode(_ hash: Hash) -> SparseMerkleNode?
}

extension SparseMerkleNodeSource {
    /// No node is held in checked form: every read goes through `node(_:)` and its checks.
    public func checkedNode(_ hash: Hash) -> SparseMerkleNode? { nil }
}

/// A node source held in memory, for tests, tools and benchmarks.
public final class InMemorySparseMerkleNodes: SparseMerkleNodeSource {
    /// Every node held, by hash. Nothing is ever removed, so every root ever stored stays readable.
    public private(set) var nodes: [Hash: [UInt8]]

    /// Creates a source holding `nodes`, which are not checked here: the tree checks each
    /// node when it reads it.
    public init(_ nodes: [Hash: [UInt8]] = [:]) {
        self.nodes = nodes
    }

    /// Number of nodes held.
    public var count: Int { nodes.count }

    /// Adds the nodes of an update. A node already held is kept: content addressing makes
    /// the two copies identical.
    public func insert(_ newNodes: [Hash: [UInt8]]) {
        nodes.merge(newNodes) { current, _ in current }
    }

    /// Adds the nodes of an update, as their bytes.
    public func insert(_ newNodes: [Hash: SparseMerkleNode]) {
        for (hash, node) in newNodes where nodes[hash] == nil { nodes[hash] = node.canonicalBytes }
    }

    /// The bytes stored under `hash`, if any.
    public func node(_ hash: Hash) -> [UInt8]? { nodes[hash] }
}

/// One change to the state tree: set `key` to `valueHash`, or delete it when `valueHash` is nil.
public struct SparseMerkleChange: Hashable, Sendable {
    /// The key (a hash of the caller's state key).
    public let key: Hash
    /// The new value hash, or nil to delete the key.
    public let valueHash: Hash?

    /// Creates a change.
    public init(key: Hash, valueHash: Hash?) {
        self.key = key
        self.valueHash = valueHash
    }
}

/// The result of applying a batch of changes: the new root and the nodes to persist.
public struct SparseMerkleUpdate: Equatable, Sendable {
    /// The root of the tree after the changes.
    public let root: Hash
    /// Every node of the new tree that the old tree did not have, in the order the update
    /// made them (a deterministic walk: children before parents, left before right). Each
    /// appears once. The caller persists them; no old node is deleted, so the old root stays
    /// readable. A node may equal one of an older version (a value set back to an earlier
    /// value): persisting is idempotent because nodes are stored under their own hash.
    public let createdNodes: [SparseMerkleNodeEntry]
    /// Every node of the old tree that the new tree no longer has, each once, in the order
    /// the update read them. A store that keeps only the latest tree deletes exactly these
    /// (what a validator that prunes old roots would do); a store that keeps old roots
    /// readable, as `StateDatabase` does, ignores them.
    public let staleNodes: [Hash]

    /// Creates an update result.
    public init(root: Hash, createdNodes: [SparseMerkleNodeEntry], staleNodes: [Hash] = []) {
        self.root = root
        self.createdNodes = createdNodes
        self.staleNodes = staleNodes
    }

    /// The created nodes by hash.
    public var nodes: [Hash: SparseMerkleNode] {
        Dictionary(createdNodes.map { ($0.hash, $0.node) }, uniquingKeysWith: { first, _ in first })
    }
}

/// The authenticated state map: a sparse Merkle tree over 256-bit keys, with a lone key
/// lifted to the highest level where it is alone, as in Diem's Jellyfish Merkle tree
/// (docs/FORMAT.md, "State tree (sparse Merkle tree)").
///
/// The tree is a value: a root hash and a place to read nodes from. Updating it does not
/// write anything; it returns the new root and the new nodes for the caller to persist.
/// Every operation reads O(depth) nodes per key it touches, never the whole tree.
public struct SparseMerkleTree {
    /// The root of the tree with no keys: the empty subtree's hash, 32 zero bytes.
    public static let emptyRoot = Hash.zero
    /// Deepest level of any node: a leaf can sit at most one level per key bit below the root.
    public static let depthMax = SparseMerklePath.keyBits

    /// The root hash this tree is read at.
    public let root: Hash
    /// Where the nodes are read from.
    public let nodes: any SparseMerkleNodeSource

    /// The tree with `root`, reading from `nodes`. Nothing is read until a query.
    public init(root: Hash = SparseMerkleTree.emptyRoot, nodes: any SparseMerkleNodeSource) {
        self.root = root
        self.nodes = nodes
    }

    /// The value hash `key` holds, or nil if it holds none.
    public func valueHash(for key: Hash) throws(StateError) -> Hash? {
        var siblings: [Hash] = []
        guard case .leaf(let leafKey, let valueHash) = try search(key, siblings: &siblings), leafKey == key else {
            return nil
        }
        return valueHash
    }

    /// A membership proof when `key` holds a value, a non-membership proof otherwise.
    public func proof(for key: Hash) throws(StateError) -> SparseMerkleProof {
        var siblings: [Hash] = []
        let terminal = try search(key, siblings: &siblings)
        return SparseMerkleProof(siblings: siblings, terminal: terminal)
    }

    /// Applies `changes` as one batch and returns the new root and the new nodes.
    ///
    /// The changes are sorted by key first, so the result does not depend on their order;
    /// two changes to the same key are an `invalidArgument` error. Deleting an absent key
    /// changes nothing.
    public func updating(_ changes: [SparseMerkleChange]) throws(StateError) -> SparseMerkleUpdate {
        let sorted = changes.sorted { $0.key < $1.key }
        for index in sorted.indices.dropFirst() where sorted[index - 1].key == sorted[index].key {
            throw StateError(.invalidArgument, "state tree update changes key \(sorted[index].key) twice")
        }
        var updater = SparseMerkleUpdater(tree: self)
        let newRoot = try updater.apply(root, depth: 0, alone: false, sorted[...]).hash
        return SparseMerkleUpdate(root: newRoot, createdNodes: updater.created, staleNodes: updater.stale)
    }

    /// Walks from the root along `key`'s path, appending each sibling hash, and returns
    /// what the walk ended on.
    private func search(_ key: Hash, siblings: inout [Hash]) throws(StateError) -> SparseMerkleProof.Terminal {
        var hash = root
        var depth = 0
        var alone = false
        while hash != .zero {
            precondition(depth <= Self.depthMax, "state tree walk below depth 256")
            switch try readNode(hash, depth: depth, path: key, alone: alone) {
            case .leaf(let leafKey, let valueHash):
                return .leaf(key: leafKey, valueHash: valueHash)
            case .internal(let left, let right):
                let (next, sibling) = SparseMerklePath.bit(key, depth) == 0 ? (left, right) : (right, left)
                siblings.append(sibling)
                alone = sibling == .zero
                hash = next
                depth += 1
            }
        }
        return .empty
    }

    /// Reads the node `hash` that sits at `depth` on the path of `pathKey` and checks it
    /// right away: the bytes must hash to `hash` and decode as a node; a leaf must lie on
    /// the path (share its first `depth` bits) and must not be the lone child of an internal
    /// node (`alone`: a canonical tree lifts such a leaf); an internal node must leave room
    /// for its children above depth 256. Anything else is corrupt storage.
    fileprivate func readNode(_ hash: Hash, depth: Int, path pathKey: Hash, alone: Bool) throws(StateError)
        -> SparseMerkleNode
    {
        precondition(hash != .zero, "the empty subtree has no node to read")
        precondition(depth >= 0 && depth <= Self.depthMax, "state tree node depth \(depth) out of range")
        let node: SparseMerkleNode
        if let checked = nodes.checkedNode(hash) { node = checked } else { node = try decodedNode(hash, depth: depth) }
        switch node {
        case .leaf(let leafKey, _):
            guard SparseMerklePath.sharesPrefix(leafKey, pathKey, bits: depth) else {
                throw StateError(.corrupt, "state tree leaf \(hash) for key \(leafKey) is off its path at depth \(depth)")
            }
            guard !alone else {
                throw StateError(.corrupt, "state tree leaf \(hash) is the only child of an internal node")
            }
        case .internal:
            guard depth < Self.depthMax else {
                throw StateError(.corrupt, "state tree internal node \(hash) at depth \(depth), below the last key bit")
            }
        }
        return node
    }

    /// Reads the bytes of node `hash` from the source and checks that they hash to `hash`
    /// and decode as a node.
    private func decodedNode(_ hash: Hash, depth: Int) throws(StateError) -> SparseMerkleNode {
        guard let bytes = try nodes.node(hash) else {
            throw StateError(.corrupt, "state tree node \(hash) (depth \(depth)) is missing")
        }
        let actual = Hash.sha256(bytes)
        guard actual == hash else {
            throw StateError(.corrupt, "state tree node \(hash) read back as bytes hashing to \(actual)")
        }
        do throws(FormatError) {
            // Not `init(canonicalBytes:)`, which names the type for its error message with a
            // runtime type lookup on every call: this runs for every node read.
            var reader = ByteReader(bytes)
            let node = try SparseMerkleNode(from: &reader)
            try reader.expectEnd("state tree node")
            return node
        } catch {
            throw StateError(.corrupt, "state tree node \(hash): \(error.message)")
        }
    }
}

/// A subtree during an update: known to be empty, a leaf or an internal node, or an
/// unchanged subtree whose node has not been read (reading it would cost a node read that
/// is only needed if its sibling becomes empty).
private enum SparseMerkleSubtree {
    case empty
    case leaf(key: Hash, valueHash: Hash, hash: Hash)
    case `internal`(Hash)
    case unread(Hash)

    var hash: Hash {
        switch self {
        case .empty: return .zero
        case .leaf(_, _, let hash), .internal(let hash), .unread(let hash): return hash
        }
    }
}

/// A key and value to place while building a subtree; `stored` when the leaf already
/// exists in the old tree (a leaf's hash does not depend on its depth, so moving it up or
/// down creates no node).
private struct SparseMerkleEntry {
    let key: Hash
    let valueHash: Hash
    let stored: Bool
}

/// One batch update: walks the old tree only along the changed keys' paths and records
/// every node it creates.
private struct SparseMerkleUpdater {
    let tree: SparseMerkleTree
    /// Nodes created so far, in creation order, so a subtree that comes out unchanged can
    /// take its nodes back.
    var created: [SparseMerkleNodeEntry] = []
    /// Old nodes the update replaced so far, with the same take-back rule as `created`.
    /// Only a node `apply` read can go stale: an unread subtree is kept whole, and a node
    /// read to lift it keeps its hash (a leaf's hash does not depend on its depth; an
    /// internal node is never moved, only given a new parent).
    var stale: [Hash] = []

    init(tree: SparseMerkleTree) { self.tree = tree }

    /// The subtree that replaces `existing` (at `depth`) after `changes`, which are sorted,
    /// distinct, and all on `existing`'s path.
    mutating func apply(_ existing: Hash, depth: Int, alone: Bool, _ changes: ArraySlice<SparseMerkleChange>)
        throws(StateError) -> SparseMerkleSubtree
    {
        guard let pathKey = changes.first?.key else {
            return existing == .zero ? .empty : .unread(existing)
        }
        let mark = created.count
        let staleMark = stale.count
        let result: SparseMerkleSubtree
        if existing == .zero {
            let entries = changes.compactMap { change in
                change.valueHash.map { SparseMerkleEntry(key: change.key, valueHash: $0, stored: false) }
            }
            result = try build(entries[...], depth: depth, path: pathKey)
        } else {
            switch try tree.readNode(existing, depth: depth, path: pathKey, alone: alone) {
            case .leaf(let key, let valueHash):
                let entries = Self.merge(leafKey: key, leafValueHash: valueHash, changes)
                // The old leaf survives, unchanged and perhaps deeper, only as a stored entry.
                if !entries.contains(where: \.stored) { stale.append(existing) }
                result = try build(entries[...], depth: depth, path: pathKey)
            case .internal(let left, let right):
                let split = changes.firstIndex { SparseMerklePath.bit($0.key, depth) == 1 } ?? changes.endIndex
                let newLeft = try apply(left, depth: depth + 1, alone: right == .zero, changes[..<split])
                let newRight = try apply(right, depth: depth + 1, alone: left == .zero, changes[split...])
                result = try combine(newLeft, newRight, depth: depth, path: pathKey)
                if result.hash != existing { stale.append(existing) }
            }
        }
        // An unchanged hash means an unchanged subtree: every node just made already exists,
        // and none went stale.
        if result.hash == existing {
            created.removeSubrange(mark...)
            stale.removeSubrange(staleMark...)
        }
        return result
    }

    /// The entries of a subtree that held only the leaf `leafKey` before `changes`, sorted.
    static func merge(leafKey: Hash, leafValueHash: Hash, _ changes: ArraySlice<SparseMerkleChange>)
        -> [SparseMerkleEntry]
    {
        var entries: [SparseMerkleEntry] = []
        entries.reserveCapacity(changes.count + 1)
        var leafPlaced = false
        for change in changes {
            if !leafPlaced && leafKey < change.key {
                entries.append(SparseMerkleEntry(key: leafKey, valueHash: leafValueHash, stored: true))
                leafPlaced = true
            }
            if change.key == leafKey { leafPlaced = true }
            if let valueHash = change.valueHash {
                let stored = change.key == leafKey && valueHash == leafValueHash
                entries.append(SparseMerkleEntry(key: change.key, valueHash: valueHash, stored: stored))
            }
        }
        if !leafPlaced { entries.append(SparseMerkleEntry(key: leafKey, valueHash: leafValueHash, stored: true)) }
        return entries
    }

    /// The canonical subtree at `depth` holding exactly `entries` (sorted, distinct keys).
    mutating func build(_ entries: ArraySlice<SparseMerkleEntry>, depth: Int, path pathKey: Hash) throws(StateError)
        -> SparseMerkleSubtree
    {
        guard let first = entries.first else { return .empty }
        if entries.count == 1 {
            let node = SparseMerkleNode.leaf(key: first.key, valueHash: first.valueHash)
            let hash = first.stored ? node.hash : emit(node)
            return .leaf(key: first.key, valueHash: first.valueHash, hash: hash)
        }
        // Two distinct keys differ in some bit, so they part before the last one.
        precondition(depth < SparseMerkleTree.depthMax, "two distinct keys agree on all 256 bits")
        let split = entries.firstIndex { SparseMerklePath.bit($0.key, depth) == 1 } ?? entries.endIndex
        let left = try build(entries[..<split], depth: depth + 1, path: pathKey)
        let right = try build(entries[split...], depth: depth + 1, path: pathKey)
        return try combine(left, right, depth: depth, path: pathKey)
    }

    /// The subtree at `depth` with children `left` and `right`: empty if both are, the one
    /// leaf lifted if the other is empty, otherwise a new internal node.
    mutating func combine(_ left: SparseMerkleSubtree, _ right: SparseMerkleSubtree, depth: Int, path pathKey: Hash)
        throws(StateError) -> SparseMerkleSubtree
    {
        switch (left, right) {
        case (.empty, .empty):
            return .empty
        case (.empty, _):
            return try lift(right, side: 1, depth: depth, path: pathKey)
        case (_, .empty):
            return try lift(left, side: 0, depth: depth, path: pathKey)
        default:
            return .internal(emit(.internal(left: left.hash, right: right.hash)))
        }
    }

    /// The subtree at `depth` whose only non-empty child is `child`, on `side` (0 left, 1 right).
    mutating func lift(_ child: SparseMerkleSubtree, side: UInt8, depth: Int, path pathKey: Hash) throws(StateError)
        -> SparseMerkleSubtree
    {
        let childHash: Hash
        switch child {
        case .empty:
            preconditionFailure("lift called with an empty child")
        case .leaf:
            return child
        case .internal(let hash):
            childHash = hash
        case .unread(let hash):
            // The unchanged side of a subtree whose other side emptied: if it is a lone leaf,
            // it moves up. This is the one read an update makes off the changed paths.
            let childPath = SparseMerklePath.settingBit(pathKey, depth, to: side)
            let node = try tree.readNode(hash, depth: depth + 1, path: childPath, alone: false)
            if case .leaf(let key, let valueHash) = node { return .leaf(key: key, valueHash: valueHash, hash: hash) }
            childHash = hash
        }
        let node: SparseMerkleNode =
            side == 0 ? .internal(left: childHash, right: .zero) : .internal(left: .zero, right: childHash)
        return .internal(emit(node))
    }

    /// Records a new node and returns its hash.
    mutating func emit(_ node: SparseMerkleNode) -> Hash {
        let hash = node.hash
        created.append(SparseMerkleNodeEntry(hash: hash, node: node))
        return hash
    }
}
