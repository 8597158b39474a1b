import SocaiCore
import SocaiState

/// The replay's state tree: the current tree only, held as nodes that point at their
/// children, so an update walks down by position and rewrites the nodes on its path in place.
///
/// Why not the validator's tree (`SparseMerkleTree` over a node source): that reads every node
/// by hash, and a store of the current tree by hash has to remove each replaced node and
/// insert its successor at another, random place. On a 200,000-transfer replay (a tree of
/// about 500,000 nodes, since every transaction leaves its outcome under `tx/<hash>`) those
/// lookups, removals and inserts were a third of the execution thread's time, nearly all of
/// it waiting for memory. Here a node is read once and written back where it was.
///
/// The tree it computes is the one docs/FORMAT.md defines ("State tree (sparse Merkle
/// tree)"): a key alone in a subtree is a leaf at the top of that subtree; a subtree with two
/// or more keys is an internal node over its two halves (one of which may be empty). Being a
/// second implementation, it is also the auditor's own check of the validators' roots; a
/// property test holds it to `SparseMerkleTree` over random batches of sets and deletions.
struct ReplayStateTree {
    /// A subtree: `empty`, an internal node (its index in `internals`, from 0) or a leaf (its
    /// index `i` in `leaves`, written as `-2 - i`).
    typealias Reference = Int32

    /// The empty subtree.
    static let empty: Reference = -1
    /// Most nodes of each kind: indices are 32-bit.
    static let nodesMax = Int(Int32.max) - 2

    /// An internal node, holding its children's hashes beside their references: an update
    /// rehashes each node on its path from both children's hashes, and one of the two is
    /// usually a sibling no change touches. Kept here, that sibling's hash comes with the
    /// node the walk reads anyway, instead of costing a cache miss of its own at every level
    /// below the top of the tree (on the 200,000-transfer replay, 2% of its processor time
    /// went to those misses). A node's own hash is kept by its parent; the root's in `rootHash`.
    private struct Internal {
        var leftHash: Hash
        var rightHash: Hash
        var left: Reference
        var right: Reference
    }

    private struct Leaf {
        var hash: Hash
        var key: Hash
        var valueHash: Hash
    }

    private var internals: [Internal] = []
    private var leaves: [Leaf] = []
    /// Released indices of each kind, reused before an array grows.
    private var freeInternals: [Int32] = []
    private var freeLeaves: [Int32] = []
    private var root: Reference = empty

    /// The root hash: 32 zero bytes for the empty tree.
    private(set) var rootHash: Hash = .zero

    /// Nodes in the tree.
    var nodeCount: Int { internals.count - freeInternals.count + leaves.count - freeLeaves.count }

    /// Applies `changes` (sorted by key, each key once) as one batch and returns the new root.
    mutating func apply(_ changes: [SparseMerkleChange]) -> Hash {
        for index in changes.indices.dropFirst() {
            precondition(changes[index - 1].key < changes[index].key, "replay tree changes must be sorted and distinct")
        }
        (root, rootHash) = update(root, hash: rootHash, depth: 0, changes[...])
        return rootHash
    }

    /// Every leaf's key and value hash in key order, and the number of nodes the root
    /// reaches: for checks (each node is visited once).
    func walk() -> (leaves: [(key: Hash, valueHash: Hash)], reachable: Int) {
        var found: [(key: Hash, valueHash: Hash)] = []
        var reachable = 0
        var stack: [Reference] = root == Self.empty ? [] : [root]
        while let reference = stack.popLast() {
            precondition(reachable < internals.count + leaves.count, "replay tree: a node is reached twice")
            reachable += 1
            if let leaf = Self.leafIndex(reference) {
                found.append((leaves[leaf].key, leaves[leaf].valueHash))
            } else {
                let node = internals[Int(reference)]
                if node.right != Self.empty { stack.append(node.right) }
                if node.left != Self.empty { stack.append(node.left) }
            }
        }
        return (found, reachable)
    }

    // MARK: - Updates

    /// The index in `leaves` of a leaf reference; nil for an internal node or `empty`.
    private static func leafIndex(_ reference: Reference) -> Int? {
        reference <= -2 ? Int(-2 - reference) : nil
    }

    /// The subtree at `depth` that replaces `reference` (whose hash is `hash`) after
    /// `changes`, all of which lie under it, with its hash.
    private mutating func update(
        _ reference: Reference, hash: Hash, depth: Int, _ changes: ArraySlice<SparseMerkleChange>
    ) -> (Reference, Hash) {
        guard !changes.isEmpty else { return (reference, hash) }
        if reference == Self.empty {
            let entries = changes.compactMap { change in
                change.valueHash.map { (key: change.key, valueHash: $0, reuse: Self.empty) }
            }
            return build(entries[...], depth: depth)
        }
        if let leafIndex = Self.leafIndex(reference) {
            let leaf = leaves[leafIndex]
            // The leaf's key joins the changes unless a change names it; the leaf is reused
            // when its key and value survive.
            var entries: [(key: Hash, valueHash: Hash, reuse: Reference)] = []
            entries.reserveCapacity(changes.count + 1)
            var placed = false
            for change in changes {
                if !placed && leaf.key < change.key {
                    entries.append((leaf.key, leaf.valueHash, reference))
                    placed = true
                }
                if change.key == leaf.key {
                    placed = true
                    if let valueHash = change.valueHash {
                        entries.append((change.key, valueHash, valueHash == leaf.valueHash ? reference : Self.empty))
                    }
                } else if let valueHash = change.valueHash {
                    entries.append((change.key, valueHash, Self.empty))
                }
            }
            if !placed { entries.append((leaf.key, leaf.valueHash, reference)) }
            if !entries.contains(where: { $0.reuse == reference }) { release(reference) }
            return build(entries[...], depth: depth)
        }
        precondition(depth < SparseMerkleTree.depthMax, "replay tree: internal node below the last key bit")
        let node = internals[Int(reference)]
        let split = changes.firstIndex { $0.key.storage.bit(depth) == 1 } ?? changes.endIndex
        let (left, leftHash) = update(node.left, hash: node.leftHash, depth: depth + 1, changes[..<split])
        let (right, rightHash) = update(node.right, hash: node.rightHash, depth: depth + 1, changes[split...])
        if let lifted = Self.lone(left, right) {
            release(reference)
            return lifted == left ? (left, leftHash) : (right, rightHash)
        }
        internals[Int(reference)] = Internal(leftHash: leftHash, rightHash: rightHash, left: left, right: right)
        return (reference, SparseMerkleNode.internalHash(left: leftHash, right: rightHash))
    }

    /// The canonical subtree at `depth` holding exactly `entries` (sorted, distinct keys),
    /// with its hash; an entry whose `reuse` is a leaf is that existing leaf.
    private mutating func build(_ entries: ArraySlice<(key: Hash, valueHash: Hash, reuse: Reference)>, depth: Int)
        -> (Reference, Hash)
    {
        guard let first = entries.first else { return (Self.empty, .zero) }
        if entries.count == 1 {
            if let reused = Self.leafIndex(first.reuse) { return (first.reuse, leaves[reused].hash) }
            let hash = SparseMerkleNode.leafHash(key: first.key, valueHash: first.valueHash)
            return (allocate(Leaf(hash: hash, key: first.key, valueHash: first.valueHash)), hash)
        }
        // Two distinct keys differ in some bit, so they part before the last one.
        precondition(depth < SparseMerkleTree.depthMax, "replay tree: two distinct keys agree on all 256 bits")
        let split = entries.firstIndex { $0.key.storage.bit(depth) == 1 } ?? entries.endIndex
        let (left, leftHash) = build(entries[..<split], depth: depth + 1)
        let (right, rightHash) = build(entries[split...], depth: depth + 1)
        // Two or more keys: never a lone leaf here, so always an internal node.
        return (
            allocate(Internal(leftHash: leftHash, rightHash: rightHash, left: left, right: right)),
            SparseMerkleNode.internalHash(left: leftHash, right: rightHash)
        )
    }

    /// What replaces an internal node whose children are now `left` and `right`, when that is
    /// not an internal node: nothing (both empty) or the one leaf, lifted. Nil otherwise: one
    /// key alone is a leaf at the top of its subtree, two or more need the internal node.
    private static func lone(_ left: Reference, _ right: Reference) -> Reference? {
        switch (left == empty, right == empty) {
        case (true, true): return empty
        case (true, false): return leafIndex(right) != nil ? right : nil
        case (false, true): return leafIndex(left) != nil ? left : nil
        case (false, false): return nil
        }
    }

    private mutating func allocate(_ node: Internal) -> Reference {
        if let reused = freeInternals.popLast() {
            internals[Int(reused)] = node
            return reused
        }
        precondition(internals.count < Self.nodesMax, "replay tree over \(Self.nodesMax) internal nodes")
        internals.append(node)
        return Reference(internals.count - 1)
    }

    private mutating func allocate(_ leaf: Leaf) -> Reference {
        if let reused = freeLeaves.popLast() {
            leaves[Int(reused)] = leaf
            return -2 - reused
        }
        precondition(leaves.count < Self.nodesMax, "replay tree over \(Self.nodesMax) leaves")
        leaves.append(leaf)
        return -2 - Reference(leaves.count - 1)
    }

    private mutating func release(_ reference: Reference) {
        if let leaf = Self.leafIndex(reference) {
            precondition(leaf < leaves.count)
            freeLeaves.append(Int32(leaf))
        } else {
            precondition(reference >= 0 && Int(reference) < internals.count)
            freeInternals.append(reference)
        }
    }
}
