import SocaiCore

/// Where a state tree reads its nodes: node bytes by reference (hash and location).
///
/// The tree never trusts what a source returns: it checks that the bytes hash to the hash
/// asked for and decode as a node before using them. A child location that is wrong leads to
/// a node the source does not hold, which the tree reports as missing.
public protocol SparseMerkleNodeSource {
    /// The bytes of the node `reference` names, with its children's locations, or nil if the
    /// source does not hold it.
    func node(_ reference: SparseMerkleNodeReference) throws(StateError) -> SparseMerkleStoredBytes?

    /// The node `reference` names in decoded form, when the source holds it that way because
    /// it was already checked: made by an update in this process, or read from storage and
    /// checked then. Nil sends the tree to `node(_:)`, whose bytes it hashes and decodes
    /// before use. Hashing every node again on every read was a third of executing a block.
    func checkedNode(_ reference: SparseMerkleNodeReference) -> SparseMerkleStoredNode?

    /// An empty list with room for `capacity` nodes, whose storage an update may fill with
    /// the nodes it creates: a source that keeps recent blocks' node lists hands back one it
    /// let go of, so that a block's list is not allocated, and its memory faulted in, anew at
    /// every block. An empty array with no room is always a valid answer.
    func reusableNodeList(capacity: Int) -> [SparseMerkleNodeEntry]
}

extension SparseMerkleNodeSource {
    /// No node is held in checked form: every read goes through `node(_:)` and its checks.
    public func checkedNode(_ reference: SparseMerkleNodeReference) -> SparseMerkleStoredNode? { nil }

    /// No list to reuse: each update allocates its own.
    public func reusableNodeList(capacity: Int) -> [SparseMerkleNodeEntry] { [] }
}

/// A node's bytes as a store returns them, before the tree has checked them, with the
/// locations of its children.
public struct SparseMerkleStoredBytes: Sendable, Equatable {
    /// The node's 65 bytes.
    public let bytes: [UInt8]
    /// Where the left child is stored (0 for a leaf or an empty child).
    public let leftLocation: UInt64
    /// Where the right child is stored (0 for a leaf or an empty child).
    public let rightLocation: UInt64

    /// Bytes read from a store.
    public init(_ bytes: [UInt8], leftLocation: UInt64 = 0, rightLocation: UInt64 = 0) {
        self.bytes = bytes
        self.leftLocation = leftLocation
        self.rightLocation = rightLocation
    }

    /// The node these bytes hold, once checked: they must hash to `hash` and decode as a
    /// node, and a leaf must name no children. Anything else is corrupt storage. Every reader
    /// of stored nodes checks them here: the tree, and a store filling its cache.
    public func checked(as hash: Hash) throws(StateError) -> SparseMerkleStoredNode {
        let actual = Hash.sha256(bytes)
        guard actual == hash else {
            throw StateError(.corrupt, "state tree node \(hash) read back as bytes hashing to \(actual)")
        }
        let node: SparseMerkleNode
        do throws(FormatError) {
            // Not `init(canonicalBytes:)`, which names the type for its error message with a
            // runtime type lookup on every call: this runs for every node read.
            var reader = ByteReader(bytes)
            node = try SparseMerkleNode(from: &reader)
            try reader.expectEnd("state tree node")
        } catch {
            throw StateError(.corrupt, "state tree node \(hash): \(error.message)")
        }
        if case .leaf = node, leftLocation != 0 || rightLocation != 0 {
            throw StateError(.corrupt, "state tree leaf \(hash) is stored with child locations")
        }
        return SparseMerkleStoredNode(node, leftLocation: leftLocation, rightLocation: rightLocation)
    }
}

/// A node source held in memory, for tests, tools and benchmarks. It keeps nodes by
/// reference, as a validator's store does, so that a tree that names a child by a wrong
/// location fails here too.
public final class InMemorySparseMerkleNodes: SparseMerkleNodeSource {
    /// Every node held, by reference. Nothing is ever removed, so every root ever stored
    /// stays readable.
    public private(set) var nodes: [SparseMerkleNodeReference: SparseMerkleStoredBytes]

    /// Creates a source holding `nodes` at location 0, each child at location 0 too: a set of
    /// nodes by hash alone. They are not checked here: the tree checks each node when it
    /// reads it.
    public convenience init(_ nodes: [Hash: [UInt8]] = [:]) {
        var placed: [SparseMerkleNodeReference: SparseMerkleStoredBytes] = [:]
        for (hash, bytes) in nodes { placed[SparseMerkleNodeReference(hash: hash, location: 0)] = SparseMerkleStoredBytes(bytes) }
        self.init(placed: placed)
    }

    /// Creates a source holding `nodes` where they are placed. They are not checked here.
    public init(placed nodes: [SparseMerkleNodeReference: SparseMerkleStoredBytes]) {
        self.nodes = nodes
        nextVersion = (nodes.keys.map { SparseMerkleNodeLocation.version(of: $0.location) }.max() ?? 0) + 1
    }

    /// Number of nodes held.
    public var count: Int { nodes.count }

    /// The version after the highest one held: where the next update's nodes can go.
    public private(set) var nextVersion: UInt64

    /// Adds the nodes an update created, at their locations. A node already held there
    /// is kept: it has the same hash, so the same bytes.
    public func insert(_ update: SparseMerkleUpdate) {
        nextVersion = max(nextVersion, update.version + 1)
        for entry in update.createdNodes {
            let reference = SparseMerkleNodeReference(hash: entry.hash, location: entry.location)
            if nodes[reference] == nil { nodes[reference] = entry.stored.storedBytes }
        }
    }

    /// The bytes stored under `reference`, if any.
    public func node(_ reference: SparseMerkleNodeReference) -> SparseMerkleStoredBytes? { nodes[reference] }
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
    /// Where the new root's node is stored: among this update's nodes if it made the
    /// root, an older one if the root is an existing node (no change, or a lone leaf lifted
    /// to the top). Unused for the empty root.
    public let rootLocation: UInt64
    /// The version of the update: every created node's location holds it.
    public let version: UInt64
    /// Every node of the new tree that the old tree did not have, in the order the update
    /// made them (a deterministic walk: children before parents, left before right). Each
    /// appears once, with its location: ordinals 0, 1, 2, … at `version`, in this order. The
    /// caller persists them; no old node is deleted, so the old root stays readable. A node
    /// may equal one of an older version (a value set back to an earlier value): it is
    /// written again here.
    public let createdNodes: [SparseMerkleNodeEntry]
    /// Every node of the old tree that the new tree no longer has, each once, in the order
    /// the update read them. A store that keeps only the latest tree deletes exactly these
    /// (what a validator that prunes old roots would do); a store that keeps old roots
    /// readable, as `StateDatabase` does, ignores them.
    public let staleNodes: [SparseMerkleNodeReference]

    /// Creates an update result.
    public init(
        root: Hash, rootLocation: UInt64, version: UInt64, createdNodes: [SparseMerkleNodeEntry],
        staleNodes: [SparseMerkleNodeReference] = []
    ) {
        self.root = root
        self.rootLocation = rootLocation
        self.version = version
        self.createdNodes = createdNodes
        self.staleNodes = staleNodes
    }

    /// The new root, where it is stored.
    public var rootReference: SparseMerkleNodeReference {
        root == .zero ? .empty : SparseMerkleNodeReference(hash: root, location: rootLocation)
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
    /// Where the root's node is stored (unused when the tree is empty).
    public let rootLocation: UInt64
    /// Where the nodes are read from.
    public let nodes: any SparseMerkleNodeSource

    /// The empty tree, reading from `nodes` once updated.
    public init(nodes: any SparseMerkleNodeSource) {
        self.init(root: .empty, nodes: nodes)
    }

    /// The tree whose root is the node `root` names, reading from `nodes`. Nothing is read
    /// until a query.
    public init(root: SparseMerkleNodeReference, nodes: any SparseMerkleNodeSource) {
        self.root = root.hash
        self.rootLocation = root.hash == .zero ? 0 : root.location
        self.nodes = nodes
    }

    /// The tree `update` made, reading from `nodes` (which must hold the update's nodes).
    public init(after update: SparseMerkleUpdate, nodes: any SparseMerkleNodeSource) {
        self.init(root: update.rootReference, nodes: nodes)
    }

    /// The root, where it is stored.
    public var rootReference: SparseMerkleNodeReference {
        SparseMerkleNodeReference(hash: root, location: rootLocation)
    }

    /// The value hash `key` holds, or nil if it holds none.
    public func valueHash(for key: Hash) throws(StateError) -> Hash? { try leaf(for: key)?.valueHash }

    /// The leaf holding `key`, with where it is stored, or nil if `key` holds no value: a
    /// store that keeps each value beside its leaf's location finds it this way.
    public func leaf(for key: Hash) throws(StateError) -> (valueHash: Hash, location: UInt64)? {
        var unused: [Hash] = []
        let (terminal, location) = try search(key, siblings: &unused, keepingSiblings: false)
        guard case .leaf(let leafKey, let valueHash) = terminal, leafKey == key else { return nil }
        return (valueHash, location)
    }

    /// Up to `limit` leaves in ascending key-hash order, starting after the key hash `after`
    /// (from the first when nil), each with where it is stored: a walk of the whole tree in
    /// pages, as an auditor compares a node's state with a replay. A page reads the nodes on
    /// the path to `after` again, then each node of the page once.
    public func leaves(after: Hash?, limit: Int) throws(StateError) -> [(key: Hash, valueHash: Hash, location: UInt64)] {
        precondition(limit >= 0, "a negative leaf limit")
        var results: [(key: Hash, valueHash: Hash, location: UInt64)] = []
        guard limit > 0, root != .zero else { return results }
        // Depth-first, left before right. Each entry is a node to visit with its depth, the
        // key path that reaches it and whether it is a lone child. The stack holds at most one
        // pending right sibling per level: 257 entries.
        var stack: [(reference: SparseMerkleNodeReference, depth: Int, path: Hash, alone: Bool)] = [
            (rootReference, 0, after ?? .zero, false)
        ]
        while let (reference, depth, path, alone) = stack.popLast() {
            precondition(stack.count <= Self.depthMax + 1, "state tree leaf walk deeper than the key bits")
            let stored = try readNode(reference, depth: depth, path: path, alone: alone)
            switch stored.node {
            case .leaf(let leafKey, let valueHash):
                if let after, leafKey <= after { continue }
                results.append((leafKey, valueHash, reference.location))
                if results.count == limit { return results }
            case .internal(let left, let right):
                // On `after`'s path so far, with `after`'s bit here 1, the left child holds only
                // smaller keys and is skipped. Off that path, both children lie after `after`.
                let skipsLeft =
                    after.map { SparseMerklePath.sharesPrefix($0, path, bits: depth) && SparseMerklePath.bit($0, depth) == 1 }
                    ?? false
                if right != .zero {
                    stack.append(
                        (
                            SparseMerkleNodeReference(hash: right, location: stored.rightLocation), depth + 1,
                            SparseMerklePath.settingBit(path, depth, to: 1), left == .zero
                        ))
                }
                if left != .zero, !skipsLeft {
                    stack.append(
                        (
                            SparseMerkleNodeReference(hash: left, location: stored.leftLocation), depth + 1,
                            SparseMerklePath.settingBit(path, depth, to: 0), right == .zero
                        ))
                }
            }
        }
        return results
    }

    /// A membership proof when `key` holds a value, a non-membership proof otherwise.
    public func proof(for key: Hash) throws(StateError) -> SparseMerkleProof {
        var siblings: [Hash] = []
        let (terminal, _) = try search(key, siblings: &siblings)
        return SparseMerkleProof(siblings: siblings, terminal: terminal)
    }

    /// Created nodes reserved per change: a leaf and the internal nodes of a path of a
    /// tree of about a million keys below the part shared by a block's changes.
    static let createdNodesReservedPerChange = 16
    /// Most created nodes reserved: their list stays just under 32 MiB.
    ///
    /// Why that size: glibc serves an allocation of 32 MiB or more (its largest mmap
    /// threshold) with a fresh mapping whose every page faults in, zeroed, as the update
    /// writes it, and unmaps it when it is freed. Below that, a list comes from the heap, where
    /// the memory of a freed list stays mapped for the next. The reservation was 2^17 nodes
    /// (16 MiB) before: a block of a few thousand transactions outgrew it, its list doubled
    /// past 32 MiB, and each such update on each validator faulted in tens of megabytes.
    static let createdNodesReservedMax = ((32 << 20) - (256 << 10)) / MemoryLayout<SparseMerkleNodeEntry>.stride

    /// Applies `changes` as one batch and returns the new root and the new nodes, which are
    /// to be stored at `version`.
    ///
    /// The changes are sorted by key first, so the result does not depend on their order;
    /// two changes to the same key are an `invalidArgument` error. Deleting an absent key
    /// changes nothing. `version` must be above the root's: a store keeps each version's
    /// nodes apart, and an update never rewrites an older version.
    public func updating(_ changes: [SparseMerkleChange], version: UInt64) throws(StateError) -> SparseMerkleUpdate {
        precondition(
            root == .zero || version > SparseMerkleNodeLocation.version(of: rootLocation),
            "state tree update at version \(version), not above the root's")
        let sorted = changes.sorted { $0.key < $1.key }
        for index in sorted.indices.dropFirst() where sorted[index - 1].key == sorted[index].key {
            throw StateError(.invalidArgument, "state tree update changes key \(sorted[index].key) twice")
        }
        // Room for the nodes a change usually creates (its leaf and the internal nodes on its
        // path below the ones changes share), so that a large block's list, growing by
        // doubling, is not copied a dozen times over; the reservation is capped because the
        // list may still grow past it.
        let reserved =
            min(sorted.count, Self.createdNodesReservedMax / Self.createdNodesReservedPerChange)
            * Self.createdNodesReservedPerChange
        var updater = SparseMerkleUpdater(tree: self, version: version)
        updater.created = nodes.reusableNodeList(capacity: reserved)
        precondition(updater.created.isEmpty, "a reusable node list must be empty")
        updater.created.reserveCapacity(reserved)
        let newRoot = try updater.apply(rootReference, depth: 0, alone: false, sorted[...])
        return SparseMerkleUpdate(
            root: newRoot.hash, rootLocation: newRoot.reference.location, version: version, createdNodes: updater.created,
            staleNodes: updater.stale)
    }

    /// Walks from the root along `key`'s path, appending each sibling hash unless
    /// `keepingSiblings` is false, and returns what the walk ended on and, for a leaf, where
    /// it is stored (0 otherwise).
    private func search(_ key: Hash, siblings: inout [Hash], keepingSiblings: Bool = true) throws(StateError) -> (
        terminal: SparseMerkleProof.Terminal, location: UInt64
    ) {
        var reference = rootReference
        var depth = 0
        var alone = false
        while reference.hash != .zero {
            precondition(depth <= Self.depthMax, "state tree walk below depth 256")
            let stored = try readNode(reference, depth: depth, path: key, alone: alone)
            switch stored.node {
            case .leaf(let leafKey, let valueHash):
                return (.leaf(key: leafKey, valueHash: valueHash), reference.location)
            case .internal(let left, let right):
                let goesLeft = SparseMerklePath.bit(key, depth) == 0
                let sibling = goesLeft ? right : left
                if keepingSiblings { siblings.append(sibling) }
                alone = sibling == .zero
                reference =
                    goesLeft
                    ? SparseMerkleNodeReference(hash: left, location: stored.leftLocation)
                    : SparseMerkleNodeReference(hash: right, location: stored.rightLocation)
                depth += 1
            }
        }
        return (.empty, 0)
    }

    /// Reads the node `reference` names, which sits at `depth` on the path of `pathKey`, and
    /// checks it right away: the bytes must hash to the reference's hash and decode as a
    /// node; a leaf must lie on the path (share its first `depth` bits) and must not be the
    /// lone child of an internal node (`alone`: a canonical tree lifts such a leaf); an
    /// internal node must leave room for its children above depth 256. Anything else is
    /// corrupt storage.
    fileprivate func readNode(_ reference: SparseMerkleNodeReference, depth: Int, path pathKey: Hash, alone: Bool)
        throws(StateError) -> SparseMerkleStoredNode
    {
        let hash = reference.hash
        precondition(hash != .zero, "the empty subtree has no node to read")
        precondition(depth >= 0 && depth <= Self.depthMax, "state tree node depth \(depth) out of range")
        let stored: SparseMerkleStoredNode
        if let checked = nodes.checkedNode(reference) {
            stored = checked
        } else {
            stored = try decodedNode(reference, depth: depth)
        }
        switch stored.node {
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
        return stored
    }

    /// Reads the bytes of the node `reference` names from the source and checks them
    /// (`SparseMerkleStoredBytes.checked`).
    private func decodedNode(_ reference: SparseMerkleNodeReference, depth: Int) throws(StateError)
        -> SparseMerkleStoredNode
    {
        guard let stored = try nodes.node(reference) else {
            throw StateError(
                .corrupt, "state tree node \(reference.hash) (location \(reference.location), depth \(depth)) is missing")
        }
        return try stored.checked(as: reference.hash)
    }
}

/// A subtree during an update: known to be empty, a leaf or an internal node, or an
/// unchanged subtree whose node has not been read (reading it would cost a node read that
/// is only needed if its sibling becomes empty). Each non-empty one carries the location
/// its node is stored at, for the parent to record.
private enum SparseMerkleSubtree {
    case empty
    case leaf(key: Hash, valueHash: Hash, SparseMerkleNodeReference)
    case `internal`(SparseMerkleNodeReference)
    case unread(SparseMerkleNodeReference)

    var reference: SparseMerkleNodeReference {
        switch self {
        case .empty: return .empty
        case .leaf(_, _, let reference), .internal(let reference), .unread(let reference): return reference
        }
    }

    var hash: Hash { reference.hash }
}

/// A key and value to place while building a subtree; `stored` names the leaf when it
/// already exists in the old tree (a leaf's hash does not depend on its depth, so moving it
/// up or down creates no node).
private struct SparseMerkleEntry {
    let key: Hash
    let valueHash: Hash
    let stored: SparseMerkleNodeReference?
}

/// One batch update: walks the old tree only along the changed keys' paths and records
/// every node it creates.
private struct SparseMerkleUpdater {
    let tree: SparseMerkleTree
    /// The version every created node's location holds.
    let version: UInt64
    /// Nodes created so far, in creation order, so a subtree that comes out unchanged can
    /// take its nodes back.
    var created: [SparseMerkleNodeEntry] = []
    /// Old nodes the update replaced so far, with the same take-back rule as `created`.
    /// Only a node `apply` read can go stale: an unread subtree is kept whole, and a node
    /// read to lift it keeps its hash (a leaf's hash does not depend on its depth; an
    /// internal node is never moved, only given a new parent).
    var stale: [SparseMerkleNodeReference] = []

    init(tree: SparseMerkleTree, version: UInt64) {
        self.tree = tree
        self.version = version
    }

    /// The subtree that replaces `existing` (at `depth`) after `changes`, which are sorted,
    /// distinct, and all on `existing`'s path.
    mutating func apply(
        _ existing: SparseMerkleNodeReference, depth: Int, alone: Bool, _ changes: ArraySlice<SparseMerkleChange>
    ) throws(StateError) -> SparseMerkleSubtree {
        guard let pathKey = changes.first?.key else {
            return existing.hash == .zero ? .empty : .unread(existing)
        }
        let mark = created.count
        let staleMark = stale.count
        let result: SparseMerkleSubtree
        if existing.hash == .zero {
            let entries = changes.compactMap { change in
                change.valueHash.map { SparseMerkleEntry(key: change.key, valueHash: $0, stored: nil) }
            }
            result = try build(entries[...], depth: depth, path: pathKey)
        } else {
            let stored = try tree.readNode(existing, depth: depth, path: pathKey, alone: alone)
            switch stored.node {
            case .leaf(let key, let valueHash):
                let entries = Self.merge(leaf: existing, key: key, valueHash: valueHash, changes)
                // The old leaf survives, unchanged and perhaps deeper, only as a stored entry.
                if !entries.contains(where: { $0.stored != nil }) { stale.append(existing) }
                result = try build(entries[...], depth: depth, path: pathKey)
            case .internal(let left, let right):
                let split = changes.firstIndex { SparseMerklePath.bit($0.key, depth) == 1 } ?? changes.endIndex
                let newLeft = try apply(
                    SparseMerkleNodeReference(hash: left, location: stored.leftLocation), depth: depth + 1,
                    alone: right == .zero, changes[..<split])
                let newRight = try apply(
                    SparseMerkleNodeReference(hash: right, location: stored.rightLocation), depth: depth + 1,
                    alone: left == .zero, changes[split...])
                result = try combine(newLeft, newRight, depth: depth, path: pathKey)
                if result.hash != existing.hash { stale.append(existing) }
            }
        }
        // An unchanged hash means an unchanged subtree: every node just made already exists,
        // and none went stale. The subtree stays where it is stored: the nodes just made
        // are taken back, so nothing is written for it.
        if result.hash == existing.hash {
            created.removeSubrange(mark...)
            stale.removeSubrange(staleMark...)
            switch result {
            case .leaf(let key, let valueHash, _): return .leaf(key: key, valueHash: valueHash, existing)
            case .internal: return .internal(existing)
            case .empty, .unread: return result
            }
        }
        return result
    }

    /// The entries of a subtree that held only the leaf `leaf` (`key` to `valueHash`) before
    /// `changes`, sorted.
    static func merge(
        leaf: SparseMerkleNodeReference, key leafKey: Hash, valueHash leafValueHash: Hash,
        _ changes: ArraySlice<SparseMerkleChange>
    ) -> [SparseMerkleEntry] {
        var entries: [SparseMerkleEntry] = []
        entries.reserveCapacity(changes.count + 1)
        var leafPlaced = false
        for change in changes {
            if !leafPlaced && leafKey < change.key {
                entries.append(SparseMerkleEntry(key: leafKey, valueHash: leafValueHash, stored: leaf))
                leafPlaced = true
            }
            if change.key == leafKey { leafPlaced = true }
            if let valueHash = change.valueHash {
                let stored = change.key == leafKey && valueHash == leafValueHash ? leaf : nil
                entries.append(SparseMerkleEntry(key: change.key, valueHash: valueHash, stored: stored))
            }
        }
        if !leafPlaced { entries.append(SparseMerkleEntry(key: leafKey, valueHash: leafValueHash, stored: leaf)) }
        return entries
    }

    /// The canonical subtree at `depth` holding exactly `entries` (sorted, distinct keys).
    mutating func build(_ entries: ArraySlice<SparseMerkleEntry>, depth: Int, path pathKey: Hash) throws(StateError)
        -> SparseMerkleSubtree
    {
        guard let first = entries.first else { return .empty }
        if entries.count == 1 {
            let reference = first.stored ?? emit(SparseMerkleStoredNode(.leaf(key: first.key, valueHash: first.valueHash)))
            return .leaf(key: first.key, valueHash: first.valueHash, reference)
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
            return .internal(emitInternal(left: left.reference, right: right.reference))
        }
    }

    /// The subtree at `depth` whose only non-empty child is `child`, on `side` (0 left, 1 right).
    mutating func lift(_ child: SparseMerkleSubtree, side: UInt8, depth: Int, path pathKey: Hash) throws(StateError)
        -> SparseMerkleSubtree
    {
        let childReference: SparseMerkleNodeReference
        switch child {
        case .empty:
            preconditionFailure("lift called with an empty child")
        case .leaf:
            return child
        case .internal(let reference):
            childReference = reference
        case .unread(let reference):
            // The unchanged side of a subtree whose other side emptied: if it is a lone leaf,
            // it moves up, staying where it is stored. This is the one read an update makes
            // off the changed paths.
            let childPath = SparseMerklePath.settingBit(pathKey, depth, to: side)
            let stored = try tree.readNode(reference, depth: depth + 1, path: childPath, alone: false)
            if case .leaf(let key, let valueHash) = stored.node { return .leaf(key: key, valueHash: valueHash, reference) }
            childReference = reference
        }
        return .internal(
            side == 0 ? emitInternal(left: childReference, right: .empty) : emitInternal(left: .empty, right: childReference))
    }

    /// Records a new internal node over `left` and `right` and returns where it is stored.
    mutating func emitInternal(left: SparseMerkleNodeReference, right: SparseMerkleNodeReference)
        -> SparseMerkleNodeReference
    {
        emit(
            SparseMerkleStoredNode(
                .internal(left: left.hash, right: right.hash),
                leftLocation: left.hash == .zero ? 0 : left.location,
                rightLocation: right.hash == .zero ? 0 : right.location))
    }

    /// Records a new node and returns where it is stored: at this update's next location.
    mutating func emit(_ stored: SparseMerkleStoredNode) -> SparseMerkleNodeReference {
        // The ordinal is the node's index in `created`. A take-back removes only the nodes of
        // the subtree it abandons, a suffix of `created`, and nothing that survives refers to
        // them; so a surviving node keeps the index it was made at, and the update's
        // ordinals run 0, 1, 2, … without a gap.
        let reference = SparseMerkleNodeReference(
            hash: stored.node.hash,
            location: SparseMerkleNodeLocation.location(version: version, ordinal: UInt64(created.count)))
        created.append(SparseMerkleNodeEntry(reference, stored: stored))
        return reference
    }
}
