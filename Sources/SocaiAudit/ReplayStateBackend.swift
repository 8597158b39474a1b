import SocaiCore
import SocaiState

/// The replay's state: held in memory like `InMemoryStateBackend`, but keeping only the
/// current tree (a replay never reads an old root), in a table built for node lookups.
/// Execution is the one part of a replay that cannot run in parallel.
final class ReplayStateBackend: StateBackend, SparseMerkleNodeSource {
    /// A state key or node id that hashes its bytes in one call.
    struct BytesKey: Hashable {
        let bytes: [UInt8]
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    private var values: [BytesKey: [UInt8]] = [:]
    /// The nodes of the current tree and no others, decoded: each was made by this replay's
    /// own updates, and each update's stale nodes are removed as its new ones arrive.
    private let nodes = SparseMerkleNodeTable()
    /// The current root.
    private(set) var stateRoot: Hash = .zero

    /// The tree nodes: this backend.
    var treeNodes: any SparseMerkleNodeSource { self }

    /// Number of state entries.
    var count: Int { values.count }

    func value(forKey key: [UInt8]) throws(StateError) -> [UInt8]? { values[BytesKey(bytes: key)] }

    /// Entries under `prefix`, ascending, after `after` (a full scan: rules rarely list, and
    /// the final comparison lists once).
    func entries(withPrefix prefix: [UInt8], after: [UInt8]?, limit: Int) throws(StateError) -> [(
        key: [UInt8], value: [UInt8]
    )] {
        let matching = values.keys.lazy.map(\.bytes).filter { key in
            key.starts(with: prefix) && (after.map { $0.lexicographicallyPrecedes(key) } ?? true)
        }
        return matching.sorted { $0.lexicographicallyPrecedes($1) }.prefix(limit).map { ($0, values[BytesKey(bytes: $0)]!) }
    }

    func node(_ hash: Hash) throws(StateError) -> [UInt8]? { nodes.node(hash)?.canonicalBytes }

    /// Node `hash`: every node here came from a change set that this replay's tree made.
    func checkedNode(_ hash: Hash) -> SparseMerkleNode? { nodes.node(hash) }

    /// Applies a change set produced against this backend's current root: the table then
    /// holds exactly the new tree. Each stale node was read by the update that produced the
    /// change set, and no new node was in the old tree, so both steps must succeed.
    func apply(_ changes: StateChanges) {
        for change in changes.values { values[BytesKey(bytes: change.key)] = change.value }
        let countBefore = nodes.count
        for hash in changes.staleTreeNodes {
            let removed = nodes.remove(hash)
            precondition(removed, "replay: stale state-tree node \(hash) was not held")
        }
        for entry in changes.treeNodes {
            let inserted = nodes.insert(entry.node, hash: entry.hash)
            precondition(inserted, "replay: new state-tree node \(entry.hash) was already held")
        }
        precondition(nodes.count == countBefore - changes.staleTreeNodes.count + changes.treeNodes.count)
        stateRoot = changes.stateRoot
    }

    /// Tree nodes held.
    var nodeCount: Int { nodes.count }
}
