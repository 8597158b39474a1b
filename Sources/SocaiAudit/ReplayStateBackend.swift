import SocaiCore
import SocaiState

/// The replay's state: held in memory like `InMemoryStateBackend`, with dictionary keys that
/// hash in bulk. Execution is the one part of a replay that cannot run in parallel, and hashing
/// 32-byte node ids one byte at a time was a fifth of it.
final class ReplayStateBackend: StateBackend, SparseMerkleNodeSource {
    /// A state key or node id that hashes its bytes in one call.
    struct BytesKey: Hashable {
        let bytes: [UInt8]
        func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    private var values: [BytesKey: [UInt8]] = [:]
    /// Tree nodes, decoded: each was made by this replay's own updates.
    private var nodes: [Hash: SparseMerkleNode] = [:]
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

    func node(_ hash: Hash) throws(StateError) -> [UInt8]? { nodes[hash]?.canonicalBytes }

    /// Node `hash`: every node here came from a change set that this replay's tree made.
    func checkedNode(_ hash: Hash) -> SparseMerkleNode? { nodes[hash] }

    /// Applies a change set produced against this backend's current root.
    func apply(_ changes: StateChanges) {
        for change in changes.values { values[BytesKey(bytes: change.key)] = change.value }
        // A node already held is identical (content addressing), so the first copy stays.
        for entry in changes.treeNodes where nodes[entry.hash] == nil { nodes[entry.hash] = entry.node }
        stateRoot = changes.stateRoot
        if nodes.count > max(pruneNodesMin, liveNodesAfterPrune * 4) { prune() }
    }

    /// Node count below which nodes are never pruned, unless a test asks for less.
    static let pruneNodesMinDefault = 1 << 16
    /// Node count below which this backend never prunes.
    let pruneNodesMin: Int
    private var liveNodesAfterPrune = 0
    /// Prunes so far.
    private(set) var prunes = 0
    /// Tree nodes held.
    var nodeCount: Int { nodes.count }

    init(pruneNodesMin: Int = ReplayStateBackend.pruneNodesMinDefault) {
        precondition(pruneNodesMin >= 1)
        self.pruneNodesMin = pruneNodesMin
    }

    /// Keeps only the nodes of the current tree. A node store for proofs keeps every old root
    /// readable; a replay reads only the current one, and an unpruned store of 200,000
    /// transactions held about ten million nodes. Pruning when the store has grown fourfold
    /// since the last prune costs O(1) amortized per node.
    private func prune() {
        var live: [Hash: SparseMerkleNode] = [:]
        live.reserveCapacity(liveNodesAfterPrune * 2)
        var pending: [Hash] = stateRoot == .zero ? [] : [stateRoot]
        // Each live node is pushed once (a tree: one parent each), so the loop runs at most
        // `nodes.count` times.
        while let hash = pending.popLast() {
            guard let node = nodes[hash] else { continue }
            live[hash] = node
            guard case .internal(let left, let right) = node else { continue }
            for child in [left, right] where child != .zero { pending.append(child) }
        }
        liveNodesAfterPrune = live.count
        // Room for every node until the next prune, so the dictionary never grows (and
        // rehashes millions of nodes) between prunes.
        live.reserveCapacity(max(pruneNodesMin, liveNodesAfterPrune * 4) + 1)
        nodes = live
        prunes += 1
    }
}
