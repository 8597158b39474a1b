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
    /// Index of a node in `nodes`, or `empty`.
    typealias Reference = Int32

    /// The empty subtree.
    static let empty: Reference = -1
    /// Marks a leaf in `Node.left` (an internal node's children are `empty` or an index).
    static let leafMark: Reference = -2
    /// Most nodes the arena may hold: its indices are 32-bit.
    static let nodesMax = Int(Int32.max)

    private struct Node {
        /// The node's hash, kept up to date by every update that passes through it.
        var hash: Hash
        /// The left child, or `leafMark` for a leaf.
        var left: Reference
        /// The right child (internal nodes only).
        var right: Reference
        /// The key and value hash (leaves only).
        var key: Hash
        var valueHash: Hash

        var isLeaf: Bool { left == ReplayStateTree.leafMark }
    }

    private var nodes: [Node] = []
    /// Indices of released nodes, reused before the arena grows.
    private var free: [Reference] = []
    private var root: Reference = empty

    /// The root hash: 32 zero bytes for the empty tree.
    var rootHash: Hash { hash(of: root) }

    /// Nodes in the tree.
    var nodeCount: Int { nodes.count - free.count }

    /// Applies `changes` (sorted by key, each key once) as one batch and returns the new root.
    mutating func apply(_ changes: [SparseMerkleChange]) -> Hash {
        for index in changes.indices.dropFirst() {
            precondition(changes[index - 1].key < changes[index].key, "replay tree changes must be sorted and distinct")
        }
        root = update(root, depth: 0, changes[...])
        return rootHash
    }

    /// Every leaf's key and value hash in key order, and the number of nodes the root
    /// reaches: for checks (each node is visited once).
    func walk() -> (leaves: [(key: Hash, valueHash: Hash)], reachable: Int) {
        var leaves: [(key: Hash, valueHash: Hash)] = []
        var reachable = 0
        var stack: [Reference] = root == Self.empty ? [] : [root]
        while let reference = stack.popLast() {
            precondition(reachable < nodes.count, "replay tree: a node is reached twice")
            reachable += 1
            let node = nodes[Int(reference)]
            if node.isLeaf {
                leaves.append((node.key, node.valueHash))
            } else {
                if node.right != Self.empty { stack.append(node.right) }
                if node.left != Self.empty { stack.append(node.left) }
            }
        }
        return (leaves, reachable)
    }

    // MARK: - Updates

    private func hash(of reference: Reference) -> Hash {
        reference == Self.empty ? .zero : nodes[Int(reference)].hash
    }

    /// The subtree at `depth` that replaces `reference` after `changes`, all of which lie under it.
    private mutating func update(_ reference: Reference, depth: Int, _ changes: ArraySlice<SparseMerkleChange>)
        -> Reference
    {
        guard !changes.isEmpty else { return reference }
        if reference == Self.empty {
            let entries = changes.compactMap { change in
                change.valueHash.map { (key: change.key, valueHash: $0, reuse: Self.empty) }
            }
            return build(entries[...], depth: depth)
        }
        let node = nodes[Int(reference)]
        if node.isLeaf {
            // The leaf's key joins the changes unless a change names it; the leaf's node is
            // reused when its key and value survive.
            var entries: [(key: Hash, valueHash: Hash, reuse: Reference)] = []
            entries.reserveCapacity(changes.count + 1)
            var placed = false
            for change in changes {
                if !placed && node.key < change.key {
                    entries.append((node.key, node.valueHash, reference))
                    placed = true
                }
                if change.key == node.key {
                    placed = true
                    if let valueHash = change.valueHash {
                        entries.append((change.key, valueHash, valueHash == node.valueHash ? reference : Self.empty))
                    }
                } else if let valueHash = change.valueHash {
                    entries.append((change.key, valueHash, Self.empty))
                }
            }
            if !placed { entries.append((node.key, node.valueHash, reference)) }
            if !entries.contains(where: { $0.reuse == reference }) { release(reference) }
            return build(entries[...], depth: depth)
        }
        precondition(depth < SparseMerkleTree.depthMax, "replay tree: internal node below the last key bit")
        let split = changes.firstIndex { $0.key.storage.bit(depth) == 1 } ?? changes.endIndex
        let left = update(node.left, depth: depth + 1, changes[..<split])
        let right = update(node.right, depth: depth + 1, changes[split...])
        if let lifted = lone(left, right) {
            release(reference)
            return lifted
        }
        nodes[Int(reference)].left = left
        nodes[Int(reference)].right = right
        nodes[Int(reference)].hash = SparseMerkleNode.internalHash(left: hash(of: left), right: hash(of: right))
        return reference
    }

    /// The canonical subtree at `depth` holding exactly `entries` (sorted, distinct keys);
    /// an entry whose `reuse` is a node is that existing leaf.
    private mutating func build(_ entries: ArraySlice<(key: Hash, valueHash: Hash, reuse: Reference)>, depth: Int)
        -> Reference
    {
        guard let first = entries.first else { return Self.empty }
        if entries.count == 1 {
            if first.reuse != Self.empty { return first.reuse }
            return allocate(
                Node(
                    hash: SparseMerkleNode.leafHash(key: first.key, valueHash: first.valueHash), left: Self.leafMark,
                    right: Self.empty, key: first.key, valueHash: first.valueHash))
        }
        // Two distinct keys differ in some bit, so they part before the last one.
        precondition(depth < SparseMerkleTree.depthMax, "replay tree: two distinct keys agree on all 256 bits")
        let split = entries.firstIndex { $0.key.storage.bit(depth) == 1 } ?? entries.endIndex
        let left = build(entries[..<split], depth: depth + 1)
        let right = build(entries[split...], depth: depth + 1)
        // Two or more keys: never a lone leaf here, so always an internal node.
        return allocate(
            Node(
                hash: SparseMerkleNode.internalHash(left: hash(of: left), right: hash(of: right)), left: left, right: right,
                key: .zero, valueHash: .zero))
    }

    /// What replaces an internal node whose children are now `left` and `right`, when that is
    /// not an internal node: nothing (both empty) or the one leaf, lifted. Nil otherwise: one
    /// key alone is a leaf at the top of its subtree, two or more need the internal node.
    private func lone(_ left: Reference, _ right: Reference) -> Reference? {
        switch (left == Self.empty, right == Self.empty) {
        case (true, true): return Self.empty
        case (true, false): return nodes[Int(right)].isLeaf ? right : nil
        case (false, true): return nodes[Int(left)].isLeaf ? left : nil
        case (false, false): return nil
        }
    }

    private mutating func allocate(_ node: Node) -> Reference {
        if let reused = free.popLast() {
            nodes[Int(reused)] = node
            return reused
        }
        precondition(nodes.count < Self.nodesMax, "replay tree over \(Self.nodesMax) nodes")
        nodes.append(node)
        return Reference(nodes.count - 1)
    }

    private mutating func release(_ reference: Reference) {
        precondition(reference >= 0 && Int(reference) < nodes.count)
        free.append(reference)
    }
}
